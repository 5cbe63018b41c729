"""Plain data objects shared by every layer: accounts, stacks, secrets, audit events, plaintext."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, NamedTuple

from stacksafe.errors import InvalidInput

__all__ = [
    "BUILTIN_ENVIRONMENTS",
    "PURPOSE_MAX_CHARS",
    "PURPOSE_PATTERN",
    "WIRE_NAME",
    "Account",
    "AuditEvent",
    "KeptVersion",
    "Secret",
    "SecretValue",
    "Stack",
    "Tombstone",
    "Webhook",
    "checked_purpose",
    "iso8601",
    "list_json",
    "purpose_of",
    "wire_names",
]

BUILTIN_ENVIRONMENTS = ("development", "staging", "qa", "production")


class SecretValue:
    """Plaintext of a secret whose ``repr`` and ``str`` are masked; ``reveal()`` gives the text.

    Logging, exception messages and f-strings then cannot leak a value by accident.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return "SecretValue('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        # Imported here: its module loads OpenSSL's digests, which `run` never needs.
        import hmac

        return hmac.compare_digest(self._text.encode(), other._text.encode())

    def __hash__(self) -> int:
        return hash(self._text)

    def __len__(self) -> int:
        return len(self._text)

    def __reduce__(self) -> Any:
        raise TypeError("SecretValue cannot be pickled")


def iso8601(moment: datetime) -> str:
    """Format a moment as the specification does: ``2024-01-15T10:30:00Z`` in UTC."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    # ISO 8601's four-digit year, zero-padded (strftime's %Y is not on every platform), the same
    # text orjson writes for an aware UTC datetime with OPT_UTC_Z | OPT_OMIT_MICROSECONDS.
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 - the fastest of the forms tried
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


@dataclass(frozen=True, slots=True)
class Account:
    """A tenant; its secrets are inherited by every one of its stacks."""

    id: int
    uid: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Stack:
    """An application deployment inside an account, in one environment."""

    id: int
    uid: str
    account_id: int
    name: str
    environment: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Webhook:
    """A change-event webhook and its delivery (docs/operations.md "Webhooks"): the level it is
    subscribed to (``stack_uid`` None: an account's own level and its stacks'), its URL's
    ``origin`` only (its path and query stay sealed on the server), the name of the secret that
    signs its POSTs, and ``behind``: audit events after its cursor, not yet passed over."""

    name: str
    account_uid: str
    account_name: str
    stack_uid: str | None
    stack_name: str | None
    origin: str
    signing_key: str
    paused: bool
    state: str  # delivering, paused, failing, stopped (stack deleted / account deleted)
    cursor: int
    behind: int
    last_delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime
    created_by: str

    def to_json(self) -> dict[str, object]:
        """The wire form (API, ``--format json``): moments as ``<name>_iso``."""
        out: dict[str, object] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if name in _WEBHOOK_MOMENTS:
                out[f"{name}_iso"] = None if value is None else iso8601(value)
            else:
                out[name] = value
        return out


_WEBHOOK_MOMENTS = frozenset({"last_delivered_at", "last_error_at", "created_at"})


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A deleted stack or account (``kind``), whose rows stay marked: what it was, when it went,
    and how many keys and version rows of its history are kept (no value is)."""

    kind: str  # "stack" or "account"
    uid: str
    name: str  # the name it had
    account_uid: str
    account_name: str
    account_deleted: bool
    environment: str | None  # a stack's
    created_at: datetime
    deleted_at: datetime
    keys: int
    versions: int

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "uid": self.uid,
            "name": self.name,
            "account_id": self.account_uid,
            "account_name": self.account_name,
            "account_deleted": self.account_deleted,
            "environment": self.environment,
            "created_at_iso": iso8601(self.created_at),
            "deleted_at_iso": iso8601(self.deleted_at),
            "keys": self.keys,
            "versions": self.versions,
        }


@dataclass(frozen=True, slots=True)
class KeptVersion:
    """One version row of a deleted level's secret: who wrote it, when, and when its value was
    destroyed (every one was, at the latest when the level was deleted)."""

    key: str
    version: int
    action: str
    author: str
    created_at: datetime
    destroyed_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "version": self.version,
            "action": self.action,
            "author": self.author,
            "created_at_iso": iso8601(self.created_at),
            "destroyed_at_iso": None if self.destroyed_at is None else iso8601(self.destroyed_at),
        }


class Secret(NamedTuple):
    """A secret as the specification describes it, with plaintext held masked.

    ``value`` is the encrypted form (``encrypted:AES256:<base64>``); ``raw_value`` is the
    plaintext, present only when the caller asked for it and may see it. A named tuple, not a
    frozen dataclass: a reveal builds one per secret, hundreds per request, and a frozen
    dataclass's ``__init__`` costs several times as much (bench/README.md, reveal_bench.py).
    """

    key: str
    value: str
    inherited: bool
    version: int
    created_at: datetime
    updated_at: datetime
    raw_value: SecretValue | None = None
    # Provenance beside the six fields (a list carries it in its envelope's ``meta``, never in
    # the Secret object): a stack's own key that overrides an account secret the stack
    # inherits; an account secret's environment restriction (None: every environment).
    overrides: bool = False
    environments: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, object]:
        """The six fields of the specification, and nothing else."""
        return {
            "key": self.key,
            "value": self.value,
            "raw_value": None if self.raw_value is None else self.raw_value.reveal(),
            "inherited": self.inherited,
            "created_at_iso": iso8601(self.created_at),
            "updated_at_iso": iso8601(self.updated_at),
        }

    def meta_json(self) -> dict[str, object]:
        """What a list says of this secret beside its six fields: the entry of its key in the
        envelope's ``meta`` (docs/api.md)."""
        return {
            "version": self.version,
            "overrides": self.overrides,
            "environments": None if self.environments is None else list(self.environments),
        }


def list_json(secrets: Sequence[Secret]) -> dict[str, object]:
    """A list of secrets as a face prints it whole (the CLI): the six-field objects in
    ``response``, their versions and provenance by key in ``meta``, as the API's list has them."""
    return {
        "response": [s.to_json() for s in secrets],
        "count": len(secrets),
        "meta": {s.key: s.meta_json() for s in secrets},
    }


# A field's name on the wire (JSON) where it differs from the Python name: dataclass metadata.
WIRE_NAME = "wire_name"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event of the audit log: who did what to which account or stack, when, how it ended.

    Declared once: the store reads its rows into it (``store.audit.StoredEvent.event``), the
    API's schema is made from its fields (``api.schemas.AuditEventOut``), and ``to_json`` is
    the wire form of both. A new field is a column of ``audit_events`` of the same name; what
    the chain hashes is a fixed list (``core.audit_chain.HASHED_FIELDS``), changed on purpose.
    """

    seq: int
    at: datetime = field(metadata={WIRE_NAME: "at_iso"})
    actor: str
    token_uid: str | None = field(metadata={WIRE_NAME: "token_id"})
    source_ip: str | None
    request_id: str | None
    action: str
    outcome: str
    account_uid: str | None
    stack_uid: str | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, object]:
        """The wire form: every field by its wire name, moments as ``iso8601``."""
        return {wire: _wire_value(getattr(self, name)) for name, wire in _AUDIT_EVENT_WIRE}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEvent:
        """The event from its wire form (``to_json``'s, as the API sends it)."""
        read: dict[str, Any] = {
            name: datetime.fromisoformat(data[wire]) if name in _AUDIT_EVENT_MOMENTS else data[wire]
            for name, wire in _AUDIT_EVENT_WIRE
        }
        return cls(**read)


def wire_names(cls: type[Any]) -> list[tuple[str, str]]:
    """(Python name, wire name) of each field of the dataclass ``cls``, in order."""
    return [(f.name, f.metadata.get(WIRE_NAME, f.name)) for f in fields(cls)]


def _wire_value(value: object) -> object:
    return iso8601(value) if isinstance(value, datetime) else value


_AUDIT_EVENT_WIRE = wire_names(AuditEvent)
# Annotations are text here (``from __future__ import annotations``): read, not evaluated.
_AUDIT_EVENT_MOMENTS = {f.name for f in fields(AuditEvent) if f.type == "datetime"}


# A reveal's purpose: what the values are for (e.g. ``run node``), as the client states it,
# written into the reveal's audit event. One definition for every face and for core.reveal.
PURPOSE_MAX_CHARS = 200
PURPOSE_PATTERN = r"^[\x20-\x7e]*$"  # printable ASCII: an audit record stays one plain line
_PURPOSE = re.compile(rf"[\x20-\x7e]{{1,{PURPOSE_MAX_CHARS}}}")


def checked_purpose(purpose: str) -> str:
    """``purpose`` when it is one (1 to 200 printable ASCII characters); else InvalidInput."""
    if _PURPOSE.fullmatch(purpose) is None:
        raise InvalidInput(
            f"a reveal's purpose must be 1 to {PURPOSE_MAX_CHARS} printable ASCII characters"
        )
    return purpose


def purpose_of(description: str) -> str:
    """A purpose describing anything (a command line): characters a purpose cannot hold
    become ``?``, and it is cut to the longest a purpose may be."""
    shown = "".join(c if " " <= c <= "~" else "?" for c in description)[:PURPOSE_MAX_CHARS]
    return shown or "?"
