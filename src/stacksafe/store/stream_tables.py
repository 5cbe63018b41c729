"""The table of the audit stream's sinks (revision 0017, core.streams): their configuration,
their durable cursors and delivery leases. Part of ``store.schema.metadata``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from stacksafe.store.schema import Id, UTCDateTime, metadata

__all__ = ["audit_sinks"]

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
    Column("paused", Boolean, nullable=False),
    # The last sequence the sink has (0: none yet). Moved only by the lease's holder, from the
    # value it read (compare-and-set), after the sink took the batch: at least once, in order.
    Column("cursor", BigInteger, nullable=False),
    # Which server process delivers it, and until when unless renewed (NULL: nobody).
    Column("lease_holder", String(128), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", UTCDateTime, nullable=True),
    Column("last_delivered_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", name="uq_audit_sinks_name"),
)
