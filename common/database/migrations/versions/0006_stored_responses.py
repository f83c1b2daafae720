"""Stored responses of the OpenAI Responses API: what `previous_response_id`, `responses.retrieve`,
`delete` and `input_items` read, on whichever replica the next call lands.

`response` is the response object as answered; `input` the request's own input items;
`conversation` every item up to and including the answer (earlier responses' too), which a
response that continues it starts from. `owner` is the caller's token name ("" without tokens):
a response is only seen by its owner. Rows go once `expires` has passed.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("conversation", sa.Text, nullable=False),
    )
    op.create_index("stored_responses_expires", "stored_responses", ["expires"])


def downgrade() -> None:
    op.drop_index("stored_responses_expires", "stored_responses")
    op.drop_table("stored_responses")
