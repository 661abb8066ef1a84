"""Shared history in PostgreSQL, and the Alembic migrations on PostgreSQL and SQLite alike.

PostgreSQL tests run against a real server (see conftest.py: started on demand, or the one
``ATOMITON_TEST_POSTGRES_URL`` names); each test gets a database of its own, dropped after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from atomiton import LocalEngine, NodeRegistry
from atomiton.errors import StoreError
from atomiton.events import EventKind
from atomiton.store import SqlStore
from atomiton.store.connect import create_engine, resolve_url
from atomiton.store.migrations import BASELINE, current, head, migrate
from atomiton.store.schema import metadata

NODES = str(Path(__file__).resolve().parents[1] / "engine" / "nodes.py")
postgres = pytest.mark.toolchain("postgres")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the test server."""
    import os

    admin_url = resolve_url(os.environ["ATOMITON_TEST_POSTGRES_URL"])
    name = f"atomiton_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.db")
    url: str = request.getfixturevalue("pg_url")
    return url


def _engine(url: str) -> sa.Engine:
    return create_engine(resolve_url(url))


def open_store(url: str) -> SqlStore:
    """A store on a migrated database (what opening a store does once migrations are wired)."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            migrate(conn)
    finally:
        engine.dispose()
    return SqlStore(url)


def flow(*values: int) -> dict[str, Any]:
    """c0 .. cN -> nothing: N const nodes."""
    return {
        "id": "pg",
        "name": "pg",
        "nodes": [
            {"id": f"c{i}", "type": "const", "parameters": {"value": v}}
            for i, v in enumerate(values)
        ],
        "edges": [],
    }


def test_migrations_build_the_schema_from_empty(db_url: str) -> None:
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            assert current(conn) is None
            assert migrate(conn) == head()
        with engine.connect() as conn:
            assert current(conn) == head()
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert conn.exec_driver_sql("SELECT version FROM atomiton_schema").scalar() == 1
        with engine.begin() as conn:  # a second open changes nothing
            assert migrate(conn) == head()
    finally:
        engine.dispose()


def test_a_database_from_before_migrations_is_adopted(db_url: str) -> None:
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.exec_driver_sql(
                "INSERT INTO runs (run_id, status, blueprint_id, blueprint_name, blueprint, "
                "inputs, variables, outputs, started_at, last_seq) "
                "VALUES ('old', 'succeeded', 'b', 'b', '{}', '{}', '{}', '{}', 1.0, 0)"
            )
        with engine.begin() as conn:
            migrate(conn)
        with engine.connect() as conn:
            assert current(conn) == head() and head() >= BASELINE
            assert conn.exec_driver_sql("SELECT run_id FROM runs").scalars().all() == ["old"]
    finally:
        engine.dispose()


def test_a_database_newer_than_the_code_is_refused(db_url: str) -> None:
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            migrate(conn)
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
        with engine.begin() as conn, pytest.raises(StoreError) as info:
            migrate(conn, where="the test history")
    finally:
        engine.dispose()
    message = str(info.value)
    assert "'9999_future'" in message and "newer atomiton" in message
    assert "upgrade atomiton" in message


@postgres
async def test_runs_are_recorded_listed_and_read_back(pg_url: str) -> None:
    store = open_store(pg_url)
    async with LocalEngine(registry=NodeRegistry.default([NODES]), store=store) as engine:
        result = await engine.execute(flow(1, 2), run_id="pg-run")
    assert result.ok
    reader = SqlStore(pg_url)
    try:
        assert [r.run_id for r in reader.list_runs()] == ["pg-run"]
        record = reader.get_run("pg-run")
        assert record.status == "succeeded"
        assert {k: n.status for k, n in record.nodes.items()} == {
            "c0": "succeeded",
            "c1": "succeeded",
        }
        assert record.nodes["c1"].outputs == {"output": 2}
        events = reader.events("pg-run")
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[0].kind is EventKind.RUN_STARTED and events[-1].kind is EventKind.RUN_FINISHED
    finally:
        reader.close()


@postgres
async def test_two_engines_share_one_history(pg_url: str) -> None:
    """Two engines, each with its own store on the same database, run at once; each sees both."""
    registry = NodeRegistry.default([NODES])
    first, second = open_store(pg_url), SqlStore(pg_url)
    async with (
        LocalEngine(registry=registry, store=first) as one,
        LocalEngine(registry=registry, store=second) as two,
    ):
        results = await asyncio.gather(
            *(one.execute(flow(i, i), run_id=f"one-{i}") for i in range(3)),
            *(two.execute(flow(i), run_id=f"two-{i}") for i in range(3)),
        )
        assert all(r.ok for r in results)
        first.flush()
        second.flush()
        for store in (first, second):
            ids = sorted(r.run_id for r in store.list_runs())
            assert ids == [*(f"one-{i}" for i in range(3)), *(f"two-{i}" for i in range(3))]
        assert second.get_run("one-2").nodes["c1"].outputs == {"output": 2}
        assert first.get_run("two-0").status == "succeeded"
