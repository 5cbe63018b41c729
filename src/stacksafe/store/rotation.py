"""Queries for rotation policies and the state of rotations in progress.

A rotation in progress is claimed with a compare-and-set, so two servers (or a server and
`stacksafe rotation run` from cron) never rotate one secret at the same time. The claim's time,
``pending_since``, identifies it: a run whose claim was taken over as stale finds another time
there and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from stacksafe.store.schema import rotation_policies, secrets

__all__ = [
    "PolicyRow",
    "StoredPolicy",
    "claim_pending",
    "delete_policy",
    "finish_pending",
    "policies_of_account",
    "policy_of",
    "record_failure",
    "record_rotated",
    "save_policy",
]


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    secret_id: int
    rotate_every: int | None  # seconds
    expires_at: datetime | None
    expires_version: int | None
    rotator: str
    config: str
    pending_version: int | None
    pending_envelope: bytes | None
    pending_since: datetime | None
    last_rotated_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    failures: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A policy with what status needs of its secret."""

    policy: StoredPolicy
    stack_id: int | None
    key: str
    current_version: int
    deleted: bool
    updated_at: datetime  # when the current version was written


_POLICY_COLUMNS = tuple(rotation_policies.c)


def _policy(row: Sequence[Any]) -> StoredPolicy:
    return StoredPolicy(*row)


def policy_of(conn: Connection, secret_id: int, *, lock: bool = False) -> StoredPolicy | None:
    query = select(*_POLICY_COLUMNS).where(rotation_policies.c.secret_id == secret_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _policy(row)


def save_policy(
    conn: Connection,
    secret_id: int,
    *,
    rotate_every: int | None,
    expires_at: datetime | None,
    expires_version: int | None,
    rotator: str,
    config: str,
    now: datetime,
) -> None:
    values = {
        "rotate_every": rotate_every,
        "expires_at": expires_at,
        "expires_version": expires_version,
        "rotator": rotator,
        "config": config,
        "updated_at": now,
    }
    changed = conn.execute(
        update(rotation_policies).where(rotation_policies.c.secret_id == secret_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(rotation_policies).values(secret_id=secret_id, failures=0, **values))


def delete_policy(conn: Connection, secret_id: int) -> bool:
    result = conn.execute(
        delete(rotation_policies).where(rotation_policies.c.secret_id == secret_id)
    )
    return result.rowcount == 1


def policies_of_account(conn: Connection, account_id: int) -> list[PolicyRow]:
    """Every policy of an account's secrets, at account level and in its stacks."""
    query = (
        select(
            *_POLICY_COLUMNS,
            secrets.c.stack_id,
            secrets.c.key,
            secrets.c.current_version,
            secrets.c.deleted,
            secrets.c.updated_at,
        )
        .join(secrets, secrets.c.id == rotation_policies.c.secret_id)
        .where(secrets.c.account_id == account_id)
        .order_by(secrets.c.stack_id, secrets.c.key)
    )
    width = len(_POLICY_COLUMNS)
    return [PolicyRow(_policy(row[:width]), *row[width:]) for row in conn.execute(query).all()]


def claim_pending(
    conn: Connection,
    secret_id: int,
    version: int,
    envelope: bytes,
    now: datetime,
    stale_before: datetime,
) -> bool:
    """Start a rotation: store its new value unless another one, started at or after
    ``stale_before``, is still in progress. False: someone else is rotating this secret."""
    result = conn.execute(
        update(rotation_policies)
        .where(
            rotation_policies.c.secret_id == secret_id,
            or_(
                rotation_policies.c.pending_version.is_(None),
                rotation_policies.c.pending_since < stale_before,
            ),
        )
        .values(
            pending_version=version,
            pending_envelope=envelope,
            pending_since=now,
            last_attempt_at=now,
        )
    )
    return result.rowcount == 1


def _end_pending(conn: Connection, secret_id: int, claimed_at: datetime, **values: Any) -> bool:
    """Clear the rotation in progress claimed at ``claimed_at``, and set ``values``; False if
    that claim is gone (taken over as stale, or the policy cleared)."""
    result = conn.execute(
        update(rotation_policies)
        .where(
            rotation_policies.c.secret_id == secret_id,
            rotation_policies.c.pending_since == claimed_at,
        )
        .values(pending_version=None, pending_envelope=None, pending_since=None, **values)
    )
    return result.rowcount == 1


def finish_pending(conn: Connection, secret_id: int, claimed_at: datetime, now: datetime) -> bool:
    """The pending value claimed at ``claimed_at`` became current."""
    return _end_pending(
        conn, secret_id, claimed_at, last_rotated_at=now, last_error=None, failures=0
    )


def record_rotated(conn: Connection, secret_id: int, now: datetime) -> None:
    """A rotation without a pending phase (a generated value written directly) succeeded."""
    conn.execute(
        update(rotation_policies)
        .where(rotation_policies.c.secret_id == secret_id)
        .values(last_rotated_at=now, last_attempt_at=now, last_error=None, failures=0)
    )


def record_failure(
    conn: Connection, secret_id: int, claimed_at: datetime | None, error: str, now: datetime
) -> None:
    """A rotation failed. The one claimed at ``claimed_at`` drops its pending value; one that
    failed before claiming (``None``) touches no rotation in progress."""
    counters = {
        "last_attempt_at": now,
        "last_error": error,
        "failures": rotation_policies.c.failures + 1,
    }
    if claimed_at is not None and _end_pending(conn, secret_id, claimed_at, **counters):
        return
    conn.execute(
        update(rotation_policies)
        .where(rotation_policies.c.secret_id == secret_id)
        .values(**counters)
    )
