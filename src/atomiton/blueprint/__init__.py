"""Blueprints: the file format, its loader, the frozen model and parameter templates."""

from atomiton.blueprint.loader import load_blueprint
from atomiton.blueprint.model import Blueprint, Edge, Node, PortDecl, Variable

__all__ = ["Blueprint", "Edge", "Node", "PortDecl", "Variable", "load_blueprint"]
