"""Subscribing to a level's changes: ``stacksafe webhooks add|list|remove|pause|resume|status``.

Whoever may manage an account's stacks (an ``admin`` token, the role to delete a stack) may add,
change and see the webhooks of the account and of its stacks; each change is audited
(``webhook.add`` ...; the URL's origin only, never its path or query, which may hold the
receiver's token). The signing secret must exist at the level when the webhook is added; its
value is read only when a batch is signed (core.webhooks.sink). A new webhook gets the changes
made after it was added. One whose stack or account is deleted stops, and lists as stopped.
"""

from __future__ import annotations

from stacksafe.core.access import Action, Principal, authorize, can_see_account
from stacksafe.core.audit import record
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret
from stacksafe.core.streams.config import checked_url, seal_named
from stacksafe.core.streams.delivery import delivery_state
from stacksafe.core.tenancy import Target, visible_stack, visible_target
from stacksafe.core.validation import validate_key
from stacksafe.core.workload.issuers import check_name
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound
from stacksafe.model import Account, Stack, Webhook
from stacksafe.store import Connection
from stacksafe.store import audit as audit_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store import webhooks as queries
from stacksafe.store.webhooks import StoredWebhook

__all__ = [
    "add_webhook",
    "list_webhooks",
    "remove_webhook",
    "sealed_url_name",
    "set_paused",
]


def sealed_url_name(account_uid: str, name: str) -> str:
    """What a webhook's sealed URL is bound to: it opens under no other webhook's row."""
    return f"webhook:{account_uid}:{name}"


def _level(
    installation: Installation, actor: Principal, stack: str | None, account: str | None
) -> Target:
    if stack is not None:
        found = visible_stack(installation, actor, stack, account)
        return visible_target(installation, actor, stack_uid=found.uid)
    if account is not None:
        return visible_target(installation, actor, account_ref=account)
    raise InvalidInput("name the level: --stack STACK [--account ACCOUNT], or --account ACCOUNT")


def _allow(installation: Installation, actor: Principal, target: Target, name: str) -> None:
    # As deleting a stack: the account's stacks managed, and a stack's own role (a demotion
    # there) counts too.
    allow(installation, actor, Action.MANAGE_STACKS, target.account, None, webhook=name)
    if target.stack is not None:
        allow(installation, actor, Action.MANAGE_STACKS, target.account, target.stack, webhook=name)


def add_webhook(
    installation: Installation,
    actor: Principal,
    name: str,
    *,
    url: str,
    signing_key: str,
    stack: str | None = None,
    account: str | None = None,
) -> Webhook:
    """Subscribe ``url`` to the changes of the stack (or the account, its stacks' too) made
    from now on, signed with the value of the level's secret ``signing_key``."""
    check_name(name, "webhook")
    origin = checked_url(url)
    validate_key(signing_key)
    target = _level(installation, actor, stack, account)
    _allow(installation, actor, target, name)
    try:  # it must exist (no value read: that is done when a batch is signed)
        get_secret(installation, actor, target, signing_key, reveal=False)
    except NotFound:
        raise InvalidInput(
            f"the signing key secret {signing_key!r} does not exist in {target.describe()}: "
            "set it first"
        ) from None
    sealed = seal_named(installation, sealed_url_name(target.account.uid, name), url.encode())

    def work(conn: Connection) -> StoredWebhook:
        if queries.webhook_by_name(conn, target.account.id, name) is not None:
            raise Conflict(
                f"webhook {name!r} already exists in account {target.account.name!r} "
                "(remove it first)"
            )
        head = audit_queries.read_head(conn)
        cursor = 0 if head is None else head[0]
        stored = queries.insert_webhook(
            conn,
            account_id=target.account.id,
            stack_id=target.stack_id,
            name=name,
            origin=origin,
            sealed_url=sealed,
            signing_key=signing_key,
            cursor=cursor,
            created_by=actor.name,
            now=installation.clock(),
        )
        detail = {"name": name, "origin": origin, "signing_key": signing_key, "after_seq": cursor}
        record(
            conn,
            installation,
            actor,
            "webhook.add",
            account=target.account,
            stack=target.stack,
            detail=detail,
        )
        return stored

    stored = installation.store.transact(work, f"adding webhook {name}")
    return _info(stored, stored.cursor)


def list_webhooks(
    installation: Installation, actor: Principal, account: str | None = None
) -> list[Webhook]:
    """The webhooks ``actor`` may manage (of ``account`` only, when named: refused, and
    recorded, unless ``actor`` may manage its stacks), with their state."""
    only = None if account is None else visible_target(installation, actor, account_ref=account)
    if only is not None:
        allow(installation, actor, Action.MANAGE_STACKS, only.account, None, webhook="*")
    with installation.store.read() as conn:
        head = audit_queries.read_head(conn)
        found = queries.list_webhooks(conn, None if only is None else [only.account.id])
        mine = [hook for hook in found if _may(conn, actor, hook)]
    top = 0 if head is None else head[0]
    return [_info(hook, top) for hook in mine]


def remove_webhook(
    installation: Installation, actor: Principal, name: str, account: str | None = None
) -> Webhook:
    """Stop and forget it (what its receiver got stays there); it as it was."""
    return _change(installation, actor, name, account, "remove")


def set_paused(
    installation: Installation,
    actor: Principal,
    name: str,
    paused: bool,
    account: str | None = None,
) -> Webhook:
    """Pause (its loop stops after the batch under way) or resume (from its cursor: the
    changes made meanwhile are sent then, none lost); it as it is now."""
    return _change(installation, actor, name, account, "pause" if paused else "resume")


def _change(
    installation: Installation,
    actor: Principal,
    name: str,
    account: str | None,
    action: str,
) -> Webhook:
    hook, levels = _find(installation, actor, name, account)
    if levels is None:  # its level is deleted: only its owner sees it (below), no role counts
        if not actor.is_owner:
            raise NotFound(f"webhook {name!r} does not exist")
    else:
        _allow(installation, actor, levels, name)

    def work(conn: Connection) -> Webhook:
        found = queries.webhook_by_id(conn, hook.id)
        if found is None:
            raise NotFound(f"webhook {name!r} does not exist")
        head = audit_queries.read_head(conn)
        if action == "remove":
            queries.delete_webhook(conn, found.id)
            after = found
        else:
            queries.CURSORS.set_paused(conn, found.id, action == "pause")
            after = queries.webhook_by_id(conn, found.id) or found
        detail = {"name": name, "cursor": found.cursor}
        if levels is None:
            detail |= {"account_uid": found.account_uid, "stack_uid": found.stack_uid}
        record(
            conn,
            installation,
            actor,
            f"webhook.{action}",
            account=None if levels is None else levels.account,
            stack=None if levels is None else levels.stack,
            detail=detail,
        )
        return _info(after, 0 if head is None else head[0])

    return installation.store.transact(work, f"webhook {name}: {action}")


def _find(
    installation: Installation, actor: Principal, name: str, account: str | None
) -> tuple[StoredWebhook, Target | None]:
    """The webhook ``name`` of an account ``actor`` can see (``account``: that one), and its
    live level (None when deleted)."""
    only = None if account is None else visible_target(installation, actor, account_ref=account)
    with installation.store.read() as conn:
        found = [
            (hook, _live(conn, hook))
            for hook in queries.list_webhooks(conn, None if only is None else [only.account.id])
            if hook.name == name
        ]
    seen = [
        (hook, level)
        for hook, level in found
        if actor.is_owner or (level is not None and can_see_account(actor, level.account))
    ]
    if not seen:
        raise NotFound(f"webhook {name!r} does not exist")
    if len(seen) > 1:
        raise InvalidInput(f"webhook name {name!r} is in several accounts: name the account too")
    return seen[0]


def _live(conn: Connection, hook: StoredWebhook) -> Target | None:
    """The webhook's level as it is now; None when deleted."""
    if hook.level_deleted:
        return None
    account = tenancy_queries.account_by_id(conn, hook.account_id)
    stack = None if hook.stack_id is None else tenancy_queries.stack_by_id(conn, hook.stack_id)
    if account is None or (hook.stack_id is not None and stack is None):
        return None
    return Target(account, stack)


def _may(conn: Connection, actor: Principal, hook: StoredWebhook) -> bool:
    """Whether ``actor`` may manage it (asked quietly: a list shows what it may, refuses
    nothing). A deleted level's: the server owner's alone."""
    level = _live(conn, hook)
    if level is None:
        return actor.is_owner
    return _authorized(actor, level.account, None) and (
        level.stack is None or _authorized(actor, level.account, level.stack)
    )


def _authorized(actor: Principal, account: Account, stack: Stack | None) -> bool:
    try:
        authorize(actor, Action.MANAGE_STACKS, account, stack)
    except (Forbidden, NotFound):
        return False
    return True


def _info(hook: StoredWebhook, head: int) -> Webhook:
    if hook.level_deleted:
        state = f"stopped ({'stack' if hook.stack_id is not None else 'account'} deleted)"
    else:
        state = delivery_state(hook.paused, hook.last_error)
    return Webhook(
        name=hook.name,
        account_uid=hook.account_uid,
        account_name=hook.account_name,
        stack_uid=hook.stack_uid,
        stack_name=hook.stack_name,
        origin=hook.origin,
        signing_key=hook.signing_key,
        paused=hook.paused,
        state=state,
        cursor=hook.cursor,
        behind=max(0, head - hook.cursor),
        last_delivered_at=hook.last_delivered_at,
        last_error=hook.last_error,
        last_error_at=hook.last_error_at,
        created_at=hook.created_at,
        created_by=hook.created_by,
    )
