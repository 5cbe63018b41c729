"""Rotation policy CRUD: set, read and clear a secret's rotation policy.

Also the lookups the other rotation modules share: the secret's head, when its current version
was written, and its stored policy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.rotation.policy import (
    RotationPolicy,
    optional_iso,
    policy_from,
    seconds_of,
)
from stacksafe.core.rotators import Rotator, check_literal_host, validate_config
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key, validate_moment
from stacksafe.errors import InvalidInput, NotFound
from stacksafe.store import Connection
from stacksafe.store import rotation as queries
from stacksafe.store import secrets as secret_queries
from stacksafe.store.secrets import SecretHead

__all__ = [
    "MIN_INTERVAL",
    "clear_policy",
    "get_policy",
    "live_head",
    "set_policy",
    "stored_policy",
    "write_action",
    "written_at",
]

MIN_INTERVAL = timedelta(minutes=1)


def write_action(target: Target) -> Action:
    return Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS


def live_head(conn: Connection, target: Target, key: str, *, lock: bool = False) -> SecretHead:
    head = secret_queries.secret_head(conn, target.account.id, target.stack_id, key, lock=lock)
    if head is None or head.deleted:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    return head


def written_at(conn: Connection, head: SecretHead) -> datetime:
    """When the current version was written: where the rotation interval starts."""
    for stored in reversed(secret_queries.versions_of(conn, head.id)):
        if stored.version == head.current_version:
            return stored.created_at
    raise NotFound("the current version of the secret is missing")  # pragma: no cover


def stored_policy(
    conn: Connection, target: Target, key: str, head: SecretHead
) -> queries.StoredPolicy:
    stored = queries.policy_of(conn, head.id)
    if stored is None:
        raise NotFound(f"secret {key!r} in {target.describe()} has no rotation policy")
    return stored


def set_policy(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    *,
    rotate_every: timedelta | None = None,
    expires_at: datetime | None = None,
    rotator: str = "manual",
    config: Mapping[str, Any] | None = None,
) -> RotationPolicy:
    """Give ``key`` (at ``target``'s own level) a rotation policy, replacing any it had."""
    validate_key(key)
    settings = validate_config(rotator, config or {})
    if rotate_every is not None and rotate_every < MIN_INTERVAL:
        raise InvalidInput("rotate_every must be at least one minute")
    if expires_at is not None:
        expires_at = validate_moment(expires_at, "expires_at")
    allow(installation, actor, write_action(target), target.account, target.stack, key=key)
    # After the permission check: which addresses are refused is for those who may write here.
    check_literal_host(rotator, settings, installation.outbound)
    config_text = json.dumps(settings, sort_keys=True)

    def work(conn: Connection) -> RotationPolicy:
        head = live_head(conn, target, key, lock=True)
        now = installation.clock()
        queries.save_policy(
            conn,
            head.id,
            rotate_every=seconds_of(rotate_every),
            expires_at=expires_at,
            expires_version=None if expires_at is None else head.current_version,
            rotator=rotator,
            config=config_text,
            now=now,
        )
        record(
            conn,
            installation,
            actor,
            "secret.rotation_policy",
            account=target.account,
            stack=target.stack,
            detail={
                "keys": [key],
                "rotate_every": seconds_of(rotate_every),
                "expires_at": optional_iso(expires_at),
                "rotator": rotator,
                "config": Rotator(rotator, settings).public_config(),
            },
        )
        stored = stored_policy(conn, target, key, head)
        return policy_from(key, stored, head, written_at(conn, head))

    return installation.store.transact(work, f"setting the rotation policy of {key!r}")


def get_policy(
    installation: Installation, actor: Principal, target: Target, key: str
) -> RotationPolicy:
    validate_key(key)
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack, key=key)
    with installation.store.read() as conn:
        head = live_head(conn, target, key)
        return policy_from(
            key, stored_policy(conn, target, key, head), head, written_at(conn, head)
        )


def clear_policy(installation: Installation, actor: Principal, target: Target, key: str) -> None:
    """Remove ``key``'s rotation policy (and any rotation of it in progress)."""
    validate_key(key)
    allow(installation, actor, write_action(target), target.account, target.stack, key=key)

    def work(conn: Connection) -> None:
        head = live_head(conn, target, key, lock=True)
        if not queries.delete_policy(conn, head.id):
            raise NotFound(f"secret {key!r} in {target.describe()} has no rotation policy")
        record(
            conn,
            installation,
            actor,
            "secret.rotation_policy",
            account=target.account,
            stack=target.stack,
            detail={"keys": [key], "cleared": True},
        )

    installation.store.transact(work, f"clearing the rotation policy of {key!r}")
