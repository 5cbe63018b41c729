"""Who may read which audit log: an account's, its administrators; the whole log, the owner.

The API's two audit routes and the web UI's audit page ask here, so the rule and the refusal
each records are the same whichever face is asked.
"""

from __future__ import annotations

from stacksafe.core.access import ROLE_PERMISSIONS, Action, Principal, authorize
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
    "may_read_some_log",
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


def may_read_some_log(actor: Principal) -> bool:
    """Whether some log is ``actor``'s to read (the whole log, or an account's): to decide
    whether to show a link to the audit page, never what to do. From the principal alone, so
    every page can ask, even one that reports the database down; it agrees with
    ``readable_logs`` and the owner's rule (tests/web/test_audit_page.py)."""
    if actor.scopes is not None:
        # A log is read at account level with the admin scope: a token without it, or one
        # narrowed to stacks or environments, reads none.
        if "admin" not in actor.scopes:
            return False
        if actor.token_stacks is not None or actor.token_environments is not None:
            return False
    if actor.is_owner:
        return True
    return any(Action.READ_AUDIT in ROLE_PERMISSIONS[r] for r in actor.account_roles.values())


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
