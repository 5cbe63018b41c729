"""Reading a KV path: the latest version through the reveal service, an older one rebuilt."""

from __future__ import annotations

from dataclasses import dataclass, field

from stacksafe.core.access import Action, Principal
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.kv.versions import (
    PathVersion,
    ValueDestroyed,
    current_version,
    data_as_of,
    path_history,
)
from stacksafe.core.reveal import RevealQuery, record_reveal, reveal
from stacksafe.core.tenancy import Target
from stacksafe.errors import BrokenReferences, NotFound

__all__ = ["KvRead", "VersionGone", "read_path"]

PURPOSE = "kv"


class VersionGone(NotFound):
    """The version exists but holds no data to give: soft-deleted, destroyed, or an empty
    set. A 404 that carries the version's metadata (what Vault clients read)."""

    def __init__(self, version: PathVersion | None) -> None:
        super().__init__("")
        self.version = version


@dataclass(frozen=True, slots=True)
class KvRead:
    data: dict[str, str] = field(repr=False)
    version: PathVersion


def read_path(
    installation: Installation, actor: Principal, target: Target, version: int | None
) -> KvRead:
    """Version ``version`` (None or 0: the latest) of the path of ``target``.

    The latest is a reveal of the level with purpose ``kv`` (one audit event naming every key
    and version, as any reveal); its number is read first, so the data given is never older
    than the number (a cas based on it fails rather than pin a stale value). An older version
    is rebuilt from the stored history and recorded as a reveal of it."""
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack)
    with installation.store.read() as conn:
        history = path_history(conn, target)
    if not history.current:
        raise NotFound("")
    number = version or history.current
    found = history.get(number)
    if found is None:
        raise NotFound("")
    if found.deletion_time is not None or found.destroyed:
        raise VersionGone(found)
    if number == history.current:
        return KvRead(_latest(installation, actor, target), found)
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
    return KvRead(data, found)


def _latest(installation: Installation, actor: Principal, target: Target) -> dict[str, str]:
    revealed = reveal(installation, actor, target, RevealQuery(reveal=True, purpose=PURPOSE))
    found = revealed.result()
    BrokenReferences.among(dict(revealed.broken))
    data = {s.key: s.raw_value.reveal() for s in found if s.raw_value is not None}
    if not data:
        raise VersionGone(None)
    return data


def latest_number(installation: Installation, target: Target) -> int:
    with installation.store.read() as conn:
        return current_version(conn, target)
