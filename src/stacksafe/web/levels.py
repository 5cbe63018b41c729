"""Where a page's secrets live (an account's own level or a stack), and what the user may do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.errors import Forbidden, NotFound

__all__ = ["Kind", "level_target", "level_url", "may", "on_both_levels"]

F = TypeVar("F", bound=Callable[..., Any])


def _kind(request: Request) -> str:
    return request.url.path.split("/")[1]


# "accounts" or "stacks": which of the two routes ``on_both_levels`` made was called.
Kind = Annotated[str, Depends(_kind)]


def on_both_levels(router: APIRouter, method: str, suffix: str) -> Callable[[F], F]:
    """Register one handler under ``/accounts/{ref}`` and ``/stacks/{ref}`` (fixed prefixes, so
    no pattern can ever catch a path of the API)."""

    def register(handler: F) -> F:
        for prefix in ("/accounts/{ref}", "/stacks/{ref}"):
            router.add_api_route(prefix + suffix, handler, methods=[method])
        return handler

    return register


def level_target(installation: Installation, actor: Principal, kind: str, ref: str) -> Target:
    if kind == "stacks":
        return visible_target(installation, actor, stack_uid=ref)
    return visible_target(installation, actor, account_ref=ref)


def level_url(target: Target) -> str:
    if target.stack is not None:
        return f"/stacks/{target.stack.uid}"
    return f"/accounts/{target.account.uid}"


def may(actor: Principal, action: Action, target: Target) -> bool:
    """Whether ``authorize`` would allow it: to decide what to show, never what to do (the core
    functions decide that, and audit a refusal)."""
    try:
        authorize(actor, action, target.account, target.stack)
    except (Forbidden, NotFound):
        return False
    return True
