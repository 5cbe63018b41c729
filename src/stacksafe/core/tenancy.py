"""Accounts, stacks, and resolving what a caller names (a uid or a name) to one of them."""

from __future__ import annotations

import secrets as random
from dataclasses import dataclass, field

from stacksafe.core.access import (
    Action,
    Principal,
    can_see_account,
    can_see_stack,
    token_reaches,
)
from stacksafe.core.audit import record, record_denied
from stacksafe.core.guard import allow, require_owner
from stacksafe.core.inheritance import inherits
from stacksafe.core.installation import Installation
from stacksafe.core.validation import unstorable, validate_environment, validate_name
from stacksafe.crypto import Scope
from stacksafe.errors import Conflict, InvalidInput, NotFound
from stacksafe.model import Account, Stack
from stacksafe.store import Connection
from stacksafe.store import environments as environment_queries
from stacksafe.store import tenancy as queries
from stacksafe.store.level_writes import level_write

__all__ = [
    "Target",
    "create_account",
    "create_stack",
    "find_account",
    "find_stack",
    "list_accounts",
    "list_stacks",
    "record_stack_created",
    "resolve_target",
    "stack_target_of",
    "visible_stack",
    "visible_target",
]


def _new_uid() -> str:
    return random.token_hex(16)


@dataclass(frozen=True, slots=True)
class Target:
    """Where secrets are read or written: an account's own level, or one of its stacks."""

    account: Account
    stack: Stack | None = None
    # The revision of the level's stored secrets when the target was read (store.secrets
    # .secrets_revision), if it was read with it: lets a read use what it opened before
    # (core.read_cache) without another query. Not part of what the target is.
    revision: str | None = field(default=None, compare=False)

    @property
    def stack_id(self) -> int | None:
        return None if self.stack is None else self.stack.id

    @property
    def scope(self) -> Scope:
        return Scope(self.account.uid, None if self.stack is None else self.stack.uid)

    def describe(self) -> str:
        if self.stack is None:
            return f"account {self.account.name!r}"
        return f"stack {self.stack.name!r} of account {self.account.name!r}"


def create_account(installation: Installation, actor: Principal, name: str) -> Account:
    validate_name("account", name)
    require_owner(
        installation,
        actor,
        "account.create",
        "only the server owner may create accounts",
        detail={"name": name},
    )

    def work(conn: Connection) -> Account:
        if queries.account_by_name(conn, name) is not None:
            raise Conflict(f"account {name!r} already exists")
        account = queries.insert_account(conn, _new_uid(), name, installation.clock())
        record(conn, installation, actor, "account.create", account=account, detail={"name": name})
        return account

    return installation.store.transact(work, f"creating account {name!r}")


def _account(conn: Connection, ref: str) -> Account:
    found = (
        None
        if unstorable(ref)
        else queries.account_by_uid(conn, ref) or queries.account_by_name(conn, ref)
    )
    if found is None:
        raise NotFound(f"account {ref!r} does not exist")
    return found


def find_account(installation: Installation, ref: str) -> Account:
    """The account whose uid or name is ``ref``."""
    with installation.store.read() as conn:
        return _account(conn, ref)


def list_accounts(installation: Installation, actor: Principal) -> list[Account]:
    """The accounts ``actor`` can see."""
    with installation.store.read() as conn:
        return [a for a in queries.list_accounts(conn) if can_see_account(actor, a)]


def create_stack(
    installation: Installation, actor: Principal, account_ref: str, name: str, environment: str
) -> Stack:
    validate_name("stack", name)
    validate_environment(environment)

    account = visible_target(installation, actor, account_ref=account_ref).account
    allow(installation, actor, Action.MANAGE_STACKS, account, None, name=name)

    def work(conn: Connection) -> Stack:
        if queries.stacks_by_name(conn, name, account.id):
            raise Conflict(f"stack {name!r} already exists in account {account.name!r}")
        stack = queries.insert_stack(
            conn, _new_uid(), account.id, name, environment, installation.clock()
        )
        record_stack_created(conn, installation, actor, account, stack)
        return stack

    return installation.store.transact(work, f"creating stack {name!r}")


def _stack(conn: Connection, ref: str, account: Account | None) -> Stack:
    if unstorable(ref):
        raise NotFound(f"stack {ref!r} does not exist")
    by_uid = queries.stack_by_uid(conn, ref)
    if by_uid is not None and (account is None or by_uid.account_id == account.id):
        return by_uid
    matches = queries.stacks_by_name(conn, ref, None if account is None else account.id)
    if not matches:
        where = "" if account is None else f" in account {account.name!r}"
        raise NotFound(f"stack {ref!r} does not exist{where}")
    if len(matches) > 1:
        owners = sorted(
            a.name for s in matches if (a := queries.account_by_id(conn, s.account_id)) is not None
        )
        raise InvalidInput(
            f"stack name {ref!r} exists in accounts {', '.join(owners)}; "
            "name the account too (--account) or use the stack uid"
        )
    return matches[0]


def find_stack(installation: Installation, ref: str, account_ref: str | None = None) -> Stack:
    """The stack whose uid or name is ``ref`` (within ``account_ref`` when given)."""
    with installation.store.read() as conn:
        account = None if account_ref is None else _account(conn, account_ref)
        return _stack(conn, ref, account)


def list_stacks(
    installation: Installation,
    actor: Principal,
    account_ref: str | None = None,
    environment: str | None = None,
) -> list[Stack]:
    """The stacks ``actor`` can see, of one account or of all, optionally of one environment;
    for a narrowed token, only the stacks it is valid for (it may describe no other)."""
    with installation.store.read() as conn:
        account_id = None
        if account_ref is not None:
            account = _account(conn, account_ref)
            if not can_see_account(actor, account):
                raise NotFound(f"account {account_ref!r} does not exist")
            account_id = account.id
        return [
            s
            for s in queries.list_stacks(conn, account_id)
            if can_see_stack(actor, s)
            and token_reaches(actor, s)
            and (environment is None or s.environment == environment)
        ]


def record_stack_created(
    conn: Connection, installation: Installation, actor: Principal, account: Account, stack: Stack
) -> None:
    """The audit event of a new stack, in the transaction that inserted it (``create_stack``,
    ``core.bulk.load_stacks``), and its creation write: where its KV path's versions start
    (store.level_writes), a version of its own when it inherits something at once."""
    restrictions = environment_queries.account_environments(conn, account.id)
    inherited = any(inherits(stack.environment, r) for r in restrictions)
    level_write(conn, account.id, stack.id, installation.clock(), counted=inherited)
    record(
        conn,
        installation,
        actor,
        "stack.create",
        account=account,
        stack=stack,
        detail={"name": stack.name, "environment": stack.environment},
    )


def visible_target(
    installation: Installation,
    actor: Principal,
    *,
    account_ref: str | None = None,
    stack_uid: str | None = None,
    for_reading: bool = False,
) -> Target:
    """The account (uid or name) or stack (uid only) named, if ``actor`` may know it exists.

    Anything else is the same ``NotFound``, so probing reveals nothing about other accounts.
    ``for_reading``: the target carries the revision of the stack's secrets as read now, so a
    read can use what it opened before without asking again (core.read_cache). Only for work that
    reads and does not write: after a write, that revision is out of date for the writer.
    """
    if stack_uid is not None:
        with installation.store.read() as conn:
            found_pair = (
                None if unstorable(stack_uid) else queries.stack_and_account_by_uid(conn, stack_uid)
            )
        return stack_target_of(installation, actor, stack_uid, found_pair, for_reading=for_reading)
    ref = account_ref or ""
    with installation.store.read() as conn:
        found = (
            None
            if unstorable(ref)
            else queries.account_by_uid(conn, ref) or queries.account_by_name(conn, ref)
        )
    if found is not None and can_see_account(actor, found):
        return Target(found)
    missing = NotFound(f"account {ref!r} does not exist")
    if found is not None:
        # Someone probing another account: the caller sees "does not exist", the log sees who.
        record_denied(installation, actor, "access", missing.message, account=found)
    raise missing


def visible_stack(
    installation: Installation, actor: Principal, ref: str, account_ref: str | None = None
) -> Stack:
    """The stack ``ref`` (uid or name, within ``account_ref`` when given) among those
    ``actor`` can see; anything else does not exist (for commands that name a stack to manage
    it: deleting it, removing a role in it)."""
    if account_ref is not None:
        account = visible_target(installation, actor, account_ref=account_ref).account
        found = find_stack(installation, ref, account.uid)
        # Whether the actor may see it: refused (and recorded) as any probe is, NotFound.
        stack = visible_target(installation, actor, stack_uid=found.uid).stack
        assert stack is not None  # noqa: S101 - a stack was named
        return stack
    matches = [s for s in list_stacks(installation, actor) if ref in (s.uid, s.name)]
    if not matches:
        raise NotFound(f"stack {ref!r} does not exist")
    if len(matches) > 1:
        raise InvalidInput(f"stack name {ref!r} is in several accounts: name the account too")
    return matches[0]


def stack_target_of(
    installation: Installation,
    actor: Principal,
    stack_uid: str,
    found: tuple[Stack, Account, str] | None,
    *,
    for_reading: bool = True,
) -> Target:
    """``visible_target(stack_uid=...)`` once the stack has been read (``found``: what
    ``store.tenancy.stack_and_account_by_uid`` gave, in the caller's read)."""
    if found is not None:
        stack, account, revision = found
        if can_see_stack(actor, stack):
            return Target(account, stack, revision if for_reading else None)
        missing = NotFound(f"stack {stack_uid!r} does not exist")
        # Someone probing another account: the caller sees "does not exist", the log sees who.
        record_denied(installation, actor, "access", missing.message, account=account, stack=stack)
        raise missing
    raise NotFound(f"stack {stack_uid!r} does not exist")


def resolve_target(installation: Installation, *, account: str | None, stack: str | None) -> Target:
    """The level a command names: ``stack`` (optionally within ``account``) or ``account``."""
    if account is None and stack is None:
        raise InvalidInput("name where the secrets are: --stack STACK or --account ACCOUNT")
    with installation.store.read() as conn:
        owner = None if account is None else _account(conn, account)
        if stack is None and owner is not None:
            return Target(owner)
        assert stack is not None  # noqa: S101 - one of the two is given, checked above
        found = _stack(conn, stack, owner)
        if owner is None:
            owner = queries.account_by_id(conn, found.account_id)
            if owner is None:  # pragma: no cover - prevented by the foreign key
                raise NotFound(f"account of stack {stack!r} does not exist")
        return Target(owner, found)
