"""Email: the reason an inbound message is listed for an administrator instead of an agent

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("mail_messages") as batch:
        batch.add_column(sa.Column("review", sa.String(length=300), nullable=True))
    op.create_index("ix_mail_messages_review", "mail_messages", ["review", "id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_mail_messages_review", table_name="mail_messages")
    with op.batch_alter_table("mail_messages") as batch:
        batch.drop_column("review")
