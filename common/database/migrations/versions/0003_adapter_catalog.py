"""The adapter catalog of an object-storage adapter store.

With `adapter_store = s3://...` the files of each version are immutable blobs named by their
sha256, and what names them lives here: one row per adapter name (its current version and rollout
policy) and one per version (its manifest). A publish is one transaction over both.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adapter_names",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("current_version", sa.Integer),
        sa.Column("rollout", sa.Text),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_table(
        "adapter_versions",
        sa.Column("name", sa.Text, sa.ForeignKey("adapter_names.name"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("job_id", sa.Text, nullable=False, server_default=""),
        sa.Column("created", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )


def downgrade() -> None:
    op.drop_table("adapter_versions")
    op.drop_table("adapter_names")
