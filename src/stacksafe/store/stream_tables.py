"""The tables of the streams over the audit log, each row with its durable cursor and delivery
lease (store.cursors): the audit stream's sinks (revision 0018, core.streams) and the change
events' webhooks (revision 0019, core.webhooks). Part of ``store.schema.metadata``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from stacksafe.store.schema import Id, UTCDateTime, metadata

__all__ = ["audit_sinks", "webhooks"]


def _cursor_columns() -> list[Column[object]]:
    """What every table of streams has (store.cursors), new Column objects for each table."""
    return [
        Column("paused", Boolean, nullable=False),
        # The last sequence the receiver has or was passed (0: none yet). Moved only by the
        # lease's holder, from the value it read (compare-and-set), after the receiver took the
        # batch: at least once, in order.
        Column("cursor", BigInteger, nullable=False),
        # Which server process delivers it, and until when unless renewed (NULL: nobody).
        Column("lease_holder", String(128), nullable=True),
        Column("lease_until", UTCDateTime, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("last_error_at", UTCDateTime, nullable=True),
        Column("last_delivered_at", UTCDateTime, nullable=True),
    ]


audit_sinks = Table(
    "audit_sinks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("type", String(16), nullable=False),  # file, syslog, http
    # The options that are not credentials, as JSON; the ones that are (an HTTP sink's HMAC
    # secret and headers) sealed (crypto.sealed_setting), NULL when there are none.
    Column("config", Text, nullable=False),
    Column("sealed", LargeBinary, nullable=True),
    *_cursor_columns(),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", name="uq_audit_sinks_name"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True),
    # The level subscribed to: an account (stack_id NULL: its own level and its stacks') or
    # one stack. Levels are never deleted, only marked (revision 0017): a webhook whose level
    # is marked deleted stops.
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("stack_id", Id, ForeignKey("stacks.id"), nullable=True),
    Column("name", String(64), nullable=False),
    # The URL's scheme and authority, shown; the whole URL sealed (crypto.sealed_setting): its
    # path and query may hold the receiver's token.
    Column("origin", String(512), nullable=False),
    Column("sealed_url", LargeBinary, nullable=False),
    # The name of the secret of that level whose value is the HMAC key (read when a batch is
    # signed; the value is stored nowhere else).
    Column("signing_key", String(255), nullable=False),
    *_cursor_columns(),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    UniqueConstraint("account_id", "name", name="uq_webhooks_account_id_name"),
)
