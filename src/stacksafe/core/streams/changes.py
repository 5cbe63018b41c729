"""Change signatures of stacks: what tells a watcher (`run --watch`) that a stack's effective set
changed, for the API's push stream (api.change_hub, `GET /stacks/{uid}/changes`).

A stack's **signature** is a hash of its effective set as a describe shows it: each key, its
version, and whether it is inherited (never a value). It is the same on every server on the
database (a watcher reconnecting to another server behind a load balancer compares it), and
it changes exactly when what `run --watch` compares changes: a set, unset, rollback, rotation or
environment restriction at the stack or at its account. A write that changes nothing there (a
version pruned or destroyed, a key of another environment) changes the revisions polled but not
the signature, so no watcher is woken for it.

Polling is cheap: one read of the watched stacks' secrets revisions (migration 0007's triggers
replace them on every write, by any server or by plain SQL) and of the principals revision
(migration 0008: tokens, users, roles); a signature is computed again only for a stack whose
revisions moved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.guard import allow
from stacksafe.core.inheritance import overlay
from stacksafe.core.installation import Installation
from stacksafe.core.principals import authenticate_for_stack
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.errors import Forbidden, NotFound, Unauthenticated
from stacksafe.store import changes as queries

__all__ = [
    "StackState",
    "Watched",
    "open_watch",
    "poll",
    "signature_of",
    "still_watching",
]

# Hex characters of SHA-256 kept: 128 bits, far beyond any chance collision between two sets.
SIGNATURE_CHARS = 32


@dataclass(frozen=True, slots=True)
class StackState:
    """A watched stack as polled: ``revision`` changes on every write to its secrets or its
    account's (or a change of its environment); ``account_id`` and ``environment`` are what its
    effective set is read with."""

    revision: str
    account_id: int
    environment: str


@dataclass(frozen=True, slots=True)
class Watched:
    """One poll: the principals revision, and each watched stack still there, by id."""

    principals: str
    stacks: dict[int, StackState]


def poll(installation: Installation, stack_ids: Collection[int]) -> Watched:
    """The revisions of ``stack_ids`` and of the principals, in one read transaction."""
    with installation.store.read() as conn:
        principals, found = queries.watched_stacks(conn, stack_ids)
    return Watched(
        principals,
        {
            stack_id: StackState(
                f"{row.account_revision}/{row.stack_revision}/{row.environment}",
                row.account_id,
                row.environment,
            )
            for stack_id, row in found.items()
        },
    )


def signature_of(installation: Installation, stack_id: int, state: StackState) -> str:
    """The stack's signature (see the module) as stored now: read after ``state`` was polled,
    so a write in between shows as a new revision at the next poll, never as a missed change."""
    with installation.store.read() as conn:
        heads = queries.effective_heads(conn, state.account_id, stack_id)
    effective = overlay(heads, state.environment)
    described = [[h.key, h.version, h.stack_id is None] for h in effective]
    text = json.dumps(described, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:SIGNATURE_CHARS]


def open_watch(installation: Installation, actor: Principal, stack_uid: str) -> Target:
    """The stack ``actor`` asks to watch, if it may describe it: a stack it cannot see does not
    exist (404), one it may not describe is a 403; each refusal recorded, as a describe's."""
    target = visible_target(installation, actor, stack_uid=stack_uid)
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack, watch=True)
    return target


def still_watching(
    installation: Installation,
    token: str,
    stack_uid: str,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> str | None:
    """Why a stream opened with ``token`` on ``stack_uid`` must end now (the token revoked or
    expired, its user's role taken away, the stack deleted), or None while it may go on.

    Checked as at the stream's start, on every wake and heartbeat, with what a request's checks
    record (a stack its user may no longer see is an ``access`` refusal, as for any request)."""
    try:
        actor, target_of = authenticate_for_stack(
            installation, token, stack_uid, source_ip=source_ip, request_id=request_id
        )
        target = target_of()
        authorize(actor, Action.DESCRIBE, target.account, target.stack)
    except (Unauthenticated, Forbidden, NotFound) as exc:
        return exc.message
    return None
