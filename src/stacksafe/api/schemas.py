"""Request and response bodies. The Secret is exactly the six fields of the specification."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from stacksafe.model import AuditEvent, wire_names

__all__ = [
    "AccountCreate",
    "AccountOut",
    "AuditEventOut",
    "AuditVerifyOut",
    "Deleted",
    "DestroyedOut",
    "DiffEntryOut",
    "Envelope",
    "ImportReportOut",
    "JwtLoggedIn",
    "JwtLogin",
    "ListEnvelope",
    "Pagination",
    "RollbackKey",
    "RollbackLevel",
    "RollbackOut",
    "RotationOutcomeOut",
    "RotationPolicyIn",
    "RotationPolicyOut",
    "RotationStatusOut",
    "SecretCreate",
    "SecretEnvironments",
    "SecretListEnvelope",
    "SecretMetaOut",
    "SecretOut",
    "SecretPolicy",
    "SecretUpdate",
    "SecretsCopy",
    "SecretsImport",
    "StackCreate",
    "StackOut",
    "TokenCreate",
    "TokenCreated",
    "TokenOut",
    "UserCreate",
    "UserOut",
    "VersionOut",
    "wire_model",
]

T = TypeVar("T")


class Pagination(BaseModel):
    previous: int | None
    next: int | None
    current: int
    per_page: int
    count: int
    pages: int


class Envelope(BaseModel, Generic[T]):
    response: T


class ListEnvelope(BaseModel, Generic[T]):
    response: list[T]
    count: int
    pagination: Pagination


class SecretOut(BaseModel):
    key: str
    value: str = Field(description="The encrypted form: encrypted:AES256:<base64>.")
    raw_value: str | None = Field(description="The plaintext; null unless revealed.")
    inherited: bool = Field(description="True for account-level secrets.")
    created_at_iso: str
    updated_at_iso: str


class SecretMetaOut(BaseModel):
    """What a list says of one of its secrets beside the six fields (``meta`` of the list)."""

    version: int = Field(description="The current version of the key at the level it comes from.")
    overrides: bool = Field(
        description="A stack's own key that overrides an account secret the stack inherits."
    )
    environments: list[str] | None = Field(
        description="An account secret's environment restriction (null: every environment); "
        "null for a stack's own key."
    )


class SecretListEnvelope(ListEnvelope[SecretOut]):
    """A page of secrets, and by key, for the secrets of the page, their versions and where
    they come from (the Secret objects keep their six fields)."""

    meta: dict[str, SecretMetaOut]


def _reject_value(data: Any) -> Any:
    if isinstance(data, dict) and "value" in data:
        raise ValueError(
            "'value' is the encrypted form and is computed by the server; "
            "send the plaintext as 'raw_value'"
        )
    return data


_ENVIRONMENTS_FIELD = Field(
    default=None,
    max_length=32,
    description=(
        "Account level only: the environments whose stacks inherit this secret; [] for all; "
        "omitted or null: unchanged (all, for a new secret)."
    ),
)


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=255)
    raw_value: str
    environments: list[str] | None = _ENVIRONMENTS_FIELD

    @model_validator(mode="before")
    @classmethod
    def no_encrypted_value(cls, data: Any) -> Any:
        return _reject_value(data)


class SecretUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    raw_value: str
    environments: list[str] | None = _ENVIRONMENTS_FIELD

    @model_validator(mode="before")
    @classmethod
    def no_encrypted_value(cls, data: Any) -> Any:
        return _reject_value(data)


class AccountOut(BaseModel):
    id: str = Field(description="The account uid.")
    uid: str
    name: str
    friendly_name: str
    stack_count: int
    created_at: str
    updated_at: str
    created_at_iso: str
    updated_at_iso: str


class StackOut(BaseModel):
    uid: str
    name: str
    account_id: str = Field(description="The uid of the stack's account.")
    account_name: str
    environment: str
    created_at: str
    updated_at: str
    created_at_iso: str
    updated_at_iso: str


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=255)


class AuditVerifyOut(BaseModel):
    intact: bool
    events: int
    first_bad_seq: int | None
    problem: str | None
    # When intact: the last event as SEQ:HASH, an anchor to keep elsewhere (expect_head).
    head: str | None = None
    # Not intact only because the server found no checkpoint and no expect_head was given
    # (the chain itself is intact); no_anchor=true checks the chain alone.
    unanchored: bool = False


class StackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=255)
    account_id: str = Field(description="Account uid or name.")
    environment: str = "development"


def wire_model(cls: type[Any]) -> type[BaseModel]:
    """A response model of the dataclass ``cls``'s wire form (its ``to_json``): each field under
    its wire name (model.wire_names), every one required, moments as ISO 8601 text."""
    hints = get_type_hints(cls)
    fields: dict[str, Any] = {
        wire: (str if hints[name] is datetime else hints[name], ...)
        for name, wire in wire_names(cls)
    }
    return create_model(f"{cls.__name__}Out", **fields)


if TYPE_CHECKING:
    AuditEventOut = BaseModel  # its fields are made at import, from model.AuditEvent
else:
    AuditEventOut = wire_model(AuditEvent)


class Deleted(BaseModel):
    key: str
    deleted: bool


class SecretsImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secrets: dict[str, str] = Field(description="Key → plaintext; set in one transaction.")
    raw: bool = Field(
        default=False,
        description="False: each value is literal and reads back exactly as given. True: the "
        "values are stored text (as an unresolved export gives them): ${KEY} references stay "
        "live, $${ is a literal ${.",
    )


class ImportReportOut(BaseModel):
    added: list[str]
    changed: list[str]
    unchanged: list[str]


class UserOut(BaseModel):
    id: int
    email: str
    is_owner: bool
    accounts: list[dict[str, str]] = Field(description="[{id: account uid, name, role}]")
    access_profile: dict[str, list[dict[str, str]]] = Field(
        description="{stack_profiles: [{stack_uid, role}]}"
    )
    created_at: str
    created_at_iso: str


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    account_id: str = Field(description="Account uid or name.", max_length=255)
    role: str = Field(
        default="viewer",
        description="viewer, deployer, developer, operation, power_user, administrator, owner",
        max_length=32,
    )
    stack_roles: dict[str, str] = Field(
        default_factory=dict, description="Stack uid or name → role in that stack."
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(description="The email of the user the token acts for.", max_length=320)
    scopes: list[str] = Field(description="public and/or admin.", min_length=1, max_length=8)
    stacks: list[str] = Field(
        default_factory=list, description="Narrow to these stacks (uid or name).", max_length=100
    )
    environments: list[str] = Field(
        default_factory=list, description="Narrow to stacks of these environments.", max_length=20
    )
    expires_in: str | None = Field(
        default=None, description="Lifetime, e.g. 30d or 12h; none: until revoked.", max_length=16
    )


class JwtLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description="The JWT role to log in as.", min_length=1, max_length=64)
    jwt: str = Field(
        description="The workload's JWT (GitHub Actions' ID token, a service-account token).",
        min_length=1,
        max_length=16384,
    )


class JwtLoggedIn(BaseModel):
    token: str = Field(description="The token the login issued: shown in this response only.")
    id: str = Field(description="The token's id (tokens list, revoke).")
    role: str
    account_id: str
    scopes: list[str]
    stacks: list[str] | None
    environments: list[str] | None
    ttl_seconds: int
    expires_at_iso: str


class TokenOut(BaseModel):
    id: str = Field(description="The token's id (tok_...), never its value.")
    user: str
    scopes: list[str]
    stacks: list[str] | None
    environments: list[str] | None
    created_at_iso: str
    expires_at_iso: str | None
    revoked_at_iso: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown in this response only, once.")


class VersionOut(BaseModel):
    version: int
    action: str = Field(description="set, delete, rollback or undelete.")
    author: str
    created_at_iso: str
    current: bool
    deleted: bool = Field(description="This version deleted the key.")
    destroyed: bool = Field(description="This version's value was destroyed.")
    destroyed_at_iso: str | None
    value: str | None = Field(description="The encrypted form; null for deletions and destroyed.")
    raw_value: str | None = Field(description="The plaintext; null unless revealed.")


class RollbackKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_version: int = Field(ge=1, le=2**31 - 1)


class RollbackLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: datetime = Field(description="ISO 8601 with an offset, e.g. 2026-11-20T10:00:00Z.")


class RollbackOut(BaseModel):
    to_iso: str
    restored: dict[str, int] = Field(description="Key → the version whose value was restored.")
    deleted: list[str] = Field(description="Keys that did not exist then, now deleted.")
    unchanged: list[str]


class DestroyedOut(BaseModel):
    key: str
    version: int
    destroyed: bool


class SecretPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_versions: int | None = Field(
        ge=1, le=10_000, description="Versions kept per secret of this level; null: all."
    )


class SecretEnvironments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    environments: list[str] | None = Field(
        max_length=32, description="The environments whose stacks inherit it; null or []: all."
    )


class DiffEntryOut(BaseModel):
    key: str
    state: str = Field(description="only_left, only_right, differs or same (by fingerprint).")
    left_version: int | None
    right_version: int | None
    left_inherited: bool | None
    right_inherited: bool | None


class SecretsCopy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_stack: str = Field(max_length=64, description="The uid of the stack to copy from.")
    keys: list[str] | None = Field(
        default=None, max_length=1000, description="Only these keys; null: all."
    )
    allow_production_source: bool = Field(
        default=False,
        description="Needed to copy from a production stack into a non-production one.",
    )


class RotationPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rotate_every: str | None = Field(
        default=None, max_length=32, description="How often, e.g. 30d, 12h, 1w; null: never."
    )
    expires_at: datetime | None = Field(
        default=None,
        description="When the current value stops being valid (ISO 8601 with an offset); it "
        "belongs to the current version, so a new value needs its own.",
    )
    rotator: str = Field(
        default="manual", max_length=16, description="manual, generate, webhook or postgres."
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="The rotator's settings: length, charset; url, signing_key (webhook); "
        "admin_key, roles (postgres). Credentials are named by secret key, never given.",
    )


class RotationPolicyOut(BaseModel):
    key: str
    rotate_every: int | None = Field(description="Seconds; null: no interval.")
    expires_at_iso: str | None
    rotator: str
    config: dict[str, Any]
    next_rotation_at_iso: str | None
    last_rotated_at_iso: str | None
    last_attempt_at_iso: str | None
    last_error: str | None
    failures: int = Field(description="Failed attempts since the last successful rotation.")
    pending_version: int | None = Field(description="The version a rotation in progress writes.")
    pending_since_iso: str | None


class RotationStatusOut(BaseModel):
    account_uid: str
    account: str
    stack_uid: str | None
    stack: str | None
    key: str
    state: str = Field(description="expired, overdue, expiring, due or ok.")
    rotator: str
    due_at_iso: str | None
    expires_at_iso: str | None
    last_rotated_at_iso: str | None
    last_error: str | None
    failures: int


class RotationOutcomeOut(BaseModel):
    account_uid: str
    stack_uid: str | None
    key: str
    rotator: str
    outcome: str = Field(description="rotated, failed (the current value stays) or skipped.")
    version: int | None = Field(description="The new current version, when rotated.")
    error: str | None
