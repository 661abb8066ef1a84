"""Baseline: runs, node_runs, events and atomiton_schema, as schema.py had them at version 1.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = 255
_NODE_ID = 1024


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(_ID), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("blueprint_id", sa.String(_ID), nullable=False),
        sa.Column("blueprint_name", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("blueprint", sa.Text, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("variables", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("host", sa.String(_ID), nullable=True),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=True),
        sa.Column("duration_ms", sa.Double, nullable=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=True),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_status_started_at", "runs", ["status", "started_at"])
    op.create_table(
        "node_runs",
        sa.Column(
            "run_id",
            sa.String(_ID),
            sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("node_id", sa.String(_NODE_ID), primary_key=True),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Double, nullable=True),
        sa.Column("finished_at", sa.Double, nullable=True),
        sa.Column("duration_ms", sa.Double, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "events",
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
    schema = op.create_table(
        "atomiton_schema",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    )
    op.bulk_insert(schema, [{"version": 1}])


def downgrade() -> None:
    for table in ("events", "node_runs", "atomiton_schema", "runs"):
        op.drop_table(table)
