"""The schema of the last release, adopted or created.

Before Alembic, the server's experiment record and the trainer's job database were SQLite files
made with CREATE TABLE IF NOT EXISTS, and both had a table called `events`. Here a file from that
release keeps its rows: its `events` table is renamed by what it holds (`experiment_events` or
`job_events`, so server and trainer can share one database), and whatever tables are missing are
created.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _rename_legacy_events(tables: set[str]) -> set[str]:
    if "events" not in tables:
        return tables
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("events")}
    new = "job_events" if "job_id" in columns else "experiment_events"
    op.rename_table("events", new)
    if new == "job_events":  # its index keeps the old table's name otherwise
        op.execute("DROP INDEX IF EXISTS events_by_job")
    return (tables - {"events"}) | {new}


def upgrade() -> None:
    tables = _rename_legacy_events(set(sa.inspect(op.get_bind()).get_table_names()))
    if "requests" not in tables:
        op.create_table(
            "requests",
            sa.Column("request_id", sa.Text, nullable=False),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("arm", sa.Text, nullable=False),
            sa.Column("output", sa.Text, nullable=False),
            sa.Column("latency_ms", sa.Float, nullable=False),
            sa.Column("ok", sa.Integer, nullable=False),
            sa.Column("created", sa.Float, nullable=False),
            sa.PrimaryKeyConstraint("request_id", "role"),
        )
        op.create_index("requests_by_name", "requests", ["name", "created"])
    if "feedback" not in tables:
        op.create_table(
            "feedback",
            sa.Column("request_id", sa.Text, primary_key=True),
            sa.Column("label", sa.Text),
            sa.Column("rating", sa.Integer),
            sa.Column("thumb", sa.Integer),
            sa.Column("created", sa.Float, nullable=False),
        )
    if "experiment_events" not in tables:
        op.create_table(
            "experiment_events",
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
        )
    if "jobs" not in tables:
        op.create_table(
            "jobs",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("adapter_name", sa.Text, nullable=False),
            sa.Column("state", sa.Text, nullable=False),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("started", sa.Float),
            sa.Column("finished", sa.Float),
            sa.Column("error_code", sa.Text, nullable=False, server_default=""),
            sa.Column("error_message", sa.Text, nullable=False, server_default=""),
            sa.Column("step", sa.Integer, nullable=False, server_default="0"),
            sa.Column("total_steps", sa.Integer, nullable=False, server_default="0"),
            sa.Column("train_loss", sa.Float),
            sa.Column("validation_loss", sa.Float),
            sa.Column("cancel_requested", sa.Integer, nullable=False, server_default="0"),
            sa.Column("result", sa.Text, nullable=False, server_default="{}"),
        )
    if "job_events" not in tables:
        op.create_table(
            "job_events",
            sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id"), nullable=False),
            sa.Column("time", sa.Float, nullable=False),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
            sqlite_autoincrement=True,
        )
    op.create_index("job_events_by_job", "job_events", ["job_id", "sequence"], if_not_exists=True)
    if "reviews" not in tables:
        op.create_table(
            "reviews",
            sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id"), nullable=False),
            sa.Column("line", sa.Integer, nullable=False),
            sa.Column("reviewer", sa.Text, nullable=False),
            sa.Column("verdict", sa.Text, nullable=False),
            sa.Column("rating", sa.Integer, nullable=False),
            sa.Column("note", sa.Text, nullable=False),
            sa.Column("time", sa.Float, nullable=False),
            sa.PrimaryKeyConstraint("job_id", "line", "reviewer"),
        )


def downgrade() -> None:
    raise NotImplementedError("the first shared schema has nothing older to go back to")
