"""The tables of workload logins (revision 0014, core.workload): JWT issuers, roles and the
token ids replay-refusing roles saw. Part of ``store.schema.metadata``."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from stacksafe.store.schema import Id, UTCDateTime, metadata

__all__ = ["jwt_issuers", "jwt_roles", "jwt_seen"]

jwt_issuers = Table(
    "jwt_issuers",
    metadata,
    # Who may sign the JWTs workloads log in with (revision 0014, core.workload). Public keys
    # only: ``jwks`` is the issuer's JWK set as last fetched (or as given in a file).
    Column("id", Id, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("issuer", Text, nullable=False),  # the ``iss`` its tokens must carry
    Column("keys_from", String(16), nullable=False),  # discovery, jwks_url or file
    Column("keys_url", Text, nullable=True),  # the discovery document's or the JWKS's URL
    Column("jwks", Text, nullable=False),
    Column("audiences", Text, nullable=True),  # space-separated; NULL: any a role binds
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

jwt_roles = Table(
    "jwt_roles",
    metadata,
    # What a login under the role gives, and the claims it needs (revision 0014). The role acts
    # through a user of its own (``jwt:<name>``), whose account role is ``role``.
    Column("id", Id, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("issuer_id", Id, ForeignKey("jwt_issuers.id"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("role", String(32), nullable=False),
    Column("audiences", Text, nullable=False),  # space-separated, at least one
    Column("claims", Text, nullable=False),  # JSON: [[claim, "exact"|"glob", [values]], ...]
    Column("stack_uids", Text, nullable=True),
    Column("environments", Text, nullable=True),
    Column("scopes", Text, nullable=False),
    Column("ttl_seconds", Integer, nullable=False),
    Column("max_ttl_seconds", Integer, nullable=False),
    Column("refuse_replay", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

jwt_seen = Table(
    "jwt_seen",
    metadata,
    # The ``jti`` of tokens a replay-refusing role took, kept until the token expires.
    Column("issuer_id", Id, ForeignKey("jwt_issuers.id"), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_jwt_seen_expires_at", "expires_at"),
)
