"""Training files: JSONL data kept by the trainer for jobs to name by id (the OpenAI files API).

The content is in the database itself, so every trainer replica (and the job a replica validates)
reads the same bytes; files are bounded by the trainer's max_data_bytes.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_files",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_index("training_files_created", "training_files", ["created"])


def downgrade() -> None:
    op.drop_index("training_files_created", "training_files")
    op.drop_table("training_files")
