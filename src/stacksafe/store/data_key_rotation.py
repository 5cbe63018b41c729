"""Queries for data-key rotation: retiring a scope's data keys, and the envelopes still under them.

The store never sees key material nor plaintext: it finds envelopes by their header (the first
bytes, which name the data-key version), swaps one envelope for another, and deletes retired
wrapped keys once no envelope names them. Envelopes live in two places: every stored version
(``secret_versions.envelope``) and the value of a secret rotation in progress
(``rotation_policies.pending_envelope``, bound to the version it will become).

A retired data key is marked by its ``seal_count``: ``RETIRED_SEAL_COUNT`` lies far beyond any
seal limit, so a writer that ever met a retired key as the newest of its scope would roll over
to a fresh key rather than seal under it (see core.data_keys.sealing_key). No live count comes
near it (live counts stop at the seal limit), so the mark is unambiguous without a new column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, LargeBinary, delete, func, select, update

from stacksafe.store.schema import data_keys, rotation_policies, secret_versions, secrets

__all__ = [
    "RETIRED_SEAL_COUNT",
    "ScopeDataKey",
    "SealedRow",
    "count_retired",
    "count_sealed_under",
    "delete_retired",
    "pending_under",
    "retire_scope_keys",
    "scope_data_keys",
    "sealed_under",
    "swap_envelope",
    "swap_pending",
]

RETIRED_SEAL_COUNT = 2**62


@dataclass(frozen=True, slots=True)
class ScopeDataKey:
    """A data key and the scope it belongs to (ids only), retired or not."""

    id: int
    account_id: int
    stack_id: int | None
    version: int
    retired: bool


@dataclass(frozen=True, slots=True)
class SealedRow:
    """An envelope and what binds it: the secret's key and version number. ``id`` is the
    version row's (or, for a pending value, the secret's)."""

    id: int
    key: str
    version: int
    envelope: bytes


def scope_data_keys(conn: Connection, account_ids: Sequence[int] | None) -> list[ScopeDataKey]:
    """Every data key of the given accounts (None: of all), oldest first."""
    query = select(
        data_keys.c.id,
        data_keys.c.account_id,
        data_keys.c.stack_id,
        data_keys.c.version,
        data_keys.c.seal_count,
    ).order_by(data_keys.c.id)
    if account_ids is not None:
        query = query.where(data_keys.c.account_id.in_(account_ids))
    return [
        ScopeDataKey(int(i), int(a), None if s is None else int(s), int(v), n >= RETIRED_SEAL_COUNT)
        for i, a, s, v, n in conn.execute(query)
    ]


def count_retired(conn: Connection) -> int:
    """Data keys retired by an unfinished data-key rotation."""
    query = select(func.count()).where(data_keys.c.seal_count >= RETIRED_SEAL_COUNT)
    return int(conn.execute(query).scalar_one())


def _keys_of(account_id: int, stack_id: int | None) -> ColumnElement[bool]:
    if stack_id is None:
        return (data_keys.c.account_id == account_id) & data_keys.c.stack_id.is_(None)
    return data_keys.c.stack_id == stack_id


def _secrets_of(account_id: int, stack_id: int | None) -> ColumnElement[bool]:
    if stack_id is None:
        return (secrets.c.account_id == account_id) & secrets.c.stack_id.is_(None)
    return secrets.c.stack_id == stack_id


def retire_scope_keys(conn: Connection, account_id: int, stack_id: int | None) -> list[int]:
    """Mark every data key of the scope retired; their versions."""
    scope = _keys_of(account_id, stack_id)
    versions = [int(v) for v in conn.execute(select(data_keys.c.version).where(scope)).scalars()]
    conn.execute(update(data_keys).where(scope).values(seal_count=RETIRED_SEAL_COUNT))
    return sorted(versions)


def _named_by(column: ColumnElement[bytes | None], headers: Sequence[bytes]) -> ColumnElement[bool]:
    """Envelopes in ``column`` whose header is one of ``headers`` (all of one length)."""
    length = len(headers[0])
    head = func.substr(column, 1, length, type_=LargeBinary)
    return column.is_not(None) & head.in_(list(headers))


def sealed_under(
    conn: Connection,
    account_id: int,
    stack_id: int | None,
    headers: Sequence[bytes],
    after_id: int,
    limit: int,
) -> list[SealedRow]:
    """Up to ``limit`` stored envelopes of the scope whose header is one of ``headers``, in id
    order from ``after_id`` on."""
    if not headers:
        return []
    query = (
        select(
            secret_versions.c.id,
            secrets.c.key,
            secret_versions.c.version,
            secret_versions.c.envelope,
        )
        .join(secrets, secrets.c.id == secret_versions.c.secret_id)
        .where(_secrets_of(account_id, stack_id), _named_by(secret_versions.c.envelope, headers))
        .where(secret_versions.c.id > after_id)
        .order_by(secret_versions.c.id)
        .limit(limit)
    )
    return [SealedRow(int(i), k, int(v), bytes(e)) for i, k, v, e in conn.execute(query)]


def pending_under(
    conn: Connection, account_id: int, stack_id: int | None, headers: Sequence[bytes]
) -> list[SealedRow]:
    """The scope's pending rotation values whose header is one of ``headers``."""
    if not headers:
        return []
    query = (
        select(
            rotation_policies.c.secret_id,
            secrets.c.key,
            rotation_policies.c.pending_version,
            rotation_policies.c.pending_envelope,
        )
        .join(secrets, secrets.c.id == rotation_policies.c.secret_id)
        .where(
            _secrets_of(account_id, stack_id),
            rotation_policies.c.pending_version.is_not(None),
            _named_by(rotation_policies.c.pending_envelope, headers),
        )
        .order_by(rotation_policies.c.secret_id)
    )
    return [SealedRow(int(i), k, int(v), bytes(e)) for i, k, v, e in conn.execute(query)]


def count_sealed_under(
    conn: Connection, account_id: int, stack_id: int | None, headers: Sequence[bytes]
) -> int:
    """Stored versions and pending values of the scope whose header is one of ``headers``."""
    if not headers:
        return 0
    scope = _secrets_of(account_id, stack_id)
    versions = (
        select(func.count())
        .select_from(secret_versions.join(secrets, secrets.c.id == secret_versions.c.secret_id))
        .where(scope, _named_by(secret_versions.c.envelope, headers))
    )
    pending = (
        select(func.count())
        .select_from(rotation_policies.join(secrets, secrets.c.id == rotation_policies.c.secret_id))
        .where(scope, _named_by(rotation_policies.c.pending_envelope, headers))
    )
    return int(conn.execute(versions).scalar_one()) + int(conn.execute(pending).scalar_one())


def swap_envelope(conn: Connection, row_id: int, old: bytes, new: bytes) -> int:
    """Replace a stored envelope if it is still ``old`` (not destroyed meanwhile); 1 if it was."""
    result = conn.execute(
        update(secret_versions)
        .where(secret_versions.c.id == row_id, secret_versions.c.envelope == old)
        .values(envelope=new)
    )
    return int(result.rowcount)


def swap_pending(conn: Connection, secret_id: int, old: bytes, new: bytes) -> int:
    """Replace a pending rotation value if it is still ``old``; 1 if it was."""
    result = conn.execute(
        update(rotation_policies)
        .where(
            rotation_policies.c.secret_id == secret_id,
            rotation_policies.c.pending_envelope == old,
        )
        .values(pending_envelope=new)
    )
    return int(result.rowcount)


def delete_retired(conn: Connection, account_id: int, stack_id: int | None) -> list[int]:
    """Delete the scope's retired data keys; their versions."""
    scope = _keys_of(account_id, stack_id) & (data_keys.c.seal_count >= RETIRED_SEAL_COUNT)
    versions = [int(v) for v in conn.execute(select(data_keys.c.version).where(scope)).scalars()]
    conn.execute(delete(data_keys).where(scope))
    return sorted(versions)
