"""Authorization that leaves a trace: a refusal is written to the audit log, then raised."""

from __future__ import annotations

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.audit import record_denied
from stacksafe.core.vault import Vault
from stacksafe.errors import Forbidden, NotFound
from stacksafe.model import Account, Stack

__all__ = ["allow"]


def allow(
    vault: Vault,
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
            vault, actor, action.value, exc.message, account=account, stack=stack, detail=detail
        )
        raise
