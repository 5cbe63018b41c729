"""The tables of workload logins (revision 0014, core.workload): JWT issuers, roles and the
token ids replay-refusing roles saw; and of people's single sign-on (revision 0016, core.oidc):
the provider, its groups' account roles, and the sign-ins under way. Part of
``store.schema.metadata``."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from stacksafe.store.schema import Id, UTCDateTime, metadata

__all__ = [
    "jwt_issuers",
    "jwt_roles",
    "jwt_seen",
    "oidc_flows",
    "oidc_group_roles",
    "oidc_provider",
]

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

oidc_provider = Table(
    "oidc_provider",
    metadata,
    # The OpenID provider people sign in to the web UI with (revision 0016, core.oidc): one row
    # at most. The client secret is sealed (crypto.sealed_setting), never stored in the clear;
    # the endpoints and keys are the discovery document's, as fetched when configured.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("issuer", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("client_secret_sealed", LargeBinary, nullable=False),
    Column("authorization_endpoint", Text, nullable=False),
    Column("token_endpoint", Text, nullable=False),
    Column("token_auth_method", String(32), nullable=False),  # client_secret_basic or _post
    Column("jwks_uri", Text, nullable=False),
    Column("jwks", Text, nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated, asked for at every sign-in
    Column("groups_claim", String(128), nullable=True),  # NULL: groups are not read
    Column("allowed_domains", Text, nullable=True),  # space-separated; NULL: any domain
    Column("password_sign_in", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),  # also when the keys were last fetched
    CheckConstraint("id = 1", name="ck_oidc_provider_one_row"),
)

oidc_group_roles = Table(
    "oidc_group_roles",
    metadata,
    # A provider group's account role, given (or taken back) at every sign-in (revision 0016).
    Column("id", Id, primary_key=True),
    Column("group_name", String(256), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(32), nullable=False),
    UniqueConstraint("group_name", "account_id", name="uq_oidc_group_roles_group_account"),
)

oidc_flows = Table(
    "oidc_flows",
    metadata,
    # Sign-ins sent to the provider and not back yet (revision 0016): the keyed hash of the
    # browser's flow cookie, deleted when the browser comes back (so a state works once).
    Column("flow_hash", LargeBinary, primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_oidc_flows_expires_at", "expires_at"),
)
