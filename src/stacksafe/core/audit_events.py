"""Reading the audit log: events newest first, filtered by account, time, actor or secret key."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from stacksafe.core.installation import Installation
from stacksafe.model import AuditEvent
from stacksafe.store import audit as queries

__all__ = ["list_events"]


def _names_key(detail: dict[str, Any], key: str) -> bool:
    """Whether an event is about ``key``: in its keys (dict or list), or its single key."""
    keys = detail.get("keys")
    return detail.get("key") == key or (isinstance(keys, dict | list) and key in keys)


def list_events(
    installation: Installation,
    *,
    account_uid: str | None = None,
    since: datetime | None = None,
    actor: str | None = None,
    key: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[AuditEvent]:
    """Events, newest first, filtered; ``key`` matches events naming exactly that secret key."""
    aware = None
    if since is not None:
        aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        try:
            aware = aware.astimezone(UTC)
        except OverflowError:  # before year 1 in UTC: everything is after it
            aware = datetime.min.replace(tzinfo=UTC)
    if "\x00" in (actor or "") + (key or ""):
        return []  # no stored name holds a NUL (and PostgreSQL text cannot)
    where = queries.EventFilter(account_uid=account_uid, since=aware, actor=actor)
    if key is None:
        with installation.store.read() as conn:
            found = queries.newest_events(conn, where, limit, offset)
        return [e.event() for e in found]
    # The text search only narrows the candidates; the exact test is on the parsed keys.
    where = dataclasses.replace(where, mentions=json.dumps(key))
    matched: list[AuditEvent] = []
    if limit <= 0:
        return matched
    skipped = 0
    with installation.store.read() as conn:
        for event in (e.event() for e in queries.iter_newest_events(conn, where)):
            if not _names_key(event.detail, key):
                continue
            if skipped < offset:
                skipped += 1
                continue
            matched.append(event)
            if len(matched) == limit:
                break
    return matched
