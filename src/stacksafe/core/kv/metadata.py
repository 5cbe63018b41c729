"""A KV path's metadata (versions, max_versions, cas_required, custom_metadata), the version
flags (soft delete, undelete, destroy of versions), and LIST."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from stacksafe.core.access import Action, Principal, can_see_account, can_see_stack
from stacksafe.core.audit import record
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.kv.paths import without_nul
from stacksafe.core.kv.versions import PathHistory, path_history
from stacksafe.core.retention import MAX_KEPT_VERSIONS
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput, NotFound
from stacksafe.store import Connection
from stacksafe.store import kv as kv_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.level_writes import lock_level

__all__ = [
    "KvMetadata",
    "MetadataChange",
    "list_folder",
    "read_metadata",
    "version_numbers",
    "write_metadata",
]

CUSTOM_KEYS = 64
CUSTOM_KEY_BYTES = 128
CUSTOM_VALUE_BYTES = 512


@dataclass(frozen=True, slots=True)
class KvMetadata:
    history: PathHistory
    max_versions: int  # 0: no limit
    cas_required: bool
    custom_metadata: dict[str, str] | None
    created_time: datetime | None
    updated_time: datetime | None


def _metadata(conn: Connection, target: Target) -> KvMetadata:
    history = path_history(conn, target)
    stored = kv_queries.path_metadata(conn, target.account.id, target.stack_id)
    limit = tenancy_queries.max_versions_of(conn, target.account.id, target.stack_id)
    custom = None if stored is None else json.loads(stored.custom_metadata) or None
    visible = history.visible
    created = visible[0].created_time if visible else None
    updated = visible[-1].created_time if visible else None
    if stored is not None:
        created = created or stored.created_at
        updated = max(updated, stored.updated_at) if updated else stored.updated_at
    return KvMetadata(
        history, limit or 0, bool(stored and stored.cas_required), custom, created, updated
    )


def read_metadata(installation: Installation, actor: Principal, target: Target) -> KvMetadata:
    """The path's metadata; ``NotFound`` when the path has neither versions nor metadata."""
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack)
    with installation.store.read() as conn:
        found = _metadata(conn, target)
    if not found.history.visible and not (found.custom_metadata or found.cas_required):
        raise NotFound("")
    return found


@dataclass(frozen=True, slots=True)
class MetadataChange:
    """What a metadata write sets (None: left as it is)."""

    max_versions: int | None = None
    cas_required: bool | None = None
    custom_metadata: Mapping[str, str] | None = field(default=None, repr=False)
    merge: bool = False  # PATCH: custom_metadata merged key by key (None values removed)


def _utf8_bytes(text: str) -> int | None:
    """The UTF-8 length of ``text``; None when it has no UTF-8 form (a lone surrogate)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _checked_custom(custom: Mapping[str, object]) -> None:
    if len(custom) > CUSTOM_KEYS:
        raise InvalidInput(f"custom_metadata holds at most {CUSTOM_KEYS} keys")
    for key, value in custom.items():
        size = _utf8_bytes(key)
        if size is None:
            raise InvalidInput("a custom_metadata key is not valid UTF-8 text")
        if not 1 <= size <= CUSTOM_KEY_BYTES:
            raise InvalidInput(f"custom_metadata key {key!r} must be 1 to 128 bytes")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"custom_metadata value of {key!r} must be a string")
        if isinstance(value, str):
            size = _utf8_bytes(value)
            if size is None:
                raise InvalidInput(f"custom_metadata value of {key!r} is not valid UTF-8 text")
            if size > CUSTOM_VALUE_BYTES:
                raise InvalidInput(f"custom_metadata value of {key!r} is over 512 bytes")


def write_metadata(
    installation: Installation, actor: Principal, target: Target, change: MetadataChange
) -> list[str]:
    """Apply ``change``; the warnings to give (a max_versions raised to what stacksafe keeps)."""
    warnings = []
    limit = change.max_versions
    if limit is not None and not 0 <= limit <= MAX_KEPT_VERSIONS:
        raise InvalidInput(f"max_versions must be between 0 and {MAX_KEPT_VERSIONS}")
    if limit == 1:
        limit = 2
        warnings.append(
            "max_versions 1 is stored as 2: stacksafe keeps the current and the previous "
            "version of every key"
        )
    if change.custom_metadata is not None:
        _checked_custom(change.custom_metadata)
    action = Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS
    allow(installation, actor, action, target.account, target.stack)

    def work(conn: Connection) -> None:
        lock_level(conn, target.account.id, target.stack_id)
        now = installation.clock()
        stored = kv_queries.path_metadata(conn, target.account.id, target.stack_id)
        custom: dict[str, str] = {} if stored is None else json.loads(stored.custom_metadata)
        if change.custom_metadata is not None:
            if change.merge:
                for key, value in change.custom_metadata.items():
                    if value is None:
                        custom.pop(key, None)
                    else:
                        custom[key] = value
            else:
                custom = dict(change.custom_metadata)
            _checked_custom(custom)
        cas_required = bool(stored and stored.cas_required)
        if change.cas_required is not None:
            cas_required = change.cas_required
        kv_queries.save_path_metadata(
            conn, target.account.id, target.stack_id, json.dumps(custom), cas_required, now
        )
        detail: dict[str, object] = {"cas_required": cas_required, "custom_metadata": custom}
        if limit is not None:
            tenancy_queries.set_max_versions(
                conn, target.account.id, target.stack_id, limit or None
            )
            detail["max_versions"] = limit or None
        record(
            conn,
            installation,
            actor,
            "secret.kv_metadata",
            account=target.account,
            stack=target.stack,
            detail=detail,
        )

    installation.store.transact(work, f"writing the metadata of {target.describe()}")
    return warnings


def version_numbers(versions: Sequence[object]) -> list[int]:
    """A ``versions`` list as clients send it: integers, or strings (the CLI's)."""
    numbers = []
    for value in versions:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise InvalidInput(f"version {value!r} is not a whole number")
        try:
            numbers.append(int(value))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise InvalidInput(f"version {value!r} is not a number") from None
    if not numbers:
        raise InvalidInput("no version number provided")
    return numbers


def _exists(conn: Connection, target: Target) -> bool:
    """Whether LIST shows the path: it has versions KV knows or KV metadata (an empty stack
    does not, nor one whose metadata was deleted)."""
    found = _metadata(conn, target)
    return bool(found.history.visible or found.custom_metadata or found.cas_required)


def list_folder(installation: Installation, actor: Principal, folder: str) -> list[str]:
    """LIST of ``folder`` (no mount): the accounts at the root, the stacks of an account below
    it (names with ``/`` as folders), only what ``actor`` may describe; ``NotFound`` if empty."""
    without_nul(folder)
    parts = [p for p in folder.strip("/").split("/") if p] if folder.strip("/") else []
    with installation.store.read() as conn:
        if not parts:
            names: set[str] = set()
            for account in tenancy_queries.list_accounts(conn):
                if not can_see_account(actor, account):
                    continue
                stacks = [
                    s
                    for s in tenancy_queries.list_stacks(conn, account.id)
                    if can_see_stack(actor, s)
                ]
                if stacks:
                    names.add(account.name + "/")
                if _exists(conn, Target(account)):
                    names.add(account.name)
            found = sorted(names)
        else:
            named = tenancy_queries.account_by_name(
                conn, parts[0]
            ) or tenancy_queries.account_by_uid(conn, parts[0])
            if named is None or not can_see_account(actor, named):
                raise NotFound("")
            account = named
            prefix = "/".join(parts[1:])
            prefix = prefix + "/" if prefix else ""
            entries: set[str] = set()
            for stack in tenancy_queries.list_stacks(conn, account.id):
                if not can_see_stack(actor, stack) or not stack.name.startswith(prefix):
                    continue
                if not _exists(conn, Target(account, stack)):
                    continue
                rest = stack.name[len(prefix) :]
                head, slash, _ = rest.partition("/")
                entries.add(head + "/" if slash else head)
            found = sorted(entries)
    if not found:
        raise NotFound("")
    return found
