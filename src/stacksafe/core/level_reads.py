"""Reading a level's live secrets: each row authenticated and opened, or taken from the read
cache at the same database revision (core.read_cache), with ``${...}`` references resolved.

Every read authenticates the stored ciphertext, revealed or not, or uses what an earlier read
authenticated at the same database revision, so tampering through SQL is reported on the first
read that meets it. Nothing here checks permissions or writes audit events: core.reveal does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from stacksafe.core.data_keys import scope_keys
from stacksafe.core.fingerprints import fingerprint, fingerprints_of_opened
from stacksafe.core.inheritance import inherits, overlaid
from stacksafe.core.installation import Installation
from stacksafe.core.read_cache import CachedLevel, Level
from stacksafe.core.references import Limits, has_references, resolve_all
from stacksafe.core.tenancy import Target
from stacksafe.crypto import encode_value
from stacksafe.errors import Conflict, IntegrityError
from stacksafe.model import Secret, SecretValue
from stacksafe.paging import MAX_PER_PAGE
from stacksafe.store import Connection
from stacksafe.store import secrets as queries
from stacksafe.store.level_size import level_rows

__all__ = [
    "WHOLE_FOR_ONE_KEY",
    "cached_level",
    "level_of",
    "open_rows",
    "read_level",
    "resolved_values",
    "reveal_detail",
]

# The most rows of a level a read of one key opens whole (to keep it): the most a list gives
# in one page; a bigger level's keys are read one by one, as a list of it reads it whole.
WHOLE_FOR_ONE_KEY = MAX_PER_PAGE


def open_rows(
    conn: Connection,
    installation: Installation,
    target: Target,
    rows: Sequence[queries.StoredSecret],
    reveal: bool,
    overrides: frozenset[str] = frozenset(),
) -> list[Secret]:
    """``rows`` authenticated and opened; ``overrides``: the stack's keys that override an
    inherited account secret (core.inheritance.overlaid), marked so on their Secret."""
    if not rows:
        return []
    keys_by_level = scope_keys(conn, installation, target)
    # One pass over plain tuples: a reveal opens hundreds of rows per request. Every row is
    # authenticated, revealed or not, so tampering shows on the first read that meets it.
    opened = []
    for key, stack_id, version, blob, created_at, updated_at, environments in rows:
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
                key in overrides,
                None if environments is None else tuple(environments.split()),
            )
        )
    return opened


def read_level(
    conn: Connection, installation: Installation, target: Target, key: str | None, reveal: bool
) -> list[Secret]:
    """The live secrets of ``target`` (all, or the one named ``key``), opened: each one
    authenticated, by this read or by an earlier one at the same database revision
    (core.read_cache).
    """
    cache = installation.read_cache
    # The revision first, then the rows: what is kept is never labelled newer than it is (a
    # write committing in between makes it newer, and then only readers that already saw the
    # old revision can meet it). The same holds for a revision read with the target.
    revision = (
        None
        if cache is None
        else target.revision or queries.secrets_revision(conn, target.account.id, target.stack_id)
    )
    if cache is None or revision is None:
        rows, overrides = _stored_rows(conn, target, key)
        return open_rows(conn, installation, target, rows, reveal, overrides)
    found = cache.get(level_of(target), revision)
    if found is None and key is not None:
        found = _kept_for_one_key(conn, installation, target, revision)
        if found is None:
            rows, overrides = _stored_rows(conn, target, key)
            return open_rows(conn, installation, target, rows, reveal, overrides)
    if found is None:
        found = _opened_level(conn, installation, target, revision)
        cache.put(level_of(target), found)
    return found.secrets(key, reveal)


def _opened_level(
    conn: Connection, installation: Installation, target: Target, revision: str
) -> CachedLevel:
    rows, overrides = _stored_rows(conn, target, None)
    return CachedLevel.of(revision, open_rows(conn, installation, target, rows, True, overrides))


def _kept_for_one_key(
    conn: Connection, installation: Installation, target: Target, revision: str
) -> CachedLevel | None:
    """For a read of one key: its whole level opened and kept, so the next reads of its keys
    are answered from memory (at hand, on the event loop: api.fast_path). None, and the key is
    read alone, when the level has more than ``WHOLE_FOR_ONE_KEY`` rows (one key must not cost
    a huge level's decryption) or a damaged row (which must not make the level's other keys
    unreadable; a whole read fails, and keeps nothing)."""
    most = WHOLE_FOR_ONE_KEY
    if level_rows(conn, target.account.id, target.stack_id, most) > most:
        return None
    try:
        opened = _opened_level(conn, installation, target, revision)
    except IntegrityError:
        return None
    if installation.read_cache is not None:
        installation.read_cache.put(level_of(target), opened)
    return opened


def level_of(target: Target) -> Level:
    stack = target.stack
    return (target.account.id, target.stack_id, None if stack is None else stack.environment)


def cached_level(installation: Installation, target: Target) -> CachedLevel | None:
    """What ``read_level`` would use, when it can be had without the database: the target was
    read with its revision, and what was opened at that revision is kept."""
    if installation.read_cache is None or target.revision is None:
        return None
    return installation.read_cache.get(level_of(target), target.revision)


def _stored_rows(
    conn: Connection, target: Target, key: str | None
) -> tuple[list[queries.StoredSecret], frozenset[str]]:
    """The level's rows (a stack's overlaid on its account's), and the stack's keys that
    override an account secret it inherits."""
    if target.stack is None:
        return queries.scope_secrets(conn, target.account.id, None, key), frozenset()
    found = queries.effective_secrets(conn, target.account.id, target.stack.id, key)
    return overlaid(found, target.stack.environment)


def reveal_detail(
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
    opened = open_rows(conn, installation, Target(target.account), rows, True)
    return {s.key: s.raw_value.reveal() for s in opened if s.raw_value is not None}


def _have_references(found: Sequence[Secret]) -> bool:
    return any(s.raw_value is not None and has_references(s.raw_value.reveal()) for s in found)


def resolved_values(
    conn: Connection,
    installation: Installation,
    target: Target,
    key: str | None,
    found: list[Secret],
) -> tuple[list[Secret], dict[str, list[str]], dict[str, str]]:
    """``found`` with ``${...}`` references resolved (see core.references), the references
    each key used, and the keys whose references are broken, with the error naming the
    reference. A broken key is isolated: it is returned without its value (never its stored
    text, which a consumer would take for the value) and the other keys still resolve; read
    alone (``key``) it is the ``Conflict`` itself. The whole effective set is read only when a
    value holds a reference."""
    if not _have_references(found):
        return found, {}, {}
    whole = found if key is None else read_level(conn, installation, target, None, True)
    own = {s.key: s.raw_value.reveal() for s in whole if s.raw_value is not None}
    result = resolve_all(
        own,
        lambda: _account_values(conn, installation, target),
        target.describe(),
        only=[s.key for s in found],
        limits=Limits(installation.max_value_bytes, installation.max_expanded_bytes),
    )
    if key is not None and key in result.broken:
        raise Conflict(result.broken[key])
    # Compared with the stored text, not by whether a reference was followed: an escape
    # ($${) changes a value too.
    changed = [
        s._replace(raw_value=None)
        if s.key in result.broken
        else s._replace(raw_value=SecretValue(result.values[s.key]))
        if result.values[s.key] != own[s.key]
        else s
        for s in found
    ]
    return changed, result.used, result.broken
