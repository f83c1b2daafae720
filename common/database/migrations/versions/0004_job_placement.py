"""Where a job runs: its executor, its place there, and how often its run died without an outcome.

`executor` is thread, process or kubernetes; `placement` says where in it (a process id, a
Kubernetes Job's name); `attempts` counts runs that ended without recording an outcome (a killed
process, a lost node), so a job that keeps dying fails instead of looping.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("executor", sa.Text, nullable=False, server_default=""))
        jobs.add_column(sa.Column("placement", sa.Text, nullable=False, server_default=""))
        jobs.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("attempts")
        jobs.drop_column("placement")
        jobs.drop_column("executor")
