"""The tables, as SQLAlchemy Core metadata. Alembic migrations create them; this is their shape.

Stored values are ciphertext only (``secret_versions.envelope``); the store cannot read them.
Secrets and data keys belong either to an account's own level (``stack_id`` NULL) or to one
stack; partial unique indexes give each level its own key space on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

__all__ = [
    "accounts",
    "data_keys",
    "master_keys",
    "metadata",
    "secret_versions",
    "secrets",
    "stacks",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC, returned timezone-aware, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming)

Id = BigInteger().with_variant(Integer(), "sqlite")

master_keys = Table(
    "master_keys",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("check_value", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("uid", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

stacks = Table(
    "stacks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("uid", String(64), nullable=False, unique=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_stacks_account_id_name"),
    Index("ix_stacks_name", "name"),
)

data_keys = Table(
    "data_keys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("stack_id", Id, ForeignKey("stacks.id"), nullable=True),
    Column("version", Integer, nullable=False),
    Column("master_key_version", Integer, ForeignKey("master_keys.version"), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("seal_count", BigInteger, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Index(
        "uq_data_keys_account_level",
        "account_id",
        "version",
        unique=True,
        sqlite_where=text("stack_id IS NULL"),
        postgresql_where=text("stack_id IS NULL"),
    ),
    Index(
        "uq_data_keys_stack_level",
        "stack_id",
        "version",
        unique=True,
        sqlite_where=text("stack_id IS NOT NULL"),
        postgresql_where=text("stack_id IS NOT NULL"),
    ),
)

secrets = Table(
    "secrets",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("stack_id", Id, ForeignKey("stacks.id"), nullable=True),
    Column("key", String(255), nullable=False),
    # The pointer to the current version is the only column a write changes; version rows
    # are immutable. ``deleted`` mirrors whether that version is a tombstone.
    Column("current_version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(
        "uq_secrets_account_level",
        "account_id",
        "key",
        unique=True,
        sqlite_where=text("stack_id IS NULL"),
        postgresql_where=text("stack_id IS NULL"),
    ),
    Index(
        "uq_secrets_stack_level",
        "stack_id",
        "key",
        unique=True,
        sqlite_where=text("stack_id IS NOT NULL"),
        postgresql_where=text("stack_id IS NOT NULL"),
    ),
)

secret_versions = Table(
    "secret_versions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("secret_id", Id, ForeignKey("secrets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    # NULL for a tombstone (the secret was unset at this version).
    Column("envelope", LargeBinary, nullable=True),
    Column("author", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("secret_id", "version", name="uq_secret_versions_secret_id_version"),
)
