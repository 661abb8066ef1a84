"""The public package: every name in ``__all__`` resolves, and the corners that start often
(the isolated Python worker) do not drag in the engine (see atomiton._lazy)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import atomiton
import atomiton.nodes
import atomiton.runtimes

PACKAGES = [atomiton, atomiton.nodes, atomiton.runtimes]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_public_name_resolves_and_is_listed(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert all(getattr(package, name) is not None for name in names)
    assert set(names) <= set(dir(package))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_an_unknown_name_is_an_attribute_error(package: object) -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        package.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_star_import_gives_the_public_names() -> None:
    scope: dict[str, object] = {}
    exec("from atomiton import *", scope)
    assert {"LocalEngine", "node", "run", "NodeRegistry"} <= set(scope)


HEAVY = ("sqlalchemy", "pydantic", "atomiton.engines", "atomiton.store", "atomiton.nodes.registry")


def test_the_isolated_worker_imports_only_what_it_needs() -> None:
    """Every warm isolated worker, and every restart after a crash, pays this import."""
    code = (
        "import json, sys, atomiton.runtimes._python_worker, atomiton.nodes.context\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, check=True, text=True
        ).stdout
    )
    assert [m for m in loaded if m.startswith(HEAVY)] == []
