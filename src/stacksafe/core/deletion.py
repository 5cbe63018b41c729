"""Deleting a stack or an account.

Refused (``Conflict``, nothing changed) while the level holds any value, current or in its
history, unless forced: then every ciphertext is destroyed first, each key audited as a
``secret.destroy`` event (its versions destroyed), and the level is deleted, in the same
transaction. A deleted level's history rows stay, marked (store.deletion, revision 0017): its
row (``deleted_at``, the name it had), its secrets and every version row (author, time, action,
``destroyed_at``), listed by core.deleted_levels; and the hash-chained audit log names it
(``secret.destroy`` per key, then ``stack.delete`` / ``account.delete``). What goes is what gives
access or could open anything: its roles, its data keys (no stored byte can open anything of
it), its rotation policies and its KV bookkeeping. Its name is free again at once.

A deleted stack stops being served at once by every server: everything that serves one looks
its uid up in the database first (core.reveal's at-hand read included; a KV path whose kept uid
no longer resolves is resolved again by name, core.kv.paths), and deleting its rows changes
the principals revision (migration 0009) and its roles'.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.guard import allow, require_owner
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import visible_stack, visible_target
from stacksafe.errors import Conflict, NotFound
from stacksafe.model import Account, Stack
from stacksafe.store import Connection
from stacksafe.store import deletion as queries
from stacksafe.store import oidc as oidc_queries
from stacksafe.store import principals as principal_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store import workload as workload_queries
from stacksafe.store.level_writes import lock_level

__all__ = ["DeletedLevel", "delete_account", "delete_stack"]

# How many held keys a refusal names (the count says the rest).
NAMED_IN_REFUSAL = 5


@dataclass(frozen=True, slots=True)
class DeletedLevel:
    """What a delete removed: the level, and the keys whose values it destroyed first."""

    account: Account
    stack: Stack | None  # None: the account (with ``stacks``)
    stacks: tuple[str, ...]  # names of the stacks deleted with an account
    destroyed: dict[str, tuple[int, ...]]  # "key" or "stack/key" -> versions destroyed


def delete_stack(
    installation: Installation,
    actor: Principal,
    stack_ref: str,
    account_ref: str | None = None,
    *,
    force: bool = False,
) -> DeletedLevel:
    """Delete a stack (whoever may manage its account's stacks); ``force``: destroy the values
    it holds first. Audited as ``stack.delete``."""
    stack = visible_stack(installation, actor, stack_ref, account_ref)
    account = visible_target(installation, actor, stack_uid=stack.uid).account
    allow(installation, actor, Action.MANAGE_STACKS, account, None, stack_uid=stack.uid)
    # And on the stack itself: a stack role below the account's (a demotion there) wins.
    allow(installation, actor, Action.MANAGE_STACKS, account, stack, stack_uid=stack.uid)

    def work(conn: Connection) -> DeletedLevel:
        lock_level(conn, account.id, stack.id)
        if tenancy_queries.stack_by_id(conn, stack.id) is None:
            raise NotFound(f"stack {stack_ref!r} does not exist")
        _refuse_bound_roles(conn, f"stack {stack.name!r}", account.id, stack.uid)
        held = queries.held_keys(conn, account.id, stack.id)
        if held and not force:
            raise _holds(f"stack {stack.name!r}", [h.key for h in held])
        queries.overwrite_freed(conn, True)
        destroyed = _destroy(conn, installation, actor, account, stack, held, "stack.delete")
        _delete_stack(conn, installation, actor, account, stack, len(destroyed), None)
        queries.overwrite_freed(conn, False)
        return DeletedLevel(account, stack, (), destroyed)

    deleted = installation.store.transact(work, f"deleting stack {stack.name!r}")
    queries.checkpoint_freed(installation.store)
    return deleted


def delete_account(
    installation: Installation, actor: Principal, account_ref: str, *, force: bool = False
) -> DeletedLevel:
    """Delete an account and all its stacks (the server owner only, as for creating one);
    ``force``: destroy every value they hold first. Audited as ``account.delete``."""
    require_owner(
        installation,
        actor,
        "account.delete",
        "only the server owner may delete accounts",
        admin_scope=True,
        detail={"account": account_ref},
    )
    account = visible_target(installation, actor, account_ref=account_ref).account

    def work(conn: Connection) -> DeletedLevel:
        lock_level(conn, account.id, None)
        if tenancy_queries.account_by_id(conn, account.id) is None:
            raise NotFound(f"account {account_ref!r} does not exist")
        _refuse_bound_roles(conn, f"account {account.name!r}", account.id, None)
        _refuse_group_mappings(conn, account)
        stacks = tenancy_queries.list_stacks(conn, account.id)
        own = queries.held_keys(conn, account.id, None)
        held = {s.id: queries.held_keys(conn, account.id, s.id) for s in stacks}
        named = [h.key for h in own] + [f"{s.name}/{h.key}" for s in stacks for h in held[s.id]]
        if named and not force:
            raise _holds(f"account {account.name!r} (with its stacks)", named)
        queries.overwrite_freed(conn, True)
        destroyed: dict[str, tuple[int, ...]] = {}
        for stack in stacks:
            lock_level(conn, account.id, stack.id)
            done = _destroy(
                conn, installation, actor, account, stack, held[stack.id], "account.delete"
            )
            destroyed |= {f"{stack.name}/{k}": v for k, v in done.items()}
            _delete_stack(conn, installation, actor, account, stack, len(done), "account.delete")
        destroyed |= _destroy(conn, installation, actor, account, None, own, "account.delete")
        members = queries.delete_account_level(conn, account.id, installation.clock())
        queries.overwrite_freed(conn, False)
        record(
            conn,
            installation,
            actor,
            "account.delete",
            account=account,
            detail={
                "name": account.name,
                "stacks": [s.name for s in stacks],
                "destroyed_keys": len(destroyed),
                "members_removed": _emails(conn, members),
            },
        )
        return DeletedLevel(account, None, tuple(s.name for s in stacks), destroyed)

    deleted = installation.store.transact(work, f"deleting account {account.name!r}")
    queries.checkpoint_freed(installation.store)
    return deleted


def _refuse_bound_roles(
    conn: Connection, what: str, account_id: int, stack_uid: str | None
) -> None:
    """Workload logins (JWT roles, core.workload) that give a role in the account, or a token
    narrowed to the stack: removing them is the owner's own decision, made first (a CI job
    that logs in would otherwise find its login gone with the stack, silently)."""
    bound = sorted(
        r.name
        for r in workload_queries.list_roles(conn)
        if r.account_id == account_id and (stack_uid is None or stack_uid in (r.stack_uids or ()))
    )
    if bound:
        raise Conflict(
            f"{what} is used by JWT role(s) {', '.join(bound)}; nothing was deleted: remove "
            "them first (stacksafe auth jwt remove-role NAME)"
        )


def _refuse_group_mappings(conn: Connection, account: Account) -> None:
    """Single sign-on's group mappings (core.oidc) that give a role in the account: each
    sign-in would give it again, so the owner changes the mapping first, as for JWT roles."""
    groups = sorted({r.group for r in oidc_queries.group_roles(conn) if r.account_id == account.id})
    if groups:
        raise Conflict(
            f"account {account.name!r} is given by single sign-on's group mapping(s) "
            f"{', '.join(groups)}; nothing was deleted: configure single sign-on without them "
            "first (stacksafe auth oidc configure ... --map-group)"
        )


def _holds(what: str, keys: list[str]) -> Conflict:
    shown = ", ".join(keys[:NAMED_IN_REFUSAL]) + (", ..." if len(keys) > NAMED_IN_REFUSAL else "")
    return Conflict(
        f"{what} holds values of {len(keys)} key(s) ({shown}), current or in history; nothing "
        "was deleted: give --force to destroy them and delete it"
    )


def _destroy(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    account: Account,
    stack: Stack | None,
    held: list[queries.HeldKey],
    by: str,
) -> dict[str, tuple[int, ...]]:
    """Destroy the level's ciphertexts, one ``secret.destroy`` event per key."""
    if not held:
        return {}
    queries.destroy_held(
        conn, account.id, None if stack is None else stack.id, installation.clock()
    )
    for key in held:
        detail: dict[str, object] = {
            "keys": {key.key: key.current_version},
            "destroyed_versions": {key.key: list(key.versions)},
            "by": by,
        }
        if key.pending:
            detail["pending_rotation"] = True
        record(
            conn, installation, actor, "secret.destroy", account=account, stack=stack, detail=detail
        )
    return {key.key: key.versions for key in held}


def _delete_stack(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    account: Account,
    stack: Stack,
    destroyed: int,
    by: str | None,
) -> None:
    holders = queries.delete_stack(conn, account.id, stack.id, installation.clock())
    detail: dict[str, object] = {
        "name": stack.name,
        "environment": stack.environment,
        "destroyed_keys": destroyed,
        "roles_removed": _emails(conn, holders),
    }
    if by is not None:
        detail["by"] = by
    record(conn, installation, actor, "stack.delete", account=account, stack=stack, detail=detail)


def _emails(conn: Connection, user_ids: list[int]) -> list[str]:
    return sorted(u.email for i in user_ids if (u := principal_queries.user_by_id(conn, i)))
