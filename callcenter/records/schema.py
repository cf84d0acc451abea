"""The record's tables, in SQLAlchemy Core.

Timestamps: every instant is stored in UTC by :class:`UtcDateTime`. PostgreSQL keeps them as
``timestamptz``; SQLite, which has no time type, keeps them as naive ISO-8601 text in UTC with
a fixed width, so text order is time order and the timeline index works on both. Reading
always yields timezone-aware UTC datetimes; writing a naive datetime is refused, because a
naive value's zone would be a guess.

Ids are integers from the database (SQLite's rowid alias, PostgreSQL identity columns).
JSON columns are ``jsonb`` on PostgreSQL and JSON text on SQLite.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator):
    """An aware datetime stored in UTC; see the module docstring for the storage per database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# An id column that is a rowid alias on SQLite (fast, autoincrementing) and BIGINT elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


def _id() -> Column:
    return Column("id", Id, primary_key=True, autoincrement=True)


customers = Table(
    "customers",
    metadata,
    _id(),
    Column("display_name", String(200), nullable=False, server_default=""),
    Column("tier", String(32), nullable=False),
    Column("language", String(35), nullable=True),
    Column("attributes", Json, nullable=False),
    Column("external_ids", Json, nullable=False),
    Column("provisional", Boolean, nullable=False, server_default="0"),
    # Set when this customer was merged: reads of this id resolve to the survivor.
    Column("merged_into", Id, ForeignKey("customers.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
Index("ix_customers_merged_into", customers.c.merged_into)

contact_points = Table(
    "contact_points",
    metadata,
    _id(),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", String(320), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The unique constraint is also the lookup index: (kind, value) -> customer.
    UniqueConstraint("kind", "value", name="uq_contact_points_kind_value"),
    CheckConstraint("kind IN ('phone', 'email')", name="kind"),
)
Index("ix_contact_points_customer_id", contact_points.c.customer_id)

interactions = Table(
    "interactions",
    metadata,
    _id(),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("queue", String(100), nullable=True),
    Column("agent", String(100), nullable=True),
    Column("state", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("queued_at", UtcDateTime, nullable=True),
    Column("offered_at", UtcDateTime, nullable=True),
    Column("accepted_at", UtcDateTime, nullable=True),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("wrap_up_ended_at", UtcDateTime, nullable=True),
    Column("disposition", String(100), nullable=True),
    Column("notes", Text, nullable=True),
    Column("subject", String(998), nullable=True),
    Column("payload", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
# The timeline: one customer's interactions, newest first, keyset-paged on (created_at, id).
Index("ix_interactions_timeline", interactions.c.customer_id, interactions.c.created_at, interactions.c.id)
Index("ix_interactions_state", interactions.c.state)
# Reports: every report is one range query on the time an interaction was queued.
Index("ix_interactions_queued_at", interactions.c.queued_at)

# Reports: a queue leg counts where it entered, which may be long after queued_at (overflow,
# transfer, reopen); every leg entered in a range belongs to an interaction changed since.
Index("ix_interactions_updated_at", interactions.c.updated_at)

# Agents' states as the routing core decided them, one row per change, for occupancy over any
# past interval (callcenter.records.reporting).
agent_states = Table(
    "agent_states",
    metadata,
    _id(),
    Column("agent", String(100), nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", String(100), nullable=True),
    Column("at", UtcDateTime, nullable=False),
)
Index("ix_agent_states_at", agent_states.c.at)
Index("ix_agent_states_agent", agent_states.c.agent, agent_states.c.id)

interaction_events = Table(
    "interaction_events",
    metadata,
    _id(),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(100), nullable=True),
    Column("details", Json, nullable=False),
)
Index("ix_interaction_events_interaction", interaction_events.c.interaction_id, interaction_events.c.id)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(100), nullable=True),
    Column("action", String(64), nullable=False),
    Column("subject_kind", String(32), nullable=False),
    Column("subject_id", Id, nullable=False),
    Column("details", Json, nullable=False),
)
Index("ix_audit_log_subject", audit_log.c.subject_kind, audit_log.c.subject_id, audit_log.c.id)

agents = Table(
    "agents",
    metadata,
    _id(),
    Column("login", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("login", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("role", String(32), nullable=False),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # scrypt hash from callcenter.auth.passwords; None: the user cannot log in with a password.
    Column("password_hash", String(255), nullable=True),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("updated_at", UtcDateTime, nullable=True),
)

# Browser sessions (callcenter.auth.sessions), so a restart keeps people signed in. The key is
# the SHA-256 of the cookie's token: the token itself is never stored.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("csrf_token", String(100), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("role", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)
Index("ix_web_sessions_user_id", web_sessions.c.user_id)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    # SHA-256 of the token: the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
)
Index("ix_api_tokens_user_id", api_tokens.c.user_id)

# --- email (callcenter.records.mail) ---

# Every message received or sent. ``dedupe_key`` (SHA-256 of Message-ID and content hash)
# makes storing a re-delivered message a no-op; ``message_id`` finds the thread of a reply.
mail_messages = Table(
    "mail_messages",
    metadata,
    _id(),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=True),
    Column("direction", String(16), nullable=False),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("message_id", String(998), nullable=True),
    Column("content_hash", String(64), nullable=False),
    Column("mailbox", String(100), nullable=True),
    Column("sender", String(320), nullable=True),
    Column("subject", String(998), nullable=False, server_default=""),
    Column("body_text", Text, nullable=False, server_default=""),
    Column("unparseable", Boolean, nullable=False, server_default="0"),
    Column("reason", Text, nullable=True),
    Column("details", Json, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Why an inbound message reached no agent and is listed for an administrator instead
    # (automatic mail that threads nowhere, a delivery report for nothing we sent).
    Column("review", String(300), nullable=True),
)
Index("ix_mail_messages_message_id", mail_messages.c.message_id)
Index("ix_mail_messages_review", mail_messages.c.review, mail_messages.c.id)
Index("ix_mail_messages_interaction", mail_messages.c.interaction_id, mail_messages.c.id)

mail_attachments = Table(
    "mail_attachments",
    metadata,
    _id(),
    Column("message_id", Id, ForeignKey("mail_messages.id"), nullable=False),
    Column("filename", String(255), nullable=True),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    # None when a size or count cap kept the bytes out; ``skipped`` then says which.
    Column("content", LargeBinary, nullable=True),
    Column("skipped", Text, nullable=True),
    Column("inline", Boolean, nullable=False, server_default="0"),
    Column("content_id", String(998), nullable=True),
)
Index("ix_mail_attachments_message_id", mail_attachments.c.message_id)

mail_outbox = Table(
    "mail_outbox",
    metadata,
    _id(),
    Column("message_id", Id, ForeignKey("mail_messages.id"), nullable=False),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("envelope_from", String(320), nullable=False),
    Column("recipients", Json, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    CheckConstraint("state IN ('pending', 'sent', 'failed')", name="state"),
)
Index("ix_mail_outbox_due", mail_outbox.c.state, mail_outbox.c.next_attempt_at)

mail_auto_replies = Table(
    "mail_auto_replies",
    metadata,
    _id(),
    Column("address", String(320), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
Index("ix_mail_auto_replies_address", mail_auto_replies.c.address, mail_auto_replies.c.at)

mail_bouncing = Table(
    "mail_bouncing",
    metadata,
    Column("address", String(320), primary_key=True),
    Column("status", String(32), nullable=True),
    Column("diagnostic", Text, nullable=True),
    Column("count", Integer, nullable=False),
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
)
