"""Create the customer record schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23

Column types come from callcenter.records.schema: they are storage types (UTC timestamps,
ids that alias SQLite's rowid, JSON/JSONB) whose definitions must stay stable.
"""

from alembic import op
import sqlalchemy as sa

from callcenter.records.schema import Id, Json, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('agents',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('login', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('login', name=op.f('uq_agents_login'))
    )
    op.create_table('audit_log',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_kind', sa.String(length=32), nullable=False),
    sa.Column('subject_id', Id, nullable=False),
    sa.Column('details', Json, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_subject', 'audit_log', ['subject_kind', 'subject_id', 'id'])
    op.create_table('customers',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('display_name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=True),
    sa.Column('attributes', Json, nullable=False),
    sa.Column('external_ids', Json, nullable=False),
    sa.Column('provisional', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('merged_into', Id, nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merged_into'], ['customers.id'], name=op.f('fk_customers_merged_into_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_index('ix_customers_merged_into', 'customers', ['merged_into'])
    op.create_table('contact_points',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('customer_id', Id, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('phone', 'email')", name=op.f('ck_contact_points_kind')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_contact_points_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_points')),
    sa.UniqueConstraint('kind', 'value', name='uq_contact_points_kind_value')
    )
    op.create_index('ix_contact_points_customer_id', 'contact_points', ['customer_id'])
    op.create_table('interactions',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('customer_id', Id, nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('queue', sa.String(length=100), nullable=True),
    sa.Column('agent', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('queued_at', UtcDateTime(), nullable=True),
    sa.Column('offered_at', UtcDateTime(), nullable=True),
    sa.Column('accepted_at', UtcDateTime(), nullable=True),
    sa.Column('answered_at', UtcDateTime(), nullable=True),
    sa.Column('ended_at', UtcDateTime(), nullable=True),
    sa.Column('wrap_up_ended_at', UtcDateTime(), nullable=True),
    sa.Column('disposition', sa.String(length=100), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('subject', sa.String(length=998), nullable=True),
    sa.Column('payload', Json, nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_interactions_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interactions'))
    )
    op.create_index('ix_interactions_state', 'interactions', ['state'])
    op.create_index('ix_interactions_timeline', 'interactions', ['customer_id', 'created_at', 'id'])
    op.create_table('users',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('login', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('agent_id', Id, nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_users_agent_id_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('login', name=op.f('uq_users_login'))
    )
    op.create_table('interaction_events',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('interaction_id', Id, nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('details', Json, nullable=False),
    sa.ForeignKeyConstraint(['interaction_id'], ['interactions.id'], name=op.f('fk_interaction_events_interaction_id_interactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interaction_events'))
    )
    op.create_index('ix_interaction_events_interaction', 'interaction_events', ['interaction_id', 'id'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_interaction_events_interaction', table_name='interaction_events')
    op.drop_table('interaction_events')
    op.drop_table('users')
    op.drop_index('ix_interactions_timeline', table_name='interactions')
    op.drop_index('ix_interactions_state', table_name='interactions')
    op.drop_table('interactions')
    op.drop_index('ix_contact_points_customer_id', table_name='contact_points')
    op.drop_table('contact_points')
    op.drop_index('ix_customers_merged_into', table_name='customers')
    op.drop_table('customers')
    op.drop_index('ix_audit_log_subject', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('agents')
