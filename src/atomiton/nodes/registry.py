"""The node registry: every NodeDefinition a run may use, keyed by type id.

No globals and no import-time side effects: a registry is built on purpose, from the built-in
library and third-party packs (the ``atomiton.nodes`` entry-point group), plus what the user
names with ``--nodes``: a ``.py`` file, an importable module, a ``node.yaml`` manifest, or a
folder searched for manifests. A module contributes its ``@node`` functions and any
``NodeDefinition`` objects or decorated functions listed in a module-level ``NODES``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from atomiton.errors import NodeDefinitionError
from atomiton.nodes.decorator import definition_of
from atomiton.nodes.definition import NodeDefinition
from atomiton.nodes.manifest import MANIFEST_NAMES, discover_manifests, load_manifest

ENTRY_POINT_GROUP = "atomiton.nodes"
BUILTIN_PACK = "atomiton.library"  # the "builtin" entry point of atomiton's own distribution


class NodeRegistry:
    def __init__(self, definitions: Iterable[NodeDefinition | Callable[..., Any]] = ()) -> None:
        self._definitions: dict[str, NodeDefinition] = {}
        for item in definitions:
            self.register(item)

    @classmethod
    def default(cls, extra: Iterable[str] = (), *, entry_points: bool = True) -> NodeRegistry:
        """The built-in library and installed packs, then each ``--nodes`` source in order."""
        registry = cls()
        if entry_points:
            registry.load_entry_points()
        for source in extra:
            registry.load(source)
        return registry

    # -- registering -------------------------------------------------------------------------

    def register(self, item: NodeDefinition | Callable[..., Any]) -> NodeDefinition:
        definition = item if isinstance(item, NodeDefinition) else definition_of(item)
        if definition is None:
            raise NodeDefinitionError(
                f"{item!r} is not a node", hint="decorate the function with @atomiton.node"
            )
        existing = self._definitions.get(definition.id)
        if existing is not None and existing.origin != definition.origin:
            raise NodeDefinitionError(
                f"node type '{definition.id}' is defined twice: by {existing.origin} and by "
                f"{definition.origin}",
                hint="give one of them another id",
            )
        self._definitions[definition.id] = definition
        return definition

    def load(self, source: str) -> list[NodeDefinition]:
        """Register the nodes of a ``.py`` file, a manifest, a folder or a module name."""
        path = Path(source)
        if path.suffix == ".py":
            return self._register_all(_module_definitions(import_node_file(path)), source)
        if path.name in MANIFEST_NAMES or path.suffix in (".yaml", ".yml"):
            return self._register_all(load_manifest(path), source)
        if path.is_dir():
            found = [d for m in discover_manifests(path) for d in load_manifest(m)]
            found += [
                d for py in _python_files(path) for d in _module_definitions(import_node_file(py))
            ]
            return self._register_all(found, source)
        if path.exists() or "/" in source or "\\" in source:
            raise NodeDefinitionError(
                f"--nodes {source}: not a .py file, a node.yaml manifest or a folder"
            )
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise NodeDefinitionError(
                f"--nodes {source}: cannot import module '{source}': {exc}",
                hint="give a .py file path, a folder of node.yaml manifests, or an importable "
                "module name",
            ) from None
        return self._register_all(_module_definitions(module), source)

    def load_entry_points(self) -> None:
        """Installed node packs; the built-in library is always among them, also when atomiton
        runs from a source tree that no installer registered (``PYTHONPATH=src``)."""
        packs = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name != "builtin")
        if not any(ep.value == BUILTIN_PACK for ep in packs):
            self._register_all(
                _module_definitions(importlib.import_module(BUILTIN_PACK)), BUILTIN_PACK
            )
        for ep in packs:
            try:
                target = ep.load()
            except Exception as exc:
                raise NodeDefinitionError(
                    f"node pack '{ep.name}' ({ep.value}) failed to import: {exc}",
                    hint="fix or uninstall the package that provides it",
                ) from exc
            if isinstance(target, ModuleType):
                found = list(_module_definitions(target))
            elif callable(target) and definition_of(target) is None:
                found = list(_flatten(target(), ep.value))
            else:
                found = list(_flatten(target, ep.value))
            self._register_all(found, f"entry point {ep.name}")

    def _register_all(self, items: Iterable[NodeDefinition], source: str) -> list[NodeDefinition]:
        done = [self.register(d) for d in items]
        if not done:
            raise NodeDefinitionError(
                f"--nodes {source}: no nodes found there",
                hint="decorate functions with @atomiton.node, or add node.yaml manifests",
            )
        return done

    # -- lookups -----------------------------------------------------------------------------

    def get(self, type_id: str) -> NodeDefinition | None:
        return self._definitions.get(type_id)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._definitions

    def __iter__(self) -> Iterator[NodeDefinition]:
        return iter(sorted(self._definitions.values(), key=lambda d: (d.category, d.id)))

    def __len__(self) -> int:
        return len(self._definitions)

    def suggest(self, type_id: str) -> list[str]:
        """Close type ids, for 'did you mean ...?' hints."""
        return difflib.get_close_matches(type_id, list(self._definitions), n=3, cutoff=0.6)


def _python_files(folder: Path) -> list[Path]:
    """Node files under ``folder``, skipping tests, caches and dependency folders."""
    skip = {"node_modules", "target", ".git", "__pycache__", ".venv", "tests"}
    return [
        p
        for p in sorted(folder.rglob("*.py"))
        if not skip.intersection(p.relative_to(folder).parts) and not p.name.startswith("test_")
    ]


def _module_definitions(module: ModuleType) -> Iterator[NodeDefinition]:
    seen: set[str] = set()
    listed = getattr(module, "NODES", None)
    for value in (*vars(module).values(), *(_flatten(listed, module.__name__) if listed else ())):
        definition = value if isinstance(value, NodeDefinition) else definition_of(value)
        if definition is not None and definition.id not in seen:
            seen.add(definition.id)
            yield definition


def _flatten(items: Any, where: str) -> Iterator[NodeDefinition]:
    if isinstance(items, NodeDefinition):
        yield items
        return
    try:
        iterator = iter(items)
    except TypeError:
        raise NodeDefinitionError(f"{where}: expected node definitions, got {items!r}") from None
    for item in iterator:
        definition = item if isinstance(item, NodeDefinition) else definition_of(item)
        if definition is None:
            raise NodeDefinitionError(f"{where}: {item!r} is not a node definition")
        yield definition


def module_name_for(path: Path) -> str:
    """The stable module name a node file is imported under (the same in every process)."""
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    return f"atomiton_user_nodes.{resolved.stem}_{digest}"


def import_node_file(path: Path) -> ModuleType:
    """Import a node file by path, under :func:`module_name_for`; reused if already imported.
    The Python runtime uses it too, to load a node's code in a worker process."""
    if not path.is_file():
        raise NodeDefinitionError(f"--nodes {path}: no such file")
    name = module_name_for(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NodeDefinitionError(f"--nodes {path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("atomiton_user_nodes", ModuleType("atomiton_user_nodes"))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise NodeDefinitionError(f"--nodes {path}: importing it failed: {exc!r}") from exc
    return module
