"""Refusals and integrity failures that leave a trace: each is one audit event, then raised.

Every refusal goes through here (``allow``, ``require_owner``, ``refuse``), and so does every
read that meets damaged stored data (``record_damage``): one place decides what such an
event holds (the action attempted, ``outcome`` ``denied`` or ``integrity_error``, the reason,
never a value), so no face or rule can forget to record one.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import TypeVar

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.audit import append, record_denied
from stacksafe.core.installation import Installation
from stacksafe.errors import Forbidden, IntegrityError, NotFound, StacksafeError
from stacksafe.model import Account, Stack

__all__ = ["INTEGRITY_OUTCOME", "allow", "record_damage", "refuse", "require_owner"]

# The outcome of an event that records damaged stored data met by a read or a write.
INTEGRITY_OUTCOME = "integrity_error"

E = TypeVar("E", bound=StacksafeError)


def allow(
    installation: Installation,
    actor: Principal,
    action: Action,
    account: Account,
    stack: Stack | None = None,
    **detail: object,
) -> None:
    """``authorize``, recording a refusal (``outcome: denied``) before raising it."""
    try:
        authorize(actor, action, account, stack)
    except (Forbidden, NotFound) as exc:
        record_denied(
            installation,
            actor,
            action.value,
            exc.message,
            account=account,
            stack=stack,
            detail=detail,
        )
        raise


def refuse(
    installation: Installation,
    actor: Principal,
    action: str,
    error: E,
    *,
    account: Account | None = None,
    stack: Stack | None = None,
    detail: Mapping[str, object] | None = None,
) -> E:
    """Record ``error`` as the refusal of ``action`` (one ``denied`` event); returns it, for the
    caller to raise: ``raise refuse(...)``."""
    record_denied(
        installation,
        actor,
        action,
        error.message,
        account=account,
        stack=stack,
        detail=dict(detail or {}),
    )
    return error


def require_owner(
    installation: Installation,
    actor: Principal,
    action: str,
    why: str,
    *,
    admin_scope: bool = False,
    detail: Mapping[str, object] | None = None,
) -> None:
    """Refuse (and record) ``action`` unless ``actor`` is the server owner (with a token:
    one with the ``admin`` scope, when ``admin_scope``, and never one narrowed to stacks or
    environments: what only the owner may do reaches beyond any stack)."""
    scoped = not admin_scope or actor.scopes is None or "admin" in actor.scopes
    narrowed = actor.token_stacks is not None or actor.token_environments is not None
    if actor.is_owner and scoped and not narrowed:
        return
    raise refuse(installation, actor, action, Forbidden(why), detail=detail)


def record_damage(
    installation: Installation,
    actor: Principal,
    action: str,
    damaged: IntegrityError,
    *,
    account: Account | None = None,
    stack: Stack | None = None,
    **detail: object,
) -> IntegrityError:
    """Record that ``action`` met damaged stored data: one event (``outcome:
    integrity_error``, the error's message: keys and versions, never a value), once per error
    however many layers pass it on; returns the error, for the caller to raise.

    Called from an ``except IntegrityError`` around the read, so the happy path pays nothing.
    If the event cannot be written the integrity error is raised all the same: it is the
    cause, and /readyz reports the audit log that cannot be written.
    """
    if damaged.recorded:
        return damaged
    damaged.recorded = True
    with suppress(Exception):
        append(
            installation,
            actor,
            action,
            account=account,
            stack=stack,
            outcome=INTEGRITY_OUTCOME,
            detail={**detail, "reason": damaged.message},
        )
    return damaged
