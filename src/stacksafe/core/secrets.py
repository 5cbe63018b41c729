"""The operations on secrets: list, get, set, unset, import (core.imports), restrict to
environments.

Reads go through the reveal service (core.reveal), which checks permissions, reads and writes
the audit event; writes append versions (core.version_writes) sealed under the level's data key
(core.data_keys), with their audit event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.audit import record, send_chain_head
from stacksafe.core.data_keys import sealing_key, send_sealing_key
from stacksafe.core.expansion import check_expansion, check_written, nothing_to_open
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.generate import auto_generated
from stacksafe.core.guard import allow
from stacksafe.core.imports import ImportReport, import_secrets
from stacksafe.core.inheritance import inherits
from stacksafe.core.installation import Installation
from stacksafe.core.reveal import RevealQuery, reveal
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_environment, validate_key, validate_value
from stacksafe.core.version_writes import Expected, append_version, prune_after_write
from stacksafe.errors import BrokenReferences, Conflict, Forbidden, InvalidInput, NotFound
from stacksafe.model import Secret, SecretValue
from stacksafe.store import Connection
from stacksafe.store import environments as environment_queries
from stacksafe.store import secrets as queries
from stacksafe.store.driver import batch
from stacksafe.store.level_writes import level_write, send_level_write, send_lock_level
from stacksafe.store.tenancy import send_max_versions

__all__ = [
    "ONE_KEY_PURPOSE",
    "ImportReport",
    "account_restrictions",
    "delivery",
    "effective_values",
    "environments_of",
    "get_secret",
    "import_secrets",
    "list_secrets",
    "one_secret",
    "restrict_secret",
    "set_secret",
    "set_secret_later",
    "unset_secret",
]


def list_secrets(
    installation: Installation,
    actor: Principal,
    target: Target,
    *,
    reveal: bool = False,
    purpose: str = "list",
    resolve: bool = True,
) -> list[Secret]:
    """The effective secrets of a stack (own and inherited), or an account's own, by key.

    With ``reveal``, one audit event names every key and version revealed; ``${KEY}``
    references in values are resolved unless ``resolve`` is False (core.references).
    """
    query = RevealQuery(reveal=reveal, resolve=resolve, purpose=purpose)
    return list(_reveal(installation, actor, target, query).result())


# What a reveal of one key is for, unless its caller says (the API's GET of a key).
ONE_KEY_PURPOSE = "get"


def get_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    *,
    reveal: bool = False,
    resolve: bool = True,
    purpose: str = ONE_KEY_PURPOSE,
) -> Secret:
    query = RevealQuery(reveal=reveal, resolve=resolve, purpose=purpose, key=key)
    return one_secret(_reveal(installation, actor, target, query).result(), key, target)


def one_secret(found: Sequence[Secret], key: str, target: Target) -> Secret:
    """What a reveal of ``key`` found (api.fast_path reveals one key too); ``NotFound`` if
    ``target`` has no such key."""
    if not found:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    return found[0]


_reveal = reveal  # the parameters of list_secrets and get_secret shadow the name


def _allow(
    installation: Installation, actor: Principal, action: Action, target: Target, **detail: object
) -> None:
    allow(installation, actor, action, target.account, target.stack, **detail)


def _write_action(target: Target) -> Action:
    return Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS


def _restriction(target: Target, environments: Sequence[str] | None) -> str | None:
    """``environments`` as stored (sorted, space-separated; None: all), once checked."""
    if environments is None:
        return None
    if target.stack is not None:
        raise InvalidInput(
            "only account-level secrets can be restricted to environments: a stack has one"
        )
    return " ".join(sorted({validate_environment(e) for e in environments})) or None


def _restrict(
    conn: Connection, installation: Installation, target: Target, key: str, restriction: str | None
) -> None:
    head = queries.secret_head(conn, target.account.id, None, key)
    if head is None or head.deleted:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    environment_queries.set_environments(conn, head.id, restriction)
    # What the account's stacks see changed: a new version of their KV paths.
    level_write(conn, target.account.id, None, installation.clock())


def environments_of(
    installation: Installation, actor: Principal, target: Target, key: str
) -> list[str] | None:
    """The environments an account-level secret is restricted to (None: every environment)."""
    validate_key(key)
    if target.stack is not None:
        raise InvalidInput("environment restrictions belong to account-level secrets")
    _allow(installation, actor, Action.DESCRIBE, target, key=key)
    with installation.store.read() as conn:
        found = environment_queries.secret_environments(conn, target.account.id, key)
    if found is None or not found[0]:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    return None if found[1] is None else found[1].split()


def account_restrictions(
    installation: Installation, actor: Principal, target: Target
) -> dict[str, list[str]]:
    """The account-level secrets of ``target``'s account that are restricted to environments,
    each with its environments (a key not named is inherited by every environment): what a
    list shows beside the keys, for one query whatever the number of keys."""
    account_level = Target(target.account)
    _allow(installation, actor, Action.DESCRIBE, account_level)
    with installation.store.read() as conn:
        found = environment_queries.account_restrictions(conn, target.account.id)
    return {key: environments.split() for key, environments in found.items()}


def restrict_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    environments: Sequence[str],
) -> list[str] | None:
    """Restrict an account-level secret to stacks of ``environments`` (``()``: all again)."""
    validate_key(key)
    restriction = _restriction(target, environments)
    _allow(installation, actor, _write_action(target), target, key=key)

    def work(conn: Connection) -> None:
        _restrict(conn, installation, target, key, restriction)
        # Lifting a restriction gives stacks a key they did not see before.
        check_expansion(conn, installation, target, [key])
        record(
            conn,
            installation,
            actor,
            "secret.restrict",
            account=target.account,
            detail={"keys": [key], "environments": restriction},
        )

    installation.store.transact(work, f"restricting {key!r}")
    return None if restriction is None else restriction.split()


def set_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    value: SecretValue,
    *,
    expected_version: Expected = None,
    environments: Sequence[str] | None = None,
) -> Secret:
    """Create or replace ``key`` at ``target``'s own level; returns the secret as stored.

    With ``expected_version`` the write happens only if the key is at that version as a read at
    this level shows it (on a stack, the inherited account version when it has none of its own;
    0: no value of this level's own yet; ``"*"``: any current value), else
    ``PreconditionFailed`` (core.version_writes.check_expected). ``environments``
    (account level only) restricts which stacks inherit the key, in the same transaction as the
    value: ``()`` lifts a restriction, None leaves it as it is (none, for a new key).
    """
    work = _setting(installation, actor, target, key, value, expected_version, environments)
    return installation.store.transact(work, f"setting {key!r}", grouped=True, level=_level(target))


def set_secret_later(
    installation: Installation, actor: Principal, target: Target, key: str, value: SecretValue
) -> Future[Secret] | None:
    """``set_secret`` of a plain value without a thread, for a face on an event loop: a future
    completed once the write is durably committed (store.Store.transact_later), or with what
    ``set_secret`` would raise. None, having done and recorded nothing, when it cannot be done
    so: when ``actor`` may not write there (``set_secret``, in a thread, records the refusal).
    What is checked before the write is CPU only (no I/O): the key and value, the permission,
    the value's fingerprint."""
    level = _level(target)
    if installation.store.write_group(level) is None:
        return None
    try:
        work = _setting(installation, actor, target, key, value, None, None, on_loop=True)
    except (Forbidden, NotFound):
        return None
    return installation.store.transact_later(work, f"setting {key!r}", level)


def _level(target: Target) -> tuple[int, int | None]:
    """The level a write of ``target``'s own secrets locks first: what its group commit
    shares (store.Store.transact's ``level``)."""
    return (target.account.id, target.stack_id)


def _setting(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    value: SecretValue,
    expected_version: Expected,
    environments: Sequence[str] | None,
    *,
    on_loop: bool = False,
) -> Callable[[Connection], Secret]:
    """``set_secret``'s checks, then its work in the write's transaction. A refusal is
    recorded (core.guard.allow), or only raised ``on_loop`` (core.access.authorize)."""
    validate_key(key)
    generated = auto_generated(value)
    value = value if generated is None else generated
    validate_value(key, value, installation.max_value_bytes)
    restriction = _restriction(target, environments)
    if on_loop:
        authorize(actor, _write_action(target), target.account, target.stack)
    else:
        _allow(installation, actor, _write_action(target), target, key=key)
    value_print = fingerprint(installation, value)

    def work(conn: Connection) -> Secret:
        account_id, stack_id, now = target.account.id, target.stack_id, installation.clock()
        # The level first, as a KV write takes it (what it is at until this write changes it),
        # then what the write reads under that lock: sent together (store.driver.batch), one
        # round trip on PostgreSQL.
        with batch(conn):
            locked = send_lock_level(conn, account_id, stack_id)
            max_versions = send_max_versions(conn, account_id, stack_id)
            claimed = send_sealing_key(conn, target, 1)
            head = queries.send_secret_head(conn, account_id, stack_id, key, lock=True)
            write_id = send_level_write(conn, (account_id, stack_id), now)
        before = locked()
        write_id()
        data_key = sealing_key(conn, installation, target, 1, claimed)
        # With nothing to check after it, the version's statements go with what is read after
        # them: the level's revision, and the audit chain's head (locked last, as always).
        plain = environments is None and nothing_to_open(installation, target, before, {key: value})
        with batch(conn):
            written = append_version(
                conn,
                target,
                key,
                value,
                data_key,
                actor.name,
                now,
                expected_version,
                locked_head=head,
            )
            after = queries.send_secrets_revision(conn, account_id, stack_id) if plain else None
            chain = send_chain_head(conn) if plain else None
        assert written is not None  # noqa: S101 - a value was given, so not a tombstone
        detail: dict[str, object] = {
            "keys": {key: written.version},
            "fingerprints": {key: value_print},
        }
        if generated is not None:
            detail["generated"] = [key]
        if environments is not None:
            _restrict(conn, installation, target, key, restriction)
            detail["environments"] = restriction
        check_written(conn, installation, target, before, {key: value}, after)
        record(
            conn,
            installation,
            actor,
            "secret.set",
            account=target.account,
            stack=target.stack,
            detail=detail,
            locked_head=chain,
        )
        prune_after_write(conn, installation, actor, target, [key], max_versions)
        return written

    return work


def unset_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    *,
    expected_version: Expected = None,
) -> None:
    """Delete ``key`` from ``target``'s own level (a tombstone version; history remains)."""
    validate_key(key)
    _allow(installation, actor, _write_action(target), target, key=key)

    def work(conn: Connection) -> None:
        head = queries.secret_head(conn, target.account.id, target.stack_id, key)
        if head is None or head.deleted:
            if target.stack is not None and any(
                inherits(target.stack.environment, row.environments)
                for row in queries.scope_secrets(conn, target.account.id, None, key)
            ):
                raise Conflict(
                    f"{key!r} is inherited from account {target.account.name!r}, not set on "
                    f"stack {target.stack.name!r}; delete it at account level (--account)"
                )
            raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
        append_version(
            conn, target, key, None, None, actor.name, installation.clock(), expected_version
        )
        # Without a stack's own value, the account's (perhaps longer) one shows through.
        check_expansion(conn, installation, target, [key])
        record(
            conn,
            installation,
            actor,
            "secret.unset",
            account=target.account,
            stack=target.stack,
            detail={"keys": {key: head.current_version + 1}},
        )
        prune_after_write(conn, installation, actor, target, [key])

    installation.store.transact(work, f"unsetting {key!r}", grouped=True, level=_level(target))


def effective_values(
    installation: Installation,
    actor: Principal,
    target: Target,
    purpose: str = "deliver",
    *,
    resolve: bool = True,
) -> dict[str, SecretValue]:
    """Key → plaintext of everything ``target`` sees, for delivery into a process or a file;
    ``Conflict`` naming every key whose references are broken, if any is."""
    values, broken = delivery(installation, actor, target, purpose, resolve=resolve)
    BrokenReferences.among(broken)
    return values


def delivery(
    installation: Installation,
    actor: Principal,
    target: Target,
    purpose: str = "deliver",
    *,
    resolve: bool = True,
) -> tuple[dict[str, SecretValue], dict[str, str]]:
    """Key → plaintext of everything ``target`` sees whose references resolve, and the keys
    whose references are broken, with the error naming the reference: one broken value does
    not keep the others from being delivered (the caller decides what a broken key means)."""
    query = RevealQuery(reveal=True, resolve=resolve, purpose=purpose)
    revealed = _reveal(installation, actor, target, query)
    found = revealed.result()
    values = {s.key: s.raw_value for s in found if s.raw_value is not None}
    return values, dict(revealed.broken)
