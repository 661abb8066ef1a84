"""Schema migrations (Alembic), applied when a store opens; SQLite and PostgreSQL alike.

``migrate(connection)`` brings the history database to this atomiton's schema: an empty
database gets every revision; one made before migrations existed (the tables and
``atomiton_schema`` but no ``alembic_version``) is stamped with the first revision, which is
that schema, then upgraded; a database at a revision this code does not know was written by a
newer atomiton and is refused with a StoreError (never downgraded). No ``alembic.ini`` is
involved: the script location is this package.

To add a revision: a new file in ``versions/`` with ``down_revision`` set to the current head,
its ``upgrade()`` written with ``op`` calls that work on both SQLite (``op.batch_alter_table``
for column changes) and PostgreSQL, and schema.py changed to match.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from atomiton.errors import StoreError

BASELINE = "0001"
"""The first revision: the schema of schema.py before migrations existed."""


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this code knows."""
    script = ScriptDirectory.from_config(_config())
    revision = script.get_current_head()
    assert revision is not None
    return revision


def current(connection: sa.Connection) -> str | None:
    """The database's revision; None when it has no migration history."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(connection: sa.Connection, *, where: str = "the history database") -> str:
    """Upgrade the database on ``connection`` to :func:`head` (see the module notes)."""
    config = _config(connection)
    script = ScriptDirectory.from_config(config)
    revision = current(connection)
    if revision is not None and revision not in {s.revision for s in script.walk_revisions()}:
        raise StoreError(
            f"{where} is at schema revision {revision!r}, which this atomiton does not know "
            f"(it knows up to {script.get_current_head()!r}): a newer atomiton wrote it",
            hint="upgrade atomiton, or point --db / ATOMITON_DB at another database",
        )
    if revision is None and sa.inspect(connection).has_table("runs"):
        command.stamp(config, BASELINE)  # made by create_all before migrations existed
    command.upgrade(config, "head")
    return head()


__all__ = ["BASELINE", "current", "head", "migrate"]
