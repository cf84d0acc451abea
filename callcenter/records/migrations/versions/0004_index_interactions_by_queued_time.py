"""Reports: index interactions by the time they were queued

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_interactions_queued_at", "interactions", ["queued_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_interactions_queued_at", table_name="interactions")
