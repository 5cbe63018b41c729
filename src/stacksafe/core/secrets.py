"""Reading and writing secrets: validation, sealing, versioning and inheritance together.

Every write appends an immutable version row and moves the secret's pointer; an unset appends a
tombstone. Every read authenticates the stored ciphertext, revealed or not, or uses what an
earlier read authenticated at the same database revision (core.opened), so tampering through
SQL is reported on the first read that meets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.audit import append, append_later, append_soon, detail_text, record
from stacksafe.core.expansion import check_expansion
from stacksafe.core.fingerprints import fingerprint, fingerprints_of_opened
from stacksafe.core.generate import auto_generated
from stacksafe.core.guard import allow, record_damage
from stacksafe.core.inheritance import inherits, overlay
from stacksafe.core.installation import Installation
from stacksafe.core.opened import Level, OpenedLevel
from stacksafe.core.references import Limits, has_references, resolve_all
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_environment, validate_key, validate_value
from stacksafe.crypto import (
    DATA_KEY_SEAL_LIMIT,
    Binding,
    DataKey,
    Scope,
    ScopeKeys,
    encode_value,
)
from stacksafe.errors import (
    AuditUnavailable,
    Conflict,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    StacksafeError,
)
from stacksafe.model import Secret, SecretValue
from stacksafe.store import Connection
from stacksafe.store import keys as key_queries
from stacksafe.store import secrets as queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.engine import RetryWrite

__all__ = [
    "Audited",
    "ImportReport",
    "append_version",
    "audited_later",
    "audited_soon",
    "effective_values",
    "environments_of",
    "get_secret",
    "import_secrets",
    "kept_list",
    "list_secrets",
    "list_secrets_audited",
    "prune_after_write",
    "record_reveal",
    "restrict_secret",
    "scope_keys",
    "sealing_key",
    "set_secret",
    "unset_secret",
    "wrap_new_data_key",
]

T = TypeVar("T")

ACTION_SET = "set"
ACTION_DELETE = "delete"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did, by key."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _scope_of(target: Target, stack_level: bool) -> Scope:
    if stack_level and target.stack is not None:
        return Scope(target.account.uid, target.stack.uid)
    return Scope(target.account.uid, None)


def scope_keys(
    conn: Connection, installation: Installation, target: Target
) -> dict[bool, ScopeKeys]:
    """The unwrapped data keys of ``target``'s levels, by level (True: the stack's own)."""
    stored_by_level = key_queries.data_keys_of(conn, target.account.id, target.stack_id)
    opened = {}
    for level, stored_list in stored_by_level.items():
        scope = _scope_of(target, level)
        opened[level] = ScopeKeys(
            scope,
            (
                installation.data_keys.unwrap(
                    scope, stored.version, stored.master_key_version, stored.wrapped_key
                )
                for stored in stored_list
            ),
        )
    return opened


def _open_rows(
    conn: Connection,
    installation: Installation,
    target: Target,
    rows: Sequence[queries.StoredSecret],
    reveal: bool,
) -> list[Secret]:
    if not rows:
        return []
    keys_by_level = scope_keys(conn, installation, target)
    # One pass over plain tuples: a reveal opens hundreds of rows per request. Every row is
    # authenticated, revealed or not, so tampering shows on the first read that meets it.
    opened = []
    for key, stack_id, version, blob, created_at, updated_at, _environments in rows:
        plaintext = keys_by_level[stack_id is not None].open(blob, key, version)
        opened.append(
            Secret(
                key,
                encode_value(blob),
                stack_id is None,
                version,
                created_at,
                updated_at,
                SecretValue(plaintext.decode("utf-8")) if reveal else None,
            )
        )
    return opened


def _opened(
    conn: Connection, installation: Installation, target: Target, key: str | None, reveal: bool
) -> list[Secret]:
    """The live secrets of ``target`` (all, or the one named ``key``), opened: each one
    authenticated, by this read or by an earlier one at the same database revision (core.opened).
    """
    cache = installation.opened
    # The revision first, then the rows: what is kept is never labelled newer than it is (a
    # write committing in between makes it newer, and then only readers that already saw the
    # old revision can meet it). The same holds for a revision read with the target.
    revision = (
        None
        if cache is None
        else target.revision or queries.secrets_revision(conn, target.account.id, target.stack_id)
    )
    if cache is None or revision is None:
        return _open_rows(conn, installation, target, _read(conn, target, key), reveal)
    found = cache.get(_level(target), revision)
    if found is None and key is not None:
        # One key is read alone, as without a cache: a level with one damaged row still
        # gives its other keys (a whole read fails, and keeps nothing).
        return _open_rows(conn, installation, target, _read(conn, target, key), reveal)
    if found is None:
        found = OpenedLevel.of(
            revision, _open_rows(conn, installation, target, _read(conn, target, None), True)
        )
        cache.put(_level(target), found)
    return found.secrets(key, reveal)


def _level(target: Target) -> Level:
    stack = target.stack
    return (target.account.id, target.stack_id, None if stack is None else stack.environment)


def _kept(installation: Installation, target: Target) -> OpenedLevel | None:
    """What ``_opened`` would use, when it can be had without the database: the target was
    read with its revision, and what was opened at that revision is kept."""
    if installation.opened is None or target.revision is None:
        return None
    return installation.opened.get(_level(target), target.revision)


def _read(conn: Connection, target: Target, key: str | None) -> list[queries.StoredSecret]:
    if target.stack is None:
        return queries.scope_secrets(conn, target.account.id, None, key)
    found = queries.effective_secrets(conn, target.account.id, target.stack.id, key)
    return overlay(found, target.stack.environment)


def _allow(
    installation: Installation, actor: Principal, action: Action, target: Target, **detail: object
) -> None:
    allow(installation, actor, action, target.account, target.stack, **detail)


def _write_action(target: Target) -> Action:
    return Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS


def _reveal_detail(
    installation: Installation, secrets: Sequence[Secret], resolved: Collection[str] = ()
) -> dict[str, object]:
    # A value changed by resolving references is not its sealed plaintext: fingerprint what
    # was returned, not through the memo kept by sealed value.
    unchanged = secrets if not resolved else [s for s in secrets if s.key not in resolved]
    prints = fingerprints_of_opened(installation, unchanged)
    for secret in secrets:
        if secret.key in resolved and secret.raw_value is not None:
            prints[secret.key] = fingerprint(installation, secret.raw_value)
    return {"keys": {s.key: s.version for s in secrets}, "fingerprints": prints}


def _account_values(conn: Connection, installation: Installation, target: Target) -> dict[str, str]:
    """The account's own values a reference from ``target`` may name: those its environment
    inherits. The permission to reveal ``target`` is enough: what a stack inherits is part of
    the stack (a plain read of the stack reveals it too), so resolving ``${account.KEY}`` is
    part of revealing the stack. No reference can name another stack."""
    rows = queries.scope_secrets(conn, target.account.id, None)
    if target.stack is not None:
        environment = target.stack.environment
        rows = [r for r in rows if inherits(environment, r.environments)]
    opened = _open_rows(conn, installation, Target(target.account), rows, True)
    return {s.key: s.raw_value.reveal() for s in opened if s.raw_value is not None}


def _have_references(found: Sequence[Secret]) -> bool:
    return any(s.raw_value is not None and has_references(s.raw_value.reveal()) for s in found)


def _resolved(
    conn: Connection,
    installation: Installation,
    target: Target,
    key: str | None,
    found: list[Secret],
) -> tuple[list[Secret], dict[str, list[str]]]:
    """``found`` with ``${...}`` references resolved (see core.references), and the references
    each key used. The whole effective set is read only when a value holds a reference."""
    if not _have_references(found):
        return found, {}
    whole = found if key is None else _opened(conn, installation, target, None, True)
    own = {s.key: s.raw_value.reveal() for s in whole if s.raw_value is not None}
    result = resolve_all(
        own,
        lambda: _account_values(conn, installation, target),
        target.describe(),
        only=[s.key for s in found],
        limits=Limits(installation.max_value_bytes, installation.max_expanded_bytes),
    )
    # Compared with the stored text, not by whether a reference was followed: an escape
    # ($${) changes a value too.
    changed = [
        s._replace(raw_value=SecretValue(result.values[s.key]))
        if result.values[s.key] != own[s.key]
        else s
        for s in found
    ]
    return changed, result.used


def _lookup(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str | None,
    reveal: bool,
    purpose: str,
    resolve: bool = True,
) -> list[Secret]:
    found, detail, _ = _gathered(installation, actor, target, key, reveal, purpose, resolve)
    if detail is not None:
        record_reveal(installation, actor, target, detail)
    return found


def _gathered(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str | None,
    reveal: bool,
    purpose: str,
    resolve: bool,
) -> tuple[list[Secret], dict[str, object] | None, OpenedLevel | None]:
    """The secrets a read gives, the detail of the reveal's audit event (None: no event), and
    the kept level when the secrets are exactly that level's, as kept (for ``derived``).
    Damaged stored data met on the way is recorded (one event) and raised."""
    try:
        return _gather(installation, actor, target, key, reveal, purpose, resolve)
    except IntegrityError as damaged:
        detail: dict[str, object] = {"purpose": purpose}
        if key is not None:
            detail["key"] = key
        raise record_damage(
            installation,
            actor,
            (Action.REVEAL if reveal else Action.DESCRIBE).value,
            damaged,
            account=target.account,
            stack=target.stack,
            **detail,
        ) from None


def _gather(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str | None,
    reveal: bool,
    purpose: str,
    resolve: bool,
) -> tuple[list[Secret], dict[str, object] | None, OpenedLevel | None]:
    _allow(installation, actor, Action.DESCRIBE, target, key=key)
    if not reveal:
        described = _kept(installation, target)
        if described is not None:
            return described.secrets(key, False), None, described if key is None else None
        with installation.store.read() as conn:
            return _opened(conn, installation, target, key, False), None, None
    _allow(installation, actor, Action.REVEAL, target, key=key)
    # Read and decrypt in a read transaction (no lock held); the caller appends the audit
    # event, which names the exact versions read, in a short write transaction, and only after
    # that commits are the values returned: a reveal whose event cannot be written fails.
    used: dict[str, list[str]] = {}
    kept = _kept(installation, target)
    if kept is not None and not (resolve and kept.references):
        stored = found = kept.secrets(key, True)
        if key is None and found:
            # A whole kept level: the same event detail every time, but for its purpose.
            detail = kept.derived(
                ("reveal-detail", resolve), lambda: _unresolved_detail(installation, found, resolve)
            )
            return found, {**detail, "purpose": purpose}, kept
    else:
        with installation.store.read() as conn:
            stored = (
                _opened(conn, installation, target, key, True)
                if kept is None
                else kept.secrets(key, True)
            )
            found = stored
            if resolve:
                found, used = _resolved(conn, installation, target, key, stored)
    if not found:
        return found, None, None
    rewritten = {a.key for a, b in zip(found, stored, strict=True) if a is not b}
    detail = _reveal_detail(installation, found, rewritten)
    detail["purpose"] = purpose
    if used:
        detail["references"] = used
    elif not resolve:
        detail["unresolved"] = True
    return found, detail, None


def _unresolved_detail(
    installation: Installation, found: list[Secret], resolve: bool
) -> dict[str, object]:
    """The detail of a reveal event for values as stored (no reference resolved), but for
    its purpose."""
    detail = _reveal_detail(installation, found)
    if not resolve:
        detail["unresolved"] = True
    return detail


@dataclass(frozen=True, slots=True)
class Audited(Generic[T]):
    """What a read gives, held until the read's audit event (if it needs one) is durable.

    ``result()`` waits for the event and gives the value, or raises ``AuditUnavailable`` when
    the event could not be written (fail closed). A face that can wait without a thread (an
    event loop) awaits ``durable`` first, so that ``result()`` does not block; it must not use
    the value any other way.
    """

    durable: Future[int] | asyncio.Future[int] | None
    _value: T = field(repr=False)  # a rendered page holds plaintext

    def result(self) -> T:
        if self.durable is not None:
            try:
                self.durable.result()
            except StacksafeError:
                raise
            except Exception as exc:
                raise _audit_unavailable(exc) from None
        return self._value


def list_secrets_audited(
    installation: Installation,
    actor: Principal,
    target: Target,
    render: Callable[[list[Secret]], T],
    *,
    reveal: bool = False,
    purpose: str = "list",
    resolve: bool = True,
    memo: tuple[Hashable, ...] | None = None,
) -> Audited[T]:
    """``list_secrets`` rendered by ``render``, for callers that wait for the audit event
    without a thread: the event joins the group commits as ``append_later`` does.

    With ``memo`` (what ``render`` depends on besides the secrets, e.g. the page), a render
    of a whole kept level is made once per revision and ``memo``, and given again."""
    found, detail, kept = _gathered(installation, actor, target, None, reveal, purpose, resolve)
    value = (
        render(found)
        if kept is None or memo is None
        else kept.derived(("render", reveal, resolve, *memo), lambda: render(found))
    )
    return audited_later(installation, actor, target, value, detail)


def kept_list(
    installation: Installation,
    actor: Principal,
    target: Target,
    *,
    reveal: bool,
    purpose: str,
    resolve: bool,
    memo: tuple[Hashable, ...],
) -> tuple[object, str | None] | None:
    """What ``list_secrets_audited`` with ``memo`` would render, and the detail of its audit
    event (None: no event), when all of it is already made for the target's kept level and
    ``actor`` is allowed it; else None. It reads, decrypts, makes, records and waits for
    nothing, so it can run on the event loop (api.lane); the ordinary path does all the rest,
    including refusing (and recording the refusal). The detail comes as stored
    (``audit.detail_text``), made once per purpose. The caller appends the event with
    ``audited_later`` and returns the value only once it is durable."""
    kept = _kept(installation, target)
    if kept is None or (reveal and resolve and kept.references):
        return None
    try:
        authorize(actor, Action.DESCRIBE, target.account, target.stack)
        if reveal:
            authorize(actor, Action.REVEAL, target.account, target.stack)
    except (Forbidden, NotFound):
        return None
    value = kept.made(("render", reveal, resolve, *memo))
    if value is None or not reveal:
        return None if value is None else (value, None)
    detail = kept.made(("reveal-detail", resolve))
    if not isinstance(detail, dict) or not kept.revealed:
        return None
    # Encoding it is what the append would do anyway; then it is done once per purpose.
    stored = kept.derived(
        ("reveal-detail-text", resolve, purpose),
        lambda: detail_text({**detail, "purpose": purpose}),
    )
    return value, stored


def audited_soon(
    installation: Installation, actor: Principal, target: Target, value: T, detail: str | None
) -> Audited[T]:
    """What ``kept_list`` gave, held until its reveal event (``detail``, as stored; None: no
    event) is durable: on an event loop, whose future ``durable`` is (``audit.append_soon``)."""
    return _held(
        value,
        detail is not None,
        lambda: append_soon(
            installation,
            actor,
            "reveal",
            account=target.account,
            stack=target.stack,
            stored_detail=detail or "",
        ),
    )


def audited_later(
    installation: Installation,
    actor: Principal,
    target: Target,
    value: T,
    detail: dict[str, object] | None,
) -> Audited[T]:
    """``value``, held until the reveal event with ``detail`` (None: no event) is durable."""
    return _held(
        value,
        detail is not None,
        lambda: append_later(
            installation, actor, "reveal", account=target.account, stack=target.stack, detail=detail
        ),
    )


def _held(
    value: T, audited: bool, append: Callable[[], Future[int] | asyncio.Future[int]]
) -> Audited[T]:
    if not audited:
        return Audited(None, value)
    try:
        durable = append()
    except StacksafeError:
        raise
    except Exception as exc:
        raise _audit_unavailable(exc) from None
    return Audited(durable, value)


def _audit_unavailable(exc: Exception) -> AuditUnavailable:
    return AuditUnavailable(
        f"the audit log cannot be written ({type(exc).__name__}); the reveal was refused"
    )


def record_reveal(
    installation: Installation, actor: Principal, target: Target, detail: dict[str, object]
) -> None:
    """The audit event of a reveal, durably written before any value is returned; if it cannot
    be written, ``AuditUnavailable`` and no values (fail closed)."""
    try:
        append(
            installation, actor, "reveal", account=target.account, stack=target.stack, detail=detail
        )
    except StacksafeError:
        raise
    except Exception as exc:
        raise _audit_unavailable(exc) from None


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
    return _lookup(installation, actor, target, None, reveal, purpose, resolve)


def get_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    *,
    reveal: bool = False,
    resolve: bool = True,
    purpose: str = "get",
) -> Secret:
    validate_key(key)
    found = _lookup(installation, actor, target, key, reveal, purpose, resolve)
    if not found:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    return found[0]


def wrap_new_data_key(
    conn: Connection, installation: Installation, scope: Scope, version: int
) -> tuple[DataKey, int, bytes]:
    """A fresh data key for ``scope``, wrapped under the newest registered master key."""
    registered = max(key_queries.master_key_check_values(conn))
    if registered > installation.data_keys.keyring.newest.version:
        # Another process rotated the master key since this one loaded it: wrap new data keys
        # under the new version, or a finished rotation would leave work behind.
        installation.reload_keyring()
    return installation.data_keys.wrap_new(scope, version)


def sealing_key(
    conn: Connection, installation: Installation, target: Target, seals: int
) -> DataKey:
    """The data key that seals new values of ``target``'s own level; rolls over when spent."""
    scope = target.scope
    stored = key_queries.newest_data_key(conn, target.account.id, target.stack_id, lock=True)
    if stored is None or stored.seal_count + seals > DATA_KEY_SEAL_LIMIT:
        version = 1 if stored is None else stored.version + 1
        data_key, mk_version, wrapped = wrap_new_data_key(conn, installation, scope, version)
        key_id = key_queries.insert_data_key(
            conn,
            target.account.id,
            target.stack_id,
            version,
            mk_version,
            wrapped,
            installation.clock(),
        )
    else:
        data_key = installation.data_keys.unwrap(
            scope, stored.version, stored.master_key_version, stored.wrapped_key
        )
        key_id = stored.id
    key_queries.record_seals(conn, key_id, seals)
    return data_key


def append_version(
    conn: Connection,
    target: Target,
    key: str,
    value: SecretValue | None,
    data_key: DataKey | None,
    author: str,
    now: datetime,
    expected_version: int | None = None,
    action: str | None = None,
    sealed: bytes | None = None,
) -> Secret | None:
    """Write the next version of ``key`` (a tombstone when ``value`` and ``sealed`` are None).

    ``action`` names the version in history (default: set, or delete for a tombstone).
    ``sealed`` is a value sealed beforehand for exactly this version (a rotation's pending
    value); it is used as it is. Returns the secret as written (without plaintext), or None for
    a tombstone.
    """
    head = queries.secret_head(conn, target.account.id, target.stack_id, key, lock=True)
    if expected_version is not None:
        current = 0 if head is None or head.deleted else head.current_version
        if current != expected_version:
            raise PreconditionFailed(
                f"{key!r} is at version {current}, not {expected_version}: someone else wrote "
                "it first; read it again and retry"
            )
    version = 1 if head is None else head.current_version + 1
    envelope = sealed
    if value is not None and data_key is not None:
        envelope = data_key.seal(
            value.reveal().encode("utf-8"), Binding(target.scope, key, version)
        )
    created_at = now
    if head is None:
        secret_id = queries.insert_secret(conn, target.account.id, target.stack_id, key, now)
    else:
        created_at = now if head.deleted else head.created_at
        if not queries.advance_secret(
            conn, head, deleted=value is None and sealed is None, created_at=created_at, now=now
        ):
            raise RetryWrite
        secret_id = head.id
    if action is None:
        action = ACTION_DELETE if envelope is None else ACTION_SET
    queries.insert_version(conn, secret_id, version, action, envelope, author, now)
    if envelope is None:
        return None
    return Secret(
        key=key,
        value=encode_value(envelope),
        inherited=target.stack is None,
        version=version,
        created_at=created_at,
        updated_at=now,
    )


def prune_after_write(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    keys: Sequence[str],
) -> None:
    """After new versions of ``keys``: destroy the ciphertexts of versions beyond the level's
    ``max_versions`` (never the current or the previous one), with one audit event."""
    limit = tenancy_queries.max_versions_of(conn, target.account.id, target.stack_id)
    if limit is None:
        return
    keep = max(limit, 2)
    now = installation.clock()
    pruned: dict[str, list[int]] = {}
    for key in keys:
        head = queries.secret_head(conn, target.account.id, target.stack_id, key)
        if head is None:
            continue
        gone = queries.prune_versions(conn, head.id, head.current_version - keep + 1, now)
        if gone:
            pruned[key] = gone
    if pruned:
        record(
            conn,
            installation,
            actor,
            "secret.prune",
            account=target.account,
            stack=target.stack,
            detail={"keys": sorted(pruned), "destroyed_versions": pruned, "max_versions": limit},
        )


def _restriction(target: Target, environments: Sequence[str] | None) -> str | None:
    """``environments`` as stored (sorted, space-separated; None: all), once checked."""
    if environments is None:
        return None
    if target.stack is not None:
        raise InvalidInput(
            "only account-level secrets can be restricted to environments: a stack has one"
        )
    return " ".join(sorted({validate_environment(e) for e in environments})) or None


def _restrict(conn: Connection, target: Target, key: str, restriction: str | None) -> None:
    head = queries.secret_head(conn, target.account.id, None, key)
    if head is None or head.deleted:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    queries.set_environments(conn, head.id, restriction)


def environments_of(
    installation: Installation, actor: Principal, target: Target, key: str
) -> list[str] | None:
    """The environments an account-level secret is restricted to (None: every environment)."""
    validate_key(key)
    if target.stack is not None:
        raise InvalidInput("environment restrictions belong to account-level secrets")
    _allow(installation, actor, Action.DESCRIBE, target, key=key)
    with installation.store.read() as conn:
        found = queries.secret_environments(conn, target.account.id, key)
    if found is None or not found[0]:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    return None if found[1] is None else found[1].split()


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
        _restrict(conn, target, key, restriction)
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
    expected_version: int | None = None,
    environments: Sequence[str] | None = None,
) -> Secret:
    """Create or replace ``key`` at ``target``'s own level; returns the secret as stored.

    With ``expected_version`` (0: must not exist yet) the write happens only if the key's
    current version at this level is that one, else ``PreconditionFailed``. ``environments``
    (account level only) restricts which stacks inherit the key, in the same transaction as the
    value: ``()`` lifts a restriction, None leaves it as it is (none, for a new key).
    """
    validate_key(key)
    generated = auto_generated(value)
    value = value if generated is None else generated
    validate_value(key, value, installation.max_value_bytes)
    restriction = _restriction(target, environments)
    _allow(installation, actor, _write_action(target), target, key=key)
    value_print = fingerprint(installation, value)

    def work(conn: Connection) -> Secret:
        data_key = sealing_key(conn, installation, target, 1)
        written = append_version(
            conn, target, key, value, data_key, actor.name, installation.clock(), expected_version
        )
        assert written is not None  # noqa: S101 - a value was given, so not a tombstone
        detail: dict[str, object] = {
            "keys": {key: written.version},
            "fingerprints": {key: value_print},
        }
        if generated is not None:
            detail["generated"] = [key]
        if environments is not None:
            _restrict(conn, target, key, restriction)
            detail["environments"] = restriction
        check_expansion(conn, installation, target, [key])
        record(
            conn,
            installation,
            actor,
            "secret.set",
            account=target.account,
            stack=target.stack,
            detail=detail,
        )
        prune_after_write(conn, installation, actor, target, [key])
        return written

    return installation.store.transact(work, f"setting {key!r}")


def unset_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    *,
    expected_version: int | None = None,
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

    installation.store.transact(work, f"unsetting {key!r}")


def import_secrets(
    installation: Installation,
    actor: Principal,
    target: Target,
    entries: Mapping[str, SecretValue],
    *,
    provenance: Mapping[str, object] | None = None,
) -> ImportReport:
    """Set many secrets at ``target``'s own level in one transaction: all or nothing.

    ``provenance`` (where the values came from) goes into the audit event.
    """
    for key, value in entries.items():
        validate_key(key)
        validate_value(key, value, installation.max_value_bytes)
    _allow(installation, actor, _write_action(target), target, keys=sorted(entries))

    def work(conn: Connection) -> ImportReport:
        own = Target(target.account, target.stack)
        rows = queries.scope_secrets(conn, target.account.id, target.stack_id)
        current = {s.key: s.raw_value for s in _open_rows(conn, installation, own, rows, True)}
        report = ImportReport()
        changes: list[tuple[str, SecretValue]] = []
        for key in sorted(entries):
            value = entries[key]
            generated = auto_generated(value)
            if generated is not None:
                # In a file imported again and again, AUTO_GENERATE means "generate once".
                if key in current:
                    report.unchanged.append(key)
                    continue
                value = generated
            if key not in current:
                report.added.append(key)
            elif current[key] != value:
                report.changed.append(key)
            else:
                report.unchanged.append(key)
                continue
            changes.append((key, value))
        if changes:
            data_key = sealing_key(conn, installation, target, len(changes))
            now = installation.clock()
            written = [
                append_version(conn, target, key, value, data_key, actor.name, now)
                for key, value in changes
            ]
            check_expansion(conn, installation, target, [key for key, _ in changes])
            record(
                conn,
                installation,
                actor,
                "secret.import",
                account=target.account,
                stack=target.stack,
                detail={
                    "keys": {w.key: w.version for w in written if w is not None},
                    "fingerprints": {k: fingerprint(installation, v) for k, v in changes},
                    **(provenance or {}),
                },
            )
            prune_after_write(conn, installation, actor, target, [k for k, _ in changes])
        return report

    return installation.store.transact(work, "importing secrets", snapshot=True)


def effective_values(
    installation: Installation,
    actor: Principal,
    target: Target,
    purpose: str = "deliver",
    *,
    resolve: bool = True,
) -> dict[str, SecretValue]:
    """Key → plaintext of everything ``target`` sees, for delivery into a process or a file."""
    revealed: Iterable[Secret] = list_secrets(
        installation, actor, target, reveal=True, purpose=purpose, resolve=resolve
    )
    return {s.key: s.raw_value for s in revealed if s.raw_value is not None}
