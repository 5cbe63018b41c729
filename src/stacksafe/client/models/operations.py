"""The SDK's models of operations: rotation policies, status and outcomes; the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stacksafe.client.fields import Fields
from stacksafe.model import iso8601

__all__ = [
    "AuditEvent",
    "AuditVerification",
    "RotationOutcome",
    "RotationPolicy",
    "RotationStatus",
]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso8601(moment)


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """A key's rotation policy and the state of its rotations."""

    key: str
    rotate_every: timedelta | None
    expires_at: datetime | None
    rotator: str
    config: Mapping[str, Any]
    next_rotation_at: datetime | None
    last_rotated_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    failures: int
    pending_version: int | None
    pending_since: datetime | None

    @classmethod
    def from_json(cls, data: object) -> RotationPolicy:
        f = Fields(data, "RotationPolicy")
        every = f.integer_or_none("rotate_every")
        return cls(
            key=f.text("key"),
            rotate_every=None if every is None else timedelta(seconds=every),
            expires_at=f.moment_or_none("expires_at_iso"),
            rotator=f.text("rotator"),
            config=f.mapping("config"),
            next_rotation_at=f.moment_or_none("next_rotation_at_iso"),
            last_rotated_at=f.moment_or_none("last_rotated_at_iso"),
            last_attempt_at=f.moment_or_none("last_attempt_at_iso"),
            last_error=f.text_or_none("last_error"),
            failures=f.integer("failures"),
            pending_version=f.integer_or_none("pending_version"),
            pending_since=f.moment_or_none("pending_since_iso"),
        )

    def to_json(self) -> dict[str, object]:
        every = self.rotate_every
        return {
            "key": self.key,
            "rotate_every": None if every is None else int(every.total_seconds()),
            "expires_at_iso": _iso(self.expires_at),
            "rotator": self.rotator,
            "config": dict(self.config),
            "next_rotation_at_iso": _iso(self.next_rotation_at),
            "last_rotated_at_iso": _iso(self.last_rotated_at),
            "last_attempt_at_iso": _iso(self.last_attempt_at),
            "last_error": self.last_error,
            "failures": self.failures,
            "pending_version": self.pending_version,
            "pending_since_iso": _iso(self.pending_since),
        }


@dataclass(frozen=True, slots=True)
class RotationStatus:
    """A secret with a policy and its urgency: ``expired``, ``overdue``, ``expiring``, ``due``
    or ``ok``. ``account`` and ``stack`` are names; ``stack`` is None for an account secret."""

    account_uid: str
    account: str
    stack_uid: str | None
    stack: str | None
    key: str
    state: str
    rotator: str
    due_at: datetime | None
    expires_at: datetime | None
    last_rotated_at: datetime | None
    last_error: str | None
    failures: int

    @classmethod
    def from_json(cls, data: object) -> RotationStatus:
        f = Fields(data, "RotationStatus")
        return cls(
            account_uid=f.text("account_uid"),
            account=f.text("account"),
            stack_uid=f.text_or_none("stack_uid"),
            stack=f.text_or_none("stack"),
            key=f.text("key"),
            state=f.text("state"),
            rotator=f.text("rotator"),
            due_at=f.moment_or_none("due_at_iso"),
            expires_at=f.moment_or_none("expires_at_iso"),
            last_rotated_at=f.moment_or_none("last_rotated_at_iso"),
            last_error=f.text_or_none("last_error"),
            failures=f.integer("failures"),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "account_uid": self.account_uid,
            "account": self.account,
            "stack_uid": self.stack_uid,
            "stack": self.stack,
            "key": self.key,
            "state": self.state,
            "rotator": self.rotator,
            "due_at_iso": _iso(self.due_at),
            "expires_at_iso": _iso(self.expires_at),
            "last_rotated_at_iso": _iso(self.last_rotated_at),
            "last_error": self.last_error,
            "failures": self.failures,
        }


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What one rotation did: ``rotated`` (``version`` is current now), ``failed`` (``error``
    says why; the current value stays) or ``skipped``."""

    account_uid: str
    stack_uid: str | None
    key: str
    rotator: str
    outcome: str
    version: int | None
    error: str | None

    @classmethod
    def from_json(cls, data: object) -> RotationOutcome:
        f = Fields(data, "RotationOutcome")
        return cls(
            account_uid=f.text("account_uid"),
            stack_uid=f.text_or_none("stack_uid"),
            key=f.text("key"),
            rotator=f.text("rotator"),
            outcome=f.text("outcome"),
            version=f.integer_or_none("version"),
            error=f.text_or_none("error"),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "account_uid": self.account_uid,
            "stack_uid": self.stack_uid,
            "key": self.key,
            "rotator": self.rotator,
            "outcome": self.outcome,
            "version": self.version,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event of the hash-chained audit log (``detail`` never holds a value)."""

    seq: int
    at: datetime
    actor: str
    token_id: str | None
    source_ip: str | None
    request_id: str | None
    action: str
    outcome: str
    account_uid: str | None
    stack_uid: str | None
    detail: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: object) -> AuditEvent:
        f = Fields(data, "AuditEvent")
        return cls(
            seq=f.integer("seq"),
            at=f.moment("at_iso"),
            actor=f.text("actor"),
            token_id=f.text_or_none("token_id"),
            source_ip=f.text_or_none("source_ip"),
            request_id=f.text_or_none("request_id"),
            action=f.text("action"),
            outcome=f.text("outcome"),
            account_uid=f.text_or_none("account_uid"),
            stack_uid=f.text_or_none("stack_uid"),
            detail=f.mapping("detail"),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "at_iso": iso8601(self.at),
            "actor": self.actor,
            "token_id": self.token_id,
            "source_ip": self.source_ip,
            "request_id": self.request_id,
            "action": self.action,
            "outcome": self.outcome,
            "account_uid": self.account_uid,
            "stack_uid": self.stack_uid,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """A walk of the audit hash chain: intact or not (``first_bad_seq``, ``problem``); when
    intact, ``head`` (``SEQ:HASH``) to keep as an anchor. ``unanchored``: not intact only
    because there was no checkpoint and no expected head to compare the end with."""

    intact: bool
    events: int
    first_bad_seq: int | None
    problem: str | None
    head: str | None
    unanchored: bool

    @classmethod
    def from_json(cls, data: object) -> AuditVerification:
        f = Fields(data, "AuditVerification")
        return cls(
            intact=f.flag("intact"),
            events=f.integer("events"),
            first_bad_seq=f.integer_or_none("first_bad_seq"),
            problem=f.text_or_none("problem"),
            head=f.text_or_none("head") if f.has("head") else None,
            unanchored=f.flag("unanchored") if f.has("unanchored") else False,
        )
