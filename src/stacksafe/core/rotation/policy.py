"""Rotation policy objects: ``RotationPolicy``, and what a stored policy says.

A stored policy gives the interval, the expiry of the current value (an expiry belongs to the
value it was set for) and when the next rotation is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stacksafe.core.rotators import rotator_for
from stacksafe.model import iso8601
from stacksafe.store import rotation as queries
from stacksafe.store.secrets import SecretHead

__all__ = [
    "RotationPolicy",
    "due_at_of",
    "expiry_of",
    "interval_of",
    "optional_iso",
    "policy_from",
    "seconds_of",
]


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    key: str
    rotate_every: timedelta | None
    expires_at: datetime | None  # None: none set, or set for an earlier value
    rotator: str
    config: Mapping[str, Any]
    next_rotation_at: datetime | None
    last_rotated_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    failures: int
    pending_version: int | None
    pending_since: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "rotate_every": seconds_of(self.rotate_every),
            "expires_at_iso": optional_iso(self.expires_at),
            "rotator": self.rotator,
            "config": dict(self.config),
            "next_rotation_at_iso": optional_iso(self.next_rotation_at),
            "last_rotated_at_iso": optional_iso(self.last_rotated_at),
            "last_attempt_at_iso": optional_iso(self.last_attempt_at),
            "last_error": self.last_error,
            "failures": self.failures,
            "pending_version": self.pending_version,
            "pending_since_iso": optional_iso(self.pending_since),
        }


def optional_iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso8601(moment)


def seconds_of(interval: timedelta | None) -> int | None:
    return None if interval is None else int(interval.total_seconds())


def interval_of(stored: queries.StoredPolicy) -> timedelta | None:
    return None if stored.rotate_every is None else timedelta(seconds=stored.rotate_every)


def expiry_of(stored: queries.StoredPolicy, current_version: int) -> datetime | None:
    return stored.expires_at if stored.expires_version == current_version else None


def due_at_of(stored: queries.StoredPolicy, written_at: datetime) -> datetime | None:
    interval = interval_of(stored)
    return None if interval is None else written_at + interval


def policy_from(
    key: str, stored: queries.StoredPolicy, head: SecretHead, written_at: datetime
) -> RotationPolicy:
    return RotationPolicy(
        key=key,
        rotate_every=interval_of(stored),
        expires_at=expiry_of(stored, head.current_version),
        rotator=stored.rotator,
        config=rotator_for(stored.rotator, stored.config).public_config(),
        next_rotation_at=due_at_of(stored, written_at),
        last_rotated_at=stored.last_rotated_at,
        last_attempt_at=stored.last_attempt_at,
        last_error=stored.last_error,
        failures=stored.failures,
        pending_version=stored.pending_version,
        pending_since=stored.pending_since,
    )
