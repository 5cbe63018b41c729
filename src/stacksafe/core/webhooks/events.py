"""Which audit events are changes of a level's secrets, and what a webhook is sent of one: the
key names and versions, the actor, the time, the level (uids and names) and the event's audit
``seq``. Never a value, nor a fingerprint: only fields picked here, none passed through.

``LevelChanges`` is a webhook's batcher for the delivery loop (core.streams.delivery): the
events after its cursor, each checked against the audit chain (an event edited in the database
is not sent as genuine), the changes of its level kept, the others passed over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from stacksafe.core.installation import Installation
from stacksafe.core.streams.delivery import Tuning
from stacksafe.core.streams.lines import LineEncoder
from stacksafe.model import iso8601
from stacksafe.store import Connection
from stacksafe.store import audit as audit_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.audit import StoredEvent

__all__ = ["CHANGE_ACTIONS", "Level", "LevelChanges", "change_of"]

# The actions that change what a level holds, or how it is sealed (core/secrets, versions,
# rotation, imports, kv, data_key_rotation): its values, their versions, an account key's
# restriction to environments, the data keys. Configuration around the values (retention,
# rotation policies, KV metadata) is not a change of them.
CHANGE_ACTIONS = frozenset(
    {
        "secret.set",
        "secret.unset",
        "secret.rollback",
        "secret.undelete",
        "secret.rotate",
        "secret.restrict",
        "secret.import",
        "secret.import.undo",
        "secret.destroy",
        "secret.kv_write",
        "secret.kv_delete",
        "secret.kv_undelete",
        "secret.kv_destroy",
        "secret.kv_forget",
        "key.data_keys.retire",
        "key.data_keys.reseal",
        "key.data_keys.delete",
    }
)


@dataclass(frozen=True, slots=True)
class Level:
    """What a webhook is subscribed to: an account (``stack_uid`` None: its own level and its
    stacks') or one stack."""

    account_id: int
    account_uid: str
    account_name: str
    stack_uid: str | None = None
    stack_name: str | None = None

    def has(self, event: Mapping[str, Any]) -> bool:
        if self.stack_uid is not None:
            return bool(event["stack_uid"] == self.stack_uid)
        return bool(event["account_uid"] == self.account_uid)


def _keys(detail: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """``{"key", "version"}`` per key and version the event names: ``keys`` is a map of key to
    its new version (most changes) or to the versions touched (a re-seal), or a list of keys
    (a restriction: no new version)."""
    keys = detail.get("keys")
    if isinstance(keys, Mapping):
        for key, version in keys.items():
            versions = version if isinstance(version, list) else [version]
            for one in versions:
                yield {"key": str(key), "version": one if isinstance(one, int) else None}
    elif isinstance(keys, list):
        for key in keys:
            yield {"key": str(key), "version": None}


def change_of(
    fields: Mapping[str, Any],
    detail: Mapping[str, Any],
    level: Level,
    stack_names: Mapping[str, str],
) -> dict[str, Any] | None:
    """What a webhook of ``level`` is sent of the event (its stored ``fields`` and parsed
    ``detail``), or None when it is not a change of that level."""
    if fields["action"] not in CHANGE_ACTIONS or fields["outcome"] != "ok":
        return None
    if not level.has(fields) or detail.get("unchanged") is True:
        return None
    stack_uid = fields["stack_uid"]
    at = fields["at"]
    return {
        "seq": int(fields["seq"]),
        "action": fields["action"],
        "at": at if isinstance(at, str) else iso8601(at),
        "actor": fields["actor"],
        "request_id": fields["request_id"],
        "account": {"uid": level.account_uid, "name": level.account_name},
        "stack": None
        if stack_uid is None
        else {"uid": stack_uid, "name": stack_names.get(stack_uid, level.stack_name)},
        "keys": list(_keys(detail)),
    }


class LevelChanges:
    """A webhook's batches: the changes of ``level`` after the cursor, each one JSON object."""

    def __init__(self, installation: Installation, level: Level, tuning: Tuning) -> None:
        self.installation, self.level, self.tuning = installation, level, tuning
        self._checker = LineEncoder.of(installation)

    def batch(self, cursor: int) -> tuple[list[bytes], int]:
        tuning = self.tuning
        with self.installation.store.read() as conn:
            events = audit_queries.events_after(
                conn, cursor, tuning.batch_events, tuning.batch_bytes
            )
            names = self._stack_names(conn) if events else {}
        changes: list[bytes] = []
        size = 0
        last = cursor
        previous: bytes | None = None
        for event in events:
            self._checker.checked(event, previous)
            previous = event.hash
            change = change_of(event.fields, _detail(event), self.level, names)
            if change is not None:
                encoded = orjson.dumps(change, option=orjson.OPT_SORT_KEYS)
                if changes and size + len(encoded) > tuning.batch_bytes:
                    break
                changes.append(encoded)
                size += len(encoded) + 1
            last = event.seq
        return changes, last

    def moved(self, cursor: int | None) -> None:
        """Nothing is carried from one batch to the next."""

    def _stack_names(self, conn: Connection) -> dict[str, str]:
        if self.level.stack_uid is not None:
            return {}
        return {s.uid: s.name for s in tenancy_queries.list_stacks(conn, self.level.account_id)}


def _detail(event: StoredEvent) -> Mapping[str, Any]:
    text = event.detail
    try:
        found = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}
