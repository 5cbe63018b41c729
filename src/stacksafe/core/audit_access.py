"""Who may read which audit log: an account's, its administrators; the whole log, the owner.

The API's two audit routes and the web UI's audit page ask here, so the rule and the refusal
each records are the same whichever face is asked.
"""

from __future__ import annotations

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.guard import allow, refuse, require_owner
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import list_accounts
from stacksafe.errors import Forbidden, NotFound
from stacksafe.model import Account

__all__ = [
    "NO_ACCOUNT_LOG",
    "WHOLE_LOG_ONLY_OWNER",
    "audit_log_to_read",
    "may_read_audit",
    "readable_logs",
]

WHOLE_LOG_ONLY_OWNER = "only the server owner, with an admin-scoped token, may read the whole log"
NO_ACCOUNT_LOG = "reading the audit log needs the administrator role in an account"


def may_read_audit(actor: Principal, account: Account) -> bool:
    """Whether ``actor`` may read ``account``'s log: to decide what to show, never what to do."""
    try:
        authorize(actor, Action.READ_AUDIT, account, None)
    except (Forbidden, NotFound):
        return False
    return True


def readable_logs(installation: Installation, actor: Principal) -> list[Account]:
    """The accounts whose log ``actor`` may read, of those it can see."""
    return [a for a in list_accounts(installation, actor) if may_read_audit(actor, a)]


def audit_log_to_read(
    installation: Installation,
    actor: Principal,
    account: Account | None,
    *,
    first_readable: bool = False,
) -> Account | None:
    """The log ``actor`` reads: ``account``'s (its administrators may), or without one the
    whole log, None (the server owner, with an admin-scoped token when a token). A refusal is
    recorded (core.guard) and raised.

    ``first_readable`` (the web UI's audit page): without ``account``, a caller who is not the
    owner reads the first account's log it may read, rather than being refused the whole log.
    """
    if account is not None:
        allow(installation, actor, Action.READ_AUDIT, account)
        return account
    if first_readable and not actor.is_owner:
        readable = readable_logs(installation, actor)
        if not readable:
            raise refuse(installation, actor, Action.READ_AUDIT.value, Forbidden(NO_ACCOUNT_LOG))
        return readable[0]
    require_owner(
        installation, actor, Action.READ_AUDIT.value, WHOLE_LOG_ONLY_OWNER, admin_scope=True
    )
    return None
