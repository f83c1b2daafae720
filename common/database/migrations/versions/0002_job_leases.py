"""Job leases: which trainer replica runs a job and when it last said so.

A queued job is claimed by one replica (`runner`, `heartbeat`); a running job whose heartbeat is
older than the lease is taken over by another and resumed from its last checkpoint.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("runner", sa.Text, nullable=False, server_default=""))
        jobs.add_column(sa.Column("heartbeat", sa.Float))
    op.create_index("jobs_by_state", "jobs", ["state", "created"])


def downgrade() -> None:
    op.drop_index("jobs_by_state", "jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("heartbeat")
        jobs.drop_column("runner")
