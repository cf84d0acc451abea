"""Reports: agents' state history (occupancy of any past interval) and interactions by last change

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa

from callcenter.records.schema import Id, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "agent_states",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_states")),
    )
    op.create_index("ix_agent_states_at", "agent_states", ["at"])
    op.create_index("ix_agent_states_agent", "agent_states", ["agent", "id"])
    op.create_index("ix_interactions_updated_at", "interactions", ["updated_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_interactions_updated_at", table_name="interactions")
    op.drop_index("ix_agent_states_agent", table_name="agent_states")
    op.drop_index("ix_agent_states_at", table_name="agent_states")
    op.drop_table("agent_states")
