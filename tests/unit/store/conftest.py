"""Fixtures for the store tests: a store on a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atomiton.store import SqlStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqlStore]:
    opened = SqlStore(str(db_path))
    yield opened
    opened.close()
