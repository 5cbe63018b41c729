"""A KV path's versions: numbered from level writes, and version N's data rebuilt exactly.

Version N of a path is the N-th counted write of its level (for a stack, also of its account
after the stack was created: store.level_writes). Its data is each level as of that write,
overlaid as a read overlays them today (core.inheritance), references resolved within it. The
latest version is never rebuilt: reads of it go through the reveal service like any read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stacksafe.core.data_keys import scope_keys
from stacksafe.core.inheritance import inherits
from stacksafe.core.installation import Installation
from stacksafe.core.references import Limits, resolve_all
from stacksafe.core.tenancy import Target
from stacksafe.errors import Conflict
from stacksafe.store import Connection
from stacksafe.store import kv as kv_queries
from stacksafe.store.level_writes import counted_writes, path_write_count

__all__ = [
    "PathHistory",
    "PathVersion",
    "current_version",
    "data_as_of",
    "history_of",
    "path_history",
]


@dataclass(frozen=True, slots=True)
class PathVersion:
    number: int
    write_id: int
    created_time: datetime
    deletion_time: datetime | None
    destroyed: bool


@dataclass(frozen=True, slots=True)
class PathHistory:
    versions: list[PathVersion]  # every version, oldest first: versions[n - 1] is version n

    @property
    def current(self) -> int:
        return len(self.versions)

    def get(self, number: int) -> PathVersion | None:
        return self.versions[number - 1] if 1 <= number <= len(self.versions) else None


def current_version(conn: Connection, target: Target) -> int:
    return path_write_count(conn, target.account.id, target.stack_id)


def path_history(conn: Connection, target: Target) -> PathHistory:
    writes = counted_writes(conn, target.account.id, target.stack_id)
    flags = kv_queries.version_flags(conn, target.account.id, target.stack_id)
    versions = []
    for number, (write_id, at) in enumerate(writes, start=1):
        flag = flags.get(number)
        versions.append(
            PathVersion(
                number,
                write_id,
                at,
                None if flag is None else flag.deleted_at,
                flag is not None and flag.destroyed,
            )
        )
    return PathHistory(versions)


def history_of(installation: Installation, target: Target) -> PathHistory:
    """``path_history`` in a read transaction of its own."""
    with installation.store.read() as conn:
        return path_history(conn, target)


class ValueDestroyed(Exception):
    """A value version N needs was destroyed (a destroy, or pruning beyond max_versions)."""


def _level_as_of(
    conn: Connection,
    installation: Installation,
    target: Target,
    stack_level: bool,
    write_id: int,
) -> dict[str, str]:
    stack_id = target.stack_id if stack_level else None
    rows = kv_queries.versions_as_of_write(conn, target.account.id, stack_id, write_id)
    if not stack_level and target.stack is not None:
        environment = target.stack.environment
        rows = [r for r in rows if inherits(environment, r[1])]
    live = [(key, stored) for key, _, stored in rows if not stored.is_deletion]
    if not live:
        return {}
    keys = scope_keys(conn, installation, target)[stack_level]
    values = {}
    for key, stored in live:
        if stored.envelope is None:
            raise ValueDestroyed(key)
        values[key] = keys.open(stored.envelope, key, stored.version).decode("utf-8")
    return values


def data_as_of(
    conn: Connection, installation: Installation, target: Target, write_id: int
) -> dict[str, str]:
    """The path's data as level write ``write_id`` left it, references resolved;
    ``ValueDestroyed`` if a value it needs is gone, ``Conflict`` if a reference is broken."""
    account = _level_as_of(conn, installation, target, False, write_id)
    if target.stack is None:
        effective = account
    else:
        effective = {**account, **_level_as_of(conn, installation, target, True, write_id)}
    if not any("${" in value for value in effective.values()):
        return effective
    result = resolve_all(
        effective,
        lambda: account,
        target.describe(),
        limits=Limits(installation.max_value_bytes, installation.max_expanded_bytes),
    )
    if result.broken:
        raise Conflict(next(iter(result.broken.values())))
    return result.values
