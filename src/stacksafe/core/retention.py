"""Retention: how many versions each secret of a level keeps (``max_versions``).

Older versions' ciphertexts are destroyed on the next write of each key (``core.secrets``'
``prune_after_write``); the current and the previous version are always kept.
"""

from __future__ import annotations

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput
from stacksafe.store import Connection
from stacksafe.store import tenancy as tenancy_queries

__all__ = ["MAX_KEPT_VERSIONS", "max_versions", "set_max_versions"]

MAX_KEPT_VERSIONS = 10_000


def _write_action(target: Target) -> Action:
    return Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS


def max_versions(installation: Installation, actor: Principal, target: Target) -> int | None:
    """How many versions each secret of ``target``'s own level keeps (None: all)."""
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack)
    with installation.store.read() as conn:
        return tenancy_queries.max_versions_of(conn, target.account.id, target.stack_id)


def set_max_versions(
    installation: Installation, actor: Principal, target: Target, limit: int | None
) -> None:
    """Keep at most ``limit`` versions per secret of this level (never fewer than the current
    and the previous one); older versions' ciphertexts are destroyed on the next write of each
    key. None keeps all."""
    if limit is not None and not 1 <= limit <= MAX_KEPT_VERSIONS:
        raise InvalidInput(f"max_versions must be between 1 and {MAX_KEPT_VERSIONS}, or none")
    allow(
        installation, actor, _write_action(target), target.account, target.stack, max_versions=limit
    )

    def work(conn: Connection) -> None:
        tenancy_queries.set_max_versions(conn, target.account.id, target.stack_id, limit)
        record(
            conn,
            installation,
            actor,
            "secret.policy",
            account=target.account,
            stack=target.stack,
            detail={"max_versions": limit},
        )

    installation.store.transact(work, "setting max_versions")
