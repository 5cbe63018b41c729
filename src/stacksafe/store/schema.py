"""The tables, as SQLAlchemy Core metadata. Alembic migrations create them; this is their shape.

Stored values are ciphertext only (``secret_versions.envelope``); the store cannot read them.
Secrets and data keys belong either to an account's own level (``stack_id`` NULL) or to one
stack; partial unique indexes give each level its own key space on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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
    "audit_details",
    "audit_events",
    "audit_head",
    "data_keys",
    "failures",
    "kv_paths",
    "kv_versions",
    "level_writes",
    "master_keys",
    "memberships",
    "metadata",
    "rotation_policies",
    "secret_versions",
    "secrets",
    "server_keys",
    "stack_roles",
    "stacks",
    "tokens",
    "users",
    "web_sessions",
]


_NAIVE_EPOCH = datetime(1970, 1, 1)  # naive on purpose: stored values are naive UTC
_UTC_EPOCH = _NAIVE_EPOCH.replace(tzinfo=UTC)


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

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None]:
        # process_result_value, faster: a reveal reads two timestamps per secret, and both the
        # generic TypeDecorator chain (three Python calls) and datetime.replace cost more than
        # parsing (bench/README.md, reveal_bench.py). Adding the naive value's offset from the
        # epoch to the aware epoch gives the same moment, tagged UTC.
        parse = self.impl_instance.result_processor(dialect, coltype)
        if parse is None:

            def process(value: Any) -> datetime | None:
                return None if value is None else _UTC_EPOCH + (value - _NAIVE_EPOCH)

        else:
            parsed: Callable[[Any], Any] = parse

            def process(value: Any) -> datetime | None:
                return None if value is None else _UTC_EPOCH + (parsed(value) - _NAIVE_EPOCH)

        return process


naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming)

Id = BigInteger().with_variant(Integer(), "sqlite")

# The per-level unique indexes and their WHERE: PostgreSQL's spelling of it is given to the
# metadata by ``postgresql_options`` when a PostgreSQL engine is made (store.engine), not here:
# naming a ``postgresql_`` option imports SQLAlchemy's PostgreSQL dialect (to check the name),
# which a process on SQLite (every local CLI command) does not need (bench/README.md,
# "Start-up"). The migrations create the indexes with both spellings.
_PARTIAL: list[tuple[Index, str]] = []


def _level_unique(name: str, *columns: str, where: str) -> Index:
    """A unique index over ``columns`` of the rows of one kind of level (``where``)."""
    index = Index(name, *columns, unique=True, sqlite_where=text(where))
    _PARTIAL.append((index, where))
    return index


def postgresql_options() -> None:
    """Give the per-level unique indexes PostgreSQL's WHERE (again is harmless)."""
    for index, where in _PARTIAL:
        index.dialect_options["postgresql"]["where"] = text(where)


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
    # Versions kept per secret at the account's own level; NULL: all (revision 0003).
    Column("max_versions", Integer, nullable=True),
    # Replaced by database triggers on every change to the level's secrets (revision 0007).
    Column("secrets_revision", String(32), nullable=False, server_default=""),
    Column("deleted_at", UTCDateTime, nullable=True),  # its row kept (revision 0017)
    Column("deleted_name", String(255), nullable=True),  # ``name``: a tombstone then
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
    # Versions kept per secret of the stack's own; NULL: all (revision 0003).
    Column("max_versions", Integer, nullable=True),
    # Replaced by database triggers on every change to the level's secrets (revision 0007).
    Column("secrets_revision", String(32), nullable=False, server_default=""),
    Column("deleted_at", UTCDateTime, nullable=True),  # as an account's (revision 0017)
    Column("deleted_name", String(255), nullable=True),
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
    _level_unique("uq_data_keys_account_level", "account_id", "version", where="stack_id IS NULL"),
    _level_unique("uq_data_keys_stack_level", "stack_id", "version", where="stack_id IS NOT NULL"),
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
    # Account level only: the environments whose stacks inherit it, space-separated and sorted;
    # NULL: every stack of the account (revision 0004).
    Column("environments", Text, nullable=True),
    _level_unique("uq_secrets_account_level", "account_id", "key", where="stack_id IS NULL"),
    _level_unique("uq_secrets_stack_level", "stack_id", "key", where="stack_id IS NOT NULL"),
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
    # Set when the version's ciphertext was destroyed (envelope NULL from then on); the row
    # stays, so history shows what happened (revision 0003).
    Column("destroyed_at", UTCDateTime, nullable=True),
    # The level write (``level_writes``) that made this version; NULL: written before
    # revision 0013 and not matched to one.
    Column("level_write_id", Id, nullable=True),
    UniqueConstraint("secret_id", "version", name="uq_secret_versions_secret_id_version"),
)

# --- The Vault-compatible API's path versions (revision 0013, docs/vault-compat.md) ---

level_writes = Table(
    "level_writes",
    metadata,
    # One row per write transaction per level that changed what the level holds (a new key
    # version, an environment restriction), and one when a stack is created. A KV path's
    # version N is the N-th counted row of its level (and, for a stack, of its account after
    # the stack's creation row): derived, never stored per path (core.kv.versions).
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("stack_id", Id, ForeignKey("stacks.id"), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    # False: not a new version of the level's own path (a KV soft delete or undelete of the
    # latest version, a stack created with nothing to inherit); an account row always counts
    # for its stacks' paths.
    Column("counted", Boolean, nullable=False),
    Index("ix_level_writes_stack_id", "stack_id", "id"),
    Index("ix_level_writes_account_id", "account_id", "stack_id", "id"),
)

kv_paths = Table(
    "kv_paths",
    metadata,
    # A level's KV metadata: not secret (Vault's custom_metadata), and whether writes need cas.
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("stack_id", Id, ForeignKey("stacks.id"), nullable=True),
    Column("custom_metadata", Text, nullable=False),  # a JSON object of strings
    Column("cas_required", Boolean, nullable=False),
    # DELETE metadata: versions up to this one are forgotten by KV (404 everywhere); later
    # writes number on from the stored history. 0: none forgotten.
    Column("forgotten_through", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    _level_unique("uq_kv_paths_account_level", "account_id", where="stack_id IS NULL"),
    _level_unique("uq_kv_paths_stack_level", "stack_id", where="stack_id IS NOT NULL"),
)

kv_versions = Table(
    "kv_versions",
    metadata,
    # What KV says of one version of a path: soft-deleted (``deleted_at``) or destroyed. The
    # stored key versions stay as they are (stacksafe's history is immutable): this only stops
    # the KV API from serving that version.
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("stack_id", Id, ForeignKey("stacks.id"), nullable=True),
    Column("version", Integer, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    # The delete unset the level's own keys (it was the latest version): an undelete writes
    # them again. False: a flag on an older version, nothing else changed.
    Column("emptied", Boolean, nullable=False),
    Column("destroyed", Boolean, nullable=False),
    _level_unique(
        "uq_kv_versions_account_level", "account_id", "version", where="stack_id IS NULL"
    ),
    _level_unique(
        "uq_kv_versions_stack_level", "stack_id", "version", where="stack_id IS NOT NULL"
    ),
)

rotation_policies = Table(
    "rotation_policies",
    metadata,
    # One row per secret that has a rotation policy (revision 0005).
    Column("secret_id", Id, ForeignKey("secrets.id"), primary_key=True),
    Column("rotate_every", BigInteger, nullable=True),  # seconds; NULL: no interval
    # An expiry belongs to the value it was given for: ``expires_version`` is that version.
    Column("expires_at", UTCDateTime, nullable=True),
    Column("expires_version", Integer, nullable=True),
    # manual (reminders only), generate, webhook or postgres.
    Column("rotator", String(16), nullable=False),
    # The rotator's settings as JSON; never a value (credentials are named by secret key).
    Column("config", Text, nullable=False),
    # A rotation in progress: the new value, sealed and bound to the version it will become.
    Column("pending_version", Integer, nullable=True),
    Column("pending_envelope", LargeBinary, nullable=True),
    Column("pending_since", UTCDateTime, nullable=True),
    Column("last_rotated_at", UTCDateTime, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("failures", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- Server: principals, tokens, server-held keys, audit (revision 0002) ---

server_keys = Table(
    "server_keys",
    metadata,
    # Random keys the server needs besides data keys (audit chain, value fingerprints, token
    # hashes), wrapped by the master key like data keys.
    Column("purpose", String(32), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("master_key_version", Integer, ForeignKey("master_keys.version"), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    # The server owner may do everything everywhere (created by `init`).
    Column("is_owner", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Argon2id hash (PHC string) for signing in to the web UI; NULL: no password (revision 0006).
    Column("password_hash", Text, nullable=True),
    # Set when the user was removed (offboarded, revision 0015): the row stays so that their
    # tokens' and sessions' foreign keys hold and the audit log's emails keep meaning someone;
    # a removed user authenticates nothing and is listed nowhere.
    Column("removed_at", UTCDateTime, nullable=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("role", String(32), nullable=False),
)

stack_roles = Table(
    "stack_roles",
    metadata,
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("stack_id", Id, ForeignKey("stacks.id"), primary_key=True),
    Column("role", String(32), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("uid", String(32), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    # HMAC-SHA256 of the token under a server key: a database copy yields no usable token.
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    # Space-separated stack uids / environments the token is narrowed to; NULL: not narrowed.
    Column("stack_uids", Text, nullable=True),
    Column("environments", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    # What the token's audit events name as the actor when it is not its user's email: a JWT
    # login's role, ``sub`` and ``jti`` (revision 0014); NULL: made by hand, acts as its user.
    Column("actor", Text, nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # Signed-in web UI sessions (revision 0006). The cookie holds a random secret; the database
    # keeps its keyed hash only, like tokens. Sign-out sets ``ended_at``: the cookie stops working.
    Column("id", Id, primary_key=True),
    Column("uid", String(32), nullable=False, unique=True),  # shown in audit events as token_id
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),  # absolute lifetime, idle or not
    Column("ended_at", UTCDateTime, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("token_uid", String(32), nullable=True),
    Column("source_ip", String(64), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("account_uid", String(64), nullable=True),
    Column("stack_uid", String(64), nullable=True),
    # JSON: keys, versions, value fingerprints (keyed HMAC), reasons. Never a value.
    # Empty when the detail is shared (``detail_digest``): stored once in ``audit_details``.
    Column("detail", Text, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("detail_digest", LargeBinary, nullable=True),
    Index("ix_audit_events_account_uid_seq", "account_uid", "seq"),
)

audit_details = Table(
    "audit_details",
    metadata,
    # An event's detail text stored once for every event that has exactly this text (a kept
    # stack revealed again and again: the same keys, versions and fingerprints, kilobytes each
    # time), by its SHA-256. The chain hashes each event with the full text (core.audit_chain).
    Column("digest", LargeBinary, primary_key=True),
    Column("detail", Text, nullable=False),
)

principals_revision = Table(
    "principals_revision",
    metadata,
    # One row, replaced by triggers on users, tokens, memberships and stack_roles (migration
    # 0008): what tokens authenticated before stand for is current while it is unchanged.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", String(32), nullable=False),
    CheckConstraint("id = 1", name="ck_principals_revision_one_row"),
)

audit_head = Table(
    "audit_head",
    metadata,
    # One row: the last event's sequence number and hash. Appenders lock it, which orders the
    # chain across threads and server processes.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    # HMAC over (seq, hash) with the chain key: the head cannot be set back to an earlier event.
    Column("mac", LargeBinary, nullable=False),
)

failures = Table(
    "failures",
    metadata,
    # Failed guesses (bad tokens per address, failed sign-ins per email) counted per fixed
    # window (revision 0012), shared by every server on the database so that limits hold across
    # them. ``target`` is a keyed hash of what is counted: no email or address in clear.
    # ``period``: which fixed window (seconds since the epoch // window length); ``expires``
    # (seconds since the epoch): when the row no longer weighs anything, for pruning.
    Column("target", LargeBinary, primary_key=True),
    Column("period", BigInteger, primary_key=True, autoincrement=False),
    Column("failed", Integer, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Index("ix_failures_expires", "expires"),
)


# Identity's and streams' tables: imported so that ``metadata`` has all (the migrations' check).
from stacksafe.store import identity_tables as _identity_tables  # noqa: E402, F401
from stacksafe.store import stream_tables as _stream_tables  # noqa: E402, F401
