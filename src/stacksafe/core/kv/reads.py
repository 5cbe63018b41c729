"""Reading a KV path: the latest version through the reveal service, an older one rebuilt.

A read of the latest version is a reveal of the level with purpose ``kv`` (one audit event
naming every key and version, as any reveal), beside the facts KV shows of it (``LatestFacts``:
its number, when it was written, the path's custom metadata), read first: the data given is
never older than the number, so a cas based on it fails rather than pin a stale value. The
facts carry the level's revision they were read at; a face may keep what it renders of a reveal
whose snapshot is at that same revision (api.vault.kv).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from stacksafe.core.access import Action, Principal
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.kv.versions import (
    PathVersion,
    ValueDestroyed,
    data_as_of,
    path_history,
)
from stacksafe.core.reveal import Revealed, RevealQuery, record_reveal, reveal
from stacksafe.core.tenancy import Target
from stacksafe.errors import BrokenReferences, NotFound
from stacksafe.store import kv as kv_queries
from stacksafe.store import secrets as queries
from stacksafe.store.level_writes import path_head

__all__ = [
    "KV_QUERY",
    "KvLatest",
    "KvRead",
    "LatestFacts",
    "VersionGone",
    "latest_facts",
    "read_latest",
    "read_version",
    "revealed_data",
]

PURPOSE = "kv"
KV_QUERY = RevealQuery(reveal=True, purpose=PURPOSE)


class VersionGone(NotFound):
    """The version exists but holds no data to give: soft-deleted, destroyed, or an empty
    set. A 404 that carries the version's metadata (what Vault clients read)."""

    def __init__(self, version: PathVersion | None) -> None:
        super().__init__("")
        self.version = version


@dataclass(frozen=True, slots=True)
class LatestFacts:
    """What KV shows of a path's latest version besides its data, and the level's revision
    they were read at."""

    revision: str | None
    version: PathVersion | None  # None: the path has no version KV knows
    custom_metadata: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class KvRead:
    data: dict[str, str] = field(repr=False)
    version: PathVersion
    custom_metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class KvLatest:
    """The reveal of the latest version and its facts (``revealed`` is None when the facts
    already say there is no data to reveal)."""

    facts: LatestFacts
    revealed: Revealed | None


def latest_facts(installation: Installation, target: Target) -> LatestFacts:
    """One read transaction: the level's revision, its path version and custom metadata."""
    account_id, stack_id = target.account.id, target.stack_id
    with installation.store.read() as conn:
        revision = queries.secrets_revision(conn, account_id, stack_id)
        number, at = path_head(conn, account_id, stack_id)
        stored = kv_queries.path_metadata(conn, account_id, stack_id)
        flag = kv_queries.version_flags(conn, account_id, stack_id).get(number)
    custom = None if stored is None else json.loads(stored.custom_metadata) or None
    forgotten = 0 if stored is None else stored.forgotten_through
    if not number or at is None or number <= forgotten:
        return LatestFacts(revision, None, custom)
    version = PathVersion(
        number,
        0,
        at,
        None if flag is None else flag.deleted_at,
        flag is not None and flag.destroyed,
        flag is not None and flag.emptied,
    )
    return LatestFacts(revision, version, custom)


def revealed_data(facts: LatestFacts, revealed: Revealed) -> KvRead:
    """The data of a latest read once ``revealed`` (``result()`` waited for by the caller):
    ``VersionGone`` when there is none, ``BrokenReferences`` if a reference is broken."""
    found = revealed.secrets
    BrokenReferences.among(dict(revealed.broken))
    data = {s.key: s.raw_value.reveal() for s in found if s.raw_value is not None}
    if facts.version is None:
        raise NotFound("")
    if not data:
        raise VersionGone(facts.version if facts.version.deletion_time else None)
    return KvRead(data, facts.version, facts.custom_metadata)


def read_latest(installation: Installation, actor: Principal, target: Target) -> KvLatest:
    """The facts of the latest version, then its reveal (see the module)."""
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack)
    facts = latest_facts(installation, target)
    version = facts.version
    if version is None:
        raise NotFound("")
    if version.deletion_time is not None or version.destroyed:
        raise VersionGone(version)
    # Revealed at the revision the facts were read at, not at one the target may carry from
    # earlier: a level kept at an older revision would give data older than the number, and
    # a cas based on it would pin a stale inherited value (store.secrets: rows read after a
    # revision are never older than it).
    reading = Target(target.account, target.stack, facts.revision)
    return KvLatest(facts, reveal(installation, actor, reading, KV_QUERY))


def read_version(
    installation: Installation, actor: Principal, target: Target, number: int
) -> KvRead:
    """Version ``number`` of the path, rebuilt from the stored history (the latest is read
    as any version here, with its own audit event naming the version)."""
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack)
    with installation.store.read() as conn:
        history = path_history(conn, target)
        stored = kv_queries.path_metadata(conn, target.account.id, target.stack_id)
    found = history.get(number)
    if found is None:
        raise NotFound("")
    if found.deletion_time is not None or found.destroyed:
        raise VersionGone(found)
    allow(installation, actor, Action.REVEAL, target.account, target.stack)
    with installation.store.read() as conn:
        try:
            data = data_as_of(conn, installation, target, found.write_id)
        except ValueDestroyed:
            gone = PathVersion(number, found.write_id, found.created_time, None, True)
            raise VersionGone(gone) from None
    if not data:
        raise VersionGone(found)
    record_reveal(
        installation,
        actor,
        target,
        {"purpose": PURPOSE, "kv_version": number, "keys": sorted(data)},
    )
    custom = None if stored is None else json.loads(stored.custom_metadata) or None
    return KvRead(data, found, custom)
