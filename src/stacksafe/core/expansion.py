"""The write-time checks on references (core.references): a write after which a value would
expand beyond ``max_value_bytes``, or after which a value it writes would hold a reference
that cannot resolve (a missing target, a cycle, a chain too deep), is refused, naming the
value, in the write's own transaction, so nothing of it remains.

What a write can make grow: the values that use a written key, directly or through other
references. In a stack that is the stack's effective set (its own values and the account values
it inherits, which resolve in it); an account write reaches the account and every stack of it,
through ``${KEY}`` where a stack does not override KEY and through ``${account.KEY}``. Reads
enforce the same bound (and the per-read one) on their own, for data written before the bound
or under a higher limit; this check keeps such data from being written now.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from stacksafe.core.inheritance import inherits
from stacksafe.core.installation import Installation
from stacksafe.core.references import (
    ACCOUNT_PREFIX,
    broken_after_write,
    has_references,
    oversized_after_write,
)
from stacksafe.core.tenancy import Target
from stacksafe.crypto import Scope, ScopeKeys
from stacksafe.errors import Conflict, ExpansionTooLarge, IntegrityError
from stacksafe.model import Account, SecretValue, Stack
from stacksafe.store import Connection
from stacksafe.store import keys as key_queries
from stacksafe.store import secrets as queries
from stacksafe.store import tenancy as tenancy_queries

__all__ = ["check_expansion", "check_new_stacks", "check_written", "nothing_to_open"]


def check_expansion(
    conn: Connection,
    installation: Installation,
    target: Target,
    keys: Collection[str],
    *,
    written: Collection[str] = (),
) -> bool:
    """Refuse a write after which a value that uses one of ``keys`` (directly or through other
    references) would expand beyond ``max_value_bytes``: ``ExpansionTooLarge`` naming it; and
    a write of new values (``written``) after which one of them holds a reference that does
    not resolve where it is delivered (a stack value in its stack; an account value in every
    stack that inherits it and does not override it): ``Conflict`` naming the key and the
    reference. What a write leaves broken
    without writing it (deleting a key others reference) is not refused: reads isolate it.

    Called in the write's transaction after the write, so it sees what the write leaves and
    its refusal rolls the write back. A stack write is checked in that stack; an account write
    in the account and in every stack of it (what a stack inherits, and ``${account.KEY}``,
    can make a stack value grow), which opens every value of the account once.

    Returns whether no value it opened holds a reference (core.reference_free).
    """
    account = target.account
    account_values = _inheritable(conn, installation, account)
    if target.stack is None:
        values = {key: value for _, key, value in account_values}
        changed = [*keys, *(ACCOUNT_PREFIX + key for key in keys)]
        # Not ``written``: an account value is a template resolved in each stack that inherits
        # it (its ${HOST} may be every stack's own HOST), so it is checked in those stacks.
        _refuse_oversized(installation, target, values, values, changed, ())
        stacks = tenancy_queries.list_stacks(conn, account.id)
    else:
        stacks = [target.stack]
    own_values = _stacks_values(conn, installation, account, stacks)
    for stack in stacks:
        level = Target(account, stack)
        own = own_values.get(stack.id, {})
        if target.stack is None:
            # An account key changes what a stack's ${KEY} means only where it is not overridden.
            changed = [*(ACCOUNT_PREFIX + k for k in keys), *(k for k in keys if k not in own)]
        else:
            changed = list(keys)
        # An account key is read as KEY in a stack only where the stack does not override it.
        fresh = [k for k in written if target.stack is not None or k not in own]
        _refuse_oversized_in_stack(installation, level, own, account_values, changed, fresh)
    opened = [value for _, _, value in account_values]
    opened.extend(value for own in own_values.values() for value in own.values())
    return not any(has_references(value) for value in opened)


def nothing_to_open(
    installation: Installation, target: Target, before: str, written: Mapping[str, SecretValue]
) -> bool:
    """Whether ``check_written`` of this write will open no value: on a stack that held no
    reference at ``before`` (core.reference_free), new values that hold none."""
    if target.stack is None:
        return False
    level = (target.account.id, target.stack.id)
    return installation.reference_free.known(level, before) and not any(
        has_references(value.reveal()) for value in written.values()
    )


def check_written(
    conn: Connection,
    installation: Installation,
    target: Target,
    before: str,
    written: Mapping[str, SecretValue],
    after: Callable[[], str | None] | None = None,
) -> None:
    """``check_expansion`` after a write of the new values ``written`` at ``target``'s level,
    in the write's transaction, the level locked at revision ``before``
    (``store.level_writes.lock_level``). When ``nothing_to_open``, nothing is. What a stack is
    at after the write is remembered for the next write: ``after``, its revision sent once the
    write's statements were (store.secrets.send_secrets_revision), by a caller that found
    ``nothing_to_open``; or read now."""
    keys = list(written)
    if target.stack is None:
        check_expansion(conn, installation, target, keys, written=keys)
        return
    if after is not None or nothing_to_open(installation, target, before, written):
        free = True
    else:
        free = check_expansion(conn, installation, target, keys, written=keys)
    revision = (after or queries.send_secrets_revision(conn, target.account.id, target.stack.id))()
    if revision is not None:
        installation.reference_free.learn((target.account.id, target.stack.id), revision, free)


def _stacks_values(
    conn: Connection, installation: Installation, account: Account, stacks: Sequence[Stack]
) -> dict[int, dict[str, str]]:
    """The own values of ``stacks`` (of ``account``) by stack id: for one stack its rows, for
    many all the account's stack rows and data keys in two queries (not two per stack)."""
    if len(stacks) == 1:
        stack = stacks[0]
        rows = queries.scope_secrets(conn, account.id, stack.id)
        stored = key_queries.data_keys_of(conn, account.id, stack.id)[True]
        return {
            stack.id: _plain_values(
                _keys(installation, Scope(account.uid, stack.uid), stored), rows
            )
        }
    uids = {stack.id: stack.uid for stack in stacks}
    stored_keys = key_queries.stacks_data_keys(conn, account.id)
    by_stack: dict[int, list[queries.StoredSecret]] = {}
    for row in queries.stacks_secrets(conn, account.id):
        if row.stack_id in uids:
            by_stack.setdefault(row.stack_id, []).append(row)
    return {
        stack_id: _plain_values(
            _keys(installation, Scope(account.uid, uids[stack_id]), stored_keys.get(stack_id, [])),
            rows,
        )
        for stack_id, rows in by_stack.items()
    }


def _keys(
    installation: Installation, scope: Scope, stored: Iterable[key_queries.StoredDataKey]
) -> ScopeKeys:
    """The data keys of ``scope``, unwrapped (through the installation's key cache)."""
    return ScopeKeys(
        scope,
        (
            installation.data_keys.unwrap(scope, s.version, s.master_key_version, s.wrapped_key)
            for s in stored
        ),
    )


def _plain_values(keys: ScopeKeys, rows: Iterable[queries.StoredSecret]) -> dict[str, str]:
    """Key -> plaintext of the ``rows`` that open. A damaged one is left out: it cannot
    expand into anything (its reads fail with the integrity error, which is theirs to
    report), and one damaged value must not block every write around it."""
    found = {}
    for key, _, version, blob, *_ in rows:
        try:
            found[key] = keys.open(blob, key, version).decode("utf-8")
        except (IntegrityError, UnicodeDecodeError):
            continue
    return found


def check_new_stacks(
    conn: Connection,
    installation: Installation,
    account: Account,
    made: Sequence[tuple[Stack, Mapping[str, SecretValue]]],
) -> None:
    """``check_expansion`` for stacks just made with the values given (core.bulk): the values
    are at hand, and the account's are opened once for all of them."""
    account_values: list[tuple[str | None, str, str]] | None = None
    for stack, values in made:
        if not values:
            continue
        if account_values is None:
            account_values = _inheritable(conn, installation, account)
        own = {key: value.reveal() for key, value in values.items()}
        _refuse_oversized_in_stack(
            installation, Target(account, stack), own, account_values, list(own), list(own)
        )


def _inheritable(
    conn: Connection, installation: Installation, account: Account
) -> list[tuple[str | None, str, str]]:
    """The account's own values that open, each with the environments that inherit it (None:
    all)."""
    rows = queries.scope_secrets(conn, account.id, None)
    stored = key_queries.data_keys_of(conn, account.id, None)[False]
    values = _plain_values(_keys(installation, Scope(account.uid, None), stored), rows)
    return [(row.environments, row.key, values[row.key]) for row in rows if row.key in values]


def _refuse_oversized_in_stack(
    installation: Installation,
    level: Target,
    own: Mapping[str, str],
    account_values: Iterable[tuple[str | None, str, str]],
    changed: Collection[str],
    written: Collection[str],
) -> None:
    assert level.stack is not None  # noqa: S101 - a stack level
    environment = level.stack.environment
    inherited = {
        key: value
        for environments, key, value in account_values
        if inherits(environment, environments)
    }
    _refuse_oversized(installation, level, {**inherited, **own}, inherited, changed, written)


def _refuse_oversized(
    installation: Installation,
    level: Target,
    effective: Mapping[str, str],
    account: Mapping[str, str],
    changed: Collection[str],
    written: Collection[str],
) -> None:
    if not any(has_references(value) for value in effective.values()):
        return  # nothing here expands (an account value is reached only through a reference)
    if written:
        broken = broken_after_write(effective, account, written, level.describe())
        if broken is not None:
            raise Conflict(f"{broken}; nothing was written")
    key = oversized_after_write(effective, account, changed, installation.max_value_bytes)
    if key is not None:
        raise ExpansionTooLarge(
            f"{key!r} in {level.describe()} would expand to more than "
            f"{installation.max_value_bytes} "
            "bytes through its references (the limit for one value); nothing was written"
        )
