"""Email: messages, attachments, the outbox, automatic-reply counts, bouncing addresses

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa

from callcenter.records.schema import Id, Json, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('mail_auto_replies',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_auto_replies'))
    )
    op.create_index('ix_mail_auto_replies_address', 'mail_auto_replies', ['address', 'at'], unique=False)
    op.create_table('mail_bouncing',
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('diagnostic', sa.Text(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_at', UtcDateTime(), nullable=False),
    sa.Column('last_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_mail_bouncing'))
    )
    op.create_table('mail_messages',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('interaction_id', Id, nullable=True),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('mailbox', sa.String(length=100), nullable=True),
    sa.Column('sender', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.String(length=998), server_default='', nullable=False),
    sa.Column('body_text', sa.Text(), server_default='', nullable=False),
    sa.Column('unparseable', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('details', Json, nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['interaction_id'], ['interactions.id'], name=op.f('fk_mail_messages_interaction_id_interactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_mail_messages_dedupe_key'))
    )
    op.create_index('ix_mail_messages_interaction', 'mail_messages', ['interaction_id', 'id'], unique=False)
    op.create_index('ix_mail_messages_message_id', 'mail_messages', ['message_id'], unique=False)
    op.create_table('mail_attachments',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('message_id', Id, nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('skipped', sa.Text(), nullable=True),
    sa.Column('inline', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('content_id', sa.String(length=998), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['mail_messages.id'], name=op.f('fk_mail_attachments_message_id_mail_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_attachments'))
    )
    op.create_index('ix_mail_attachments_message_id', 'mail_attachments', ['message_id'], unique=False)
    op.create_table('mail_outbox',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('message_id', Id, nullable=False),
    sa.Column('interaction_id', Id, nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('envelope_from', sa.String(length=320), nullable=False),
    sa.Column('recipients', Json, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', UtcDateTime(), nullable=False),
    sa.Column('claimed_until', UtcDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'sent', 'failed')", name=op.f('ck_mail_outbox_state')),
    sa.ForeignKeyConstraint(['interaction_id'], ['interactions.id'], name=op.f('fk_mail_outbox_interaction_id_interactions')),
    sa.ForeignKeyConstraint(['message_id'], ['mail_messages.id'], name=op.f('fk_mail_outbox_message_id_mail_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox'))
    )
    op.create_index('ix_mail_outbox_due', 'mail_outbox', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_mail_outbox_due', table_name='mail_outbox')
    op.drop_table('mail_outbox')
    op.drop_index('ix_mail_attachments_message_id', table_name='mail_attachments')
    op.drop_table('mail_attachments')
    op.drop_index('ix_mail_messages_message_id', table_name='mail_messages')
    op.drop_index('ix_mail_messages_interaction', table_name='mail_messages')
    op.drop_table('mail_messages')
    op.drop_table('mail_bouncing')
    op.drop_index('ix_mail_auto_replies_address', table_name='mail_auto_replies')
    op.drop_table('mail_auto_replies')
