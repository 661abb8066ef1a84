"""Where history lives and how to open it: URL resolution and the SQLAlchemy engine.

``None`` means ``$ATOMITON_DB`` or else ``history.db`` under the user data directory; a bare
path means a SQLite file; ``memory`` (or ``sqlite://``) an in-process database for tests; any
other SQLAlchemy URL is used as given. ``postgresql://`` (or ``postgres://``) without a driver
gets psycopg 3 when it is installed (else psycopg2), so a shared history is one
``--db postgresql://user:password@host/atomiton`` away; the schema is created and migrated by
Alembic when the store opens (see ``migrations``).

SQLite is opened in WAL mode (a second process reads while one writes), with
``synchronous=NORMAL`` (a commit survives a crash of the process; only an OS crash or power
loss can take the last commits), a busy timeout, and foreign keys on. Python's sqlite3 driver
would not BEGIN before a SELECT, so the engine emits BEGIN itself: reads get one snapshot, and
writers ask for ``BEGIN IMMEDIATE`` (execution option ``atomiton_begin``) so that two writing
processes queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from atomiton.errors import StoreError

BUSY_TIMEOUT_MS = 10_000


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("atomiton")) / "history.db"


def resolve_url(url: str | None) -> sa.URL:
    """The SQLAlchemy URL of the history database, following the rules above."""
    if url is None:
        url = os.environ.get("ATOMITON_DB") or str(default_db_path())
    url = url.strip()
    if url in ("memory", ":memory:"):
        url = "sqlite://"
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"cannot parse the history database URL {url!r}: {exc}",
            hint="use a file path, 'memory', or a SQLAlchemy URL such as "
            "postgresql://user:password@host:5432/atomiton",
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=f"postgresql+{postgres_driver()}")
    return parsed


def postgres_driver() -> str:
    """psycopg (3) when installed, else psycopg2; a clear error when neither is."""
    for module, name in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return name
    raise StoreError(
        "a postgresql:// history needs a PostgreSQL driver, and neither psycopg nor psycopg2 "
        "is installed",
        hint="pip install 'psycopg[binary]'",
    )


def is_memory(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def default_artifact_dir(url: sa.URL) -> Path | None:
    """Beside a SQLite file; under the user data directory for a server; none in memory."""
    if is_memory(url):
        return None
    if url.get_backend_name() == "sqlite" and url.database:
        db = Path(url.database)
        return db.with_name(f"{db.stem}-artifacts")
    return Path(os.environ.get("ATOMITON_ARTIFACTS") or platformdirs.user_data_dir("atomiton")) / (
        "artifacts"
    )


def create_engine(url: sa.URL, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sa.Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    memory = is_memory(url)
    if memory:  # one connection shared by every thread; the store serialises access
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _on_begin)
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("atomiton_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
