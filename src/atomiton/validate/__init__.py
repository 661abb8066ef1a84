"""Validation: every problem of a Blueprint in one report, before anything runs."""

from atomiton.validate.checks import RuntimeCheck, find_cycles, validate
from atomiton.validate.report import Code, Issue, Report, Severity

__all__ = ["Code", "Issue", "Report", "RuntimeCheck", "Severity", "find_cycles", "validate"]
