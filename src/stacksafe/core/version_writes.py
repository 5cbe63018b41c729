"""Writing one version of a key: the write primitive of every face that changes a secret.

Every write appends an immutable version row and moves the secret's pointer; an unset appends a
tombstone. After a write, versions beyond the level's ``max_versions`` lose their ciphertexts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from stacksafe.core.access import Principal
from stacksafe.core.audit import record
from stacksafe.core.inheritance import inherits
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target
from stacksafe.crypto import Binding, DataKey, encode_value
from stacksafe.errors import PreconditionFailed
from stacksafe.model import Secret, SecretValue
from stacksafe.store import Connection
from stacksafe.store import secrets as queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.level_writes import level_write

__all__ = [
    "ACTION_DELETE",
    "ACTION_SET",
    "ANY_VERSION",
    "Expected",
    "append_version",
    "check_expected",
    "prune_after_write",
]

ACTION_SET = "set"
ACTION_DELETE = "delete"

# If-Match: * (RFC 9110 13.1.1): the write happens only if the key has a current value as a
# read at this level shows it (a stack's own, or the one it inherits).
ANY_VERSION: Literal["*"] = "*"
# What a conditional write expects: a version as a read at the level showed it (its ETag),
# 0 for "no value of this level's own yet", or ANY_VERSION; None: unconditional.
Expected = int | Literal["*"] | None


def check_expected(
    conn: Connection, target: Target, key: str, head: queries.SecretHead | None, expected: Expected
) -> None:
    """Raise ``PreconditionFailed`` unless ``key`` at ``target`` is as ``expected`` says.

    A version is compared with what a read at this level answers (so its ETag can be sent back):
    the level's own current version, or on a stack without its own value, the version of the
    account's value it inherits. 0 still means "this level has no value of its own", so a new
    key or a new override of an inherited one can be created without replacing anyone's.
    """
    if expected is None:
        return
    own = 0 if head is None or head.deleted else head.current_version
    if expected == 0:
        current = own
    else:
        current = own or _inherited_version(conn, target, key)
        if expected == ANY_VERSION:
            if current:
                return
            raise PreconditionFailed(
                f"{key!r} has no current value in {target.describe()} (If-Match: * needs one)"
            )
    if current != expected:
        raise PreconditionFailed(
            f"{key!r} is at version {current}, not {expected}: someone else wrote "
            "it first; read it again and retry"
        )


def _inherited_version(conn: Connection, target: Target, key: str) -> int:
    """The version of the account's ``key`` that ``target``'s stack inherits (0: none)."""
    if target.stack is None:
        return 0
    environment = target.stack.environment
    for row in queries.scope_secrets(conn, target.account.id, None, key):
        if inherits(environment, row.environments):
            return row.version
    return 0


def append_version(
    conn: Connection,
    target: Target,
    key: str,
    value: SecretValue | None,
    data_key: DataKey | None,
    author: str,
    now: datetime,
    expected_version: Expected = None,
    action: str | None = None,
    sealed: bytes | None = None,
    locked_head: Callable[[], queries.SecretHead | None] | None = None,
) -> Secret | None:
    """Write the next version of ``key`` (a tombstone when ``value`` and ``sealed`` are None).

    ``action`` names the version in history (default: set, or delete for a tombstone).
    ``sealed`` is a value sealed beforehand for exactly this version (a rotation's pending
    value); it is used as it is. Returns the secret as written (without plaintext), or None for
    a tombstone. ``locked_head``: the key's head read with ``lock=True``, sent before
    (store.secrets.send_secret_head), so that it went in a batch with other statements.

    In a batch (store.driver), the version's statements go in it, and a lost compare-and-set
    is raised at its end.
    """
    head = (
        locked_head
        or queries.send_secret_head(conn, target.account.id, target.stack_id, key, lock=True)
    )()
    check_expected(conn, target, key, head, expected_version)
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
        queries.advance_secret(
            conn, head, deleted=value is None and sealed is None, created_at=created_at, now=now
        )
        secret_id = head.id
    if action is None:
        action = ACTION_DELETE if envelope is None else ACTION_SET
    write = level_write(conn, target.account.id, target.stack_id, now)
    queries.insert_version(conn, secret_id, version, action, envelope, author, now, write)
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
    max_versions: Callable[[], int | None] | None = None,
) -> None:
    """After new versions of ``keys``: destroy the ciphertexts of versions beyond the level's
    ``max_versions`` (never the current or the previous one), with one audit event.
    ``max_versions``: the level's, sent earlier in the transaction
    (store.tenancy.send_max_versions), else read now."""
    limit = (
        max_versions or tenancy_queries.send_max_versions(conn, target.account.id, target.stack_id)
    )()
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
