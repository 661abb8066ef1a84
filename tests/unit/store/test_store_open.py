"""Opening history: URL rules, SQLite settings, schema versions, the Store protocol."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import platformdirs
import pytest

from atomiton.errors import StoreError
from atomiton.store import SqlStore, Store, default_db_path, open_store, resolve_url


def test_none_means_the_env_var_then_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ATOMITON_DB", raising=False)
    expected = Path(platformdirs.user_data_dir("atomiton")) / "history.db"
    assert default_db_path() == expected
    assert resolve_url(None).database == str(expected)
    monkeypatch.setenv("ATOMITON_DB", str(tmp_path / "env.db"))
    assert resolve_url(None).database == str(tmp_path / "env.db")


def test_url_forms() -> None:
    assert resolve_url("memory").render_as_string() == "sqlite://"
    assert resolve_url("sqlite://").database is None
    assert resolve_url("rel/h.db").database == str(Path("rel/h.db").resolve())
    assert resolve_url("sqlite:////tmp/x.db").database == "/tmp/x.db"
    pg = resolve_url("postgresql://u:secret@db/atomiton")
    assert (pg.get_backend_name(), pg.database) == ("postgresql", "atomiton")


def test_open_store_from_env_creates_the_file_with_wal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "nested" / "dir" / "h.db"
    monkeypatch.setenv("ATOMITON_DB", str(path))
    store = open_store()
    try:
        assert isinstance(store, Store)
        assert isinstance(store, SqlStore)
        assert store.list_runs() == []
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        tables = {
            row[0] for row in conn.execute("select name from sqlite_master where type='table'")
        }
        indexes = {
            row[0] for row in conn.execute("select name from sqlite_master where type='index'")
        }
    assert {"runs", "node_runs", "events", "atomiton_schema"} <= tables
    assert {"ix_runs_started_at", "ix_runs_status_started_at"} <= indexes


def test_memory_store_opens_empty() -> None:
    store = open_store("memory")
    try:
        assert store.list_runs(status="running") == []
    finally:
        store.close()


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    """A database a newer atomiton migrated (an Alembic revision this one does not know)."""
    SqlStore(str(db_path)).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("update alembic_version set version_num = 'from_the_future'")
    with pytest.raises(StoreError, match="'from_the_future', which this atomiton does not know"):
        SqlStore(str(db_path))


def test_repr_hides_passwords() -> None:
    store = SqlStore("memory")
    try:
        assert repr(store) == "SqlStore('sqlite://')"
    finally:
        store.close()
