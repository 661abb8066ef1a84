"""The history tables, in portable SQLAlchemy Core (SQLite today, PostgreSQL through the same code).

JSON values are stored as text written by the events codec, so every backend holds the same
bytes and no dialect-specific JSON type is needed; times are epoch seconds as doubles.

    runs        one row per run; ``last_seq`` is the last event written, ``updated_at`` its time
    node_runs   one row per (run, node); ``ordinal`` keeps the plan's node order
    events      every event, keyed by (run_id, seq); node logs are the ``node.log`` events

The database itself is created and upgraded by the Alembic revisions in ``migrations/``; a change
here goes with a new revision there (tests compare the two).
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 1

metadata = sa.MetaData()

_ID = 255
_NODE_ID = 1024

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(_ID), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("blueprint_id", sa.String(_ID), nullable=False, default=""),
    sa.Column("blueprint_name", sa.Text, nullable=False, default=""),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("blueprint", sa.Text, nullable=False, default="{}"),
    sa.Column("inputs", sa.Text, nullable=False, default="{}"),
    sa.Column("variables", sa.Text, nullable=False, default="{}"),
    sa.Column("outputs", sa.Text, nullable=False, default="{}"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("host", sa.String(_ID), nullable=True),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double, nullable=True),
    sa.Column("duration_ms", sa.Double, nullable=True),
    sa.Column("last_seq", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.Double, nullable=True),
    sa.Index("ix_runs_started_at", "started_at"),
    sa.Index("ix_runs_status_started_at", "status", "started_at"),
)

node_runs = sa.Table(
    "node_runs",
    metadata,
    sa.Column(
        "run_id",
        sa.String(_ID),
        sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("node_id", sa.String(_NODE_ID), primary_key=True),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("started_at", sa.Double, nullable=True),
    sa.Column("finished_at", sa.Double, nullable=True),
    sa.Column("duration_ms", sa.Double, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("outputs", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sqlite_with_rowid=False,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "run_id",
        sa.String(_ID),
        sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("time", sa.Double, nullable=False),
    sa.Column("node_id", sa.String(_NODE_ID), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

schema_info = sa.Table(
    "atomiton_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)
