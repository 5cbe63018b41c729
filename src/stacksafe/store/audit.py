"""Queries for the append-only audit log and its head row (which orders concurrent appenders)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import exc as sa_exc

from stacksafe.model import AuditEvent
from stacksafe.store.driver import DriverStatement, batch
from stacksafe.store.outages import storage_unavailable
from stacksafe.store.schema import audit_details, audit_events, audit_head
from stacksafe.store.transactions import retryable
from stacksafe.store.upsert import dialect_insert

__all__ = [
    "EVENT_FIELDS",
    "EventFilter",
    "EventsRefused",
    "StoredEvent",
    "append_events",
    "event_hash",
    "events_after",
    "events_query",
    "insert_details",
    "insert_events",
    "iter_events",
    "iter_newest_events",
    "lock_head",
    "move_head",
    "newest_events",
    "read_head",
    "send_lock_head",
    "shared_detail",
]


# The columns of ``audit_events`` named like the fields of model.AuditEvent, in its order.
EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An ``audit_events`` row as the chain holds it: the event's fields as stored, its detail
    as text, and the hashes that link it to the one before."""

    # Every field of model.AuditEvent by name; ``detail`` is the text as stored, inline or
    # shared (``audit_details``), None when its shared text is missing.
    fields: dict[str, Any]
    prev_hash: bytes
    hash: bytes
    detail_digest: bytes | None = None
    # What the event's own ``detail`` column holds ('' when the detail is shared).
    inline_detail: str = ""

    @property
    def seq(self) -> int:
        return int(self.fields["seq"])

    @property
    def detail(self) -> str | None:
        found: str | None = self.fields["detail"]
        return found

    def event(self) -> AuditEvent:
        """The event as the model declares it, its detail parsed."""
        return AuditEvent(**{**self.fields, "detail": _parsed_detail(self.detail)})


def _parsed_detail(text: str | None) -> dict[str, Any]:
    # A damaged event still lists (``audit verify`` names the first one): one shared text
    # damaged would otherwise break the listing of every event that shares it.
    if text is None:
        return {"error": "this event's shared detail is missing from the database"}
    try:
        detail = json.loads(text)
    except ValueError:
        return {"error": "this event's detail is not valid JSON (damaged)"}
    if not isinstance(detail, dict):
        return {"error": "this event's detail is not a JSON object (damaged)"}
    return detail


def _event(row: Row[Any]) -> StoredEvent:
    digest = None if row.detail_digest is None else bytes(row.detail_digest)
    found = row._mapping
    stored = {name: found[name] for name in EVENT_FIELDS}
    if digest is not None:
        stored["detail"] = row.shared_detail
    return StoredEvent(stored, bytes(row.prev_hash), bytes(row.hash), digest, row.detail)


shared_detail = audit_details.c.detail.label("shared_detail")


def events_query() -> Select[Any]:
    """Events with their detail texts, shared ones joined in (``_event`` picks the one in use);
    for ``query_events``, filtered and ordered by the caller (``shared_detail`` is the column of
    the shared text, for searching it)."""
    return select(audit_events, shared_detail).select_from(
        audit_events.outerjoin(
            audit_details, audit_details.c.digest == audit_events.c.detail_digest
        )
    )


# Built once: an audit append runs these on every reveal and change.
_LOCK_HEAD = (
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_CREATE_HEAD = insert(audit_head)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), mac=bindparam("new_mac"))
)
_READ_HEAD = select(audit_head.c.seq, audit_head.c.hash, audit_head.c.mac).where(
    audit_head.c.id == 1
)
_EVENT_COLUMNS = [c.key for c in audit_events.c]
# Through the driver (store.driver): they run on the thread every reveal's answer waits for.
_LOCK_HEAD_DRIVER = DriverStatement(_LOCK_HEAD)
_MOVE_HEAD_DRIVER = DriverStatement(_MOVE_HEAD)
_INSERT_EVENTS_DRIVER = DriverStatement(insert(audit_events), _EVENT_COLUMNS)


@functools.cache
def _insert_details_driver(dialect: str) -> DriverStatement:
    """ON CONFLICT DO NOTHING is spelled per dialect: one statement for each, made once."""
    return DriverStatement(
        dialect_insert(dialect, audit_details).on_conflict_do_nothing(index_elements=["digest"]),
        ["digest", "detail"],
    )


def lock_head(conn: Connection, genesis: bytes) -> tuple[int, bytes]:
    """The last (seq, hash), locked until the transaction ends; creates the head on first use."""
    return send_lock_head(conn, genesis)()


def send_lock_head(conn: Connection, genesis: bytes) -> Callable[[], tuple[int, bytes]]:
    """``lock_head``'s statement sent now (it may go in a batch: store.driver), its answer
    read when called (outside the batch: the head is created then, on first use)."""
    pending = _LOCK_HEAD_DRIVER.send(conn, {})

    def head() -> tuple[int, bytes]:
        row = pending.first()
        if row is None:
            conn.execute(_CREATE_HEAD, {"id": 1, "seq": 0, "hash": genesis, "mac": b""})
            return 0, genesis
        return int(row[0]), bytes(row[1])

    return head


def move_head(conn: Connection, seq: int, hash_: bytes, mac: bytes) -> None:
    _MOVE_HEAD_DRIVER.execute(conn, {"new_seq": seq, "new_hash": hash_, "new_mac": mac})


def read_head(conn: Connection) -> tuple[int, bytes, bytes] | None:
    """(seq, hash, mac) of the head, or None before the first event."""
    row = conn.execute(_READ_HEAD).first()
    return None if row is None else (int(row[0]), bytes(row[1]), bytes(row[2]))


_EVENT_HASH = select(audit_events.c.hash).where(audit_events.c.seq == bindparam("at_seq"))


def event_hash(conn: Connection, seq: int) -> bytes | None:
    """The stored hash of event ``seq``, or None when there is no such event."""
    found = conn.execute(_EVENT_HASH, {"at_seq": seq}).scalar()
    return None if found is None else bytes(found)


class EventsRefused(Exception):
    """The database refused the audit events themselves (a constraint, a trigger, a
    permission): not an outage, not a race. ``kind`` names the driver's error, never its text
    (which may quote the statement's parameters)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _refused(exc: sa_exc.DBAPIError) -> sa_exc.DBAPIError | EventsRefused:
    """What a refusal of the audit log's rows is raised as: ``EventsRefused`` unless an outage
    or a race ``Store.transact`` retries."""
    if retryable(exc) or storage_unavailable(exc) is not None:
        return exc
    return EventsRefused(type(exc.orig).__name__)


def insert_events(conn: Connection, events: Sequence[dict[str, object]]) -> None:
    """Rows of ``audit_events``, each with every column, in one statement; a refusal is
    ``EventsRefused``."""
    try:
        _INSERT_EVENTS_DRIVER.executemany(conn, events)
    except sa_exc.DBAPIError as exc:
        raise _refused(exc) from None


def append_events(
    conn: Connection,
    details: Mapping[bytes, str],
    events: Sequence[dict[str, object]],
    head: tuple[int, bytes, bytes],
) -> None:
    """Events chained after the head locked in this transaction (``insert_details``,
    ``insert_events``), and the head moved to ``head`` (seq, hash, mac): sent together, in one
    round trip on PostgreSQL (store.driver.batch). A refusal of any is ``EventsRefused``: not
    to be called inside another batch, whose end would raise it unclassified."""
    try:
        with batch(conn):
            insert_details(conn, details)
            _INSERT_EVENTS_DRIVER.executemany(conn, events)
            move_head(conn, *head)
    except sa_exc.DBAPIError as exc:
        raise _refused(exc) from None


def insert_details(conn: Connection, details: Mapping[bytes, str]) -> None:
    """Shared detail texts by digest, each stored unless it is already (one statement)."""
    if not details:
        return
    _insert_details_driver(conn.dialect.name).executemany(
        conn, [{"digest": digest, "detail": text} for digest, text in details.items()]
    )


def iter_events(conn: Connection, batch: int = 1000) -> Iterator[StoredEvent]:
    """Every event in sequence order, read in batches (the log may be large)."""
    after = 0
    while True:
        rows = conn.execute(
            events_query()
            .where(audit_events.c.seq > after)
            .order_by(audit_events.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _event(row)
        after = rows[-1].seq


# What a streamed event holds besides its detail (hashes, signature, the other fields), about.
_EVENT_OVERHEAD = 512


def events_after(
    conn: Connection, after: int, limit: int, max_bytes: int | None = None
) -> list[StoredEvent]:
    """Up to ``limit`` events with a sequence above ``after``, in sequence order (a sink's
    next batch: appenders commit in sequence order, so no lower one can still appear).
    ``max_bytes``: only as many as fit in about that many bytes (at least one), measured by
    their details' lengths before any detail is read: a batch of large events is not read
    whole only to be cut to its first few."""
    after_it = audit_events.c.seq > after
    if max_bytes is not None:
        last = _last_within(conn, after, limit, max_bytes)
        if last is None:
            return []
        after_it = and_(after_it, audit_events.c.seq <= last)
    rows = conn.execute(
        events_query().where(after_it).order_by(audit_events.c.seq).limit(limit)
    ).all()
    return [_event(row) for row in rows]


def _last_within(conn: Connection, after: int, limit: int, max_bytes: int) -> int | None:
    size = (
        func.length(audit_events.c.detail)
        + func.coalesce(func.length(audit_details.c.detail), 0)
        + _EVENT_OVERHEAD
    )
    sizes = conn.execute(
        select(audit_events.c.seq, size)
        .select_from(
            audit_events.outerjoin(
                audit_details, audit_details.c.digest == audit_events.c.detail_digest
            )
        )
        .where(audit_events.c.seq > after)
        .order_by(audit_events.c.seq)
        .limit(limit)
    ).all()
    total, last = 0, None
    for seq, length in sizes:
        if last is not None and total + int(length) > max_bytes:
            break
        total, last = total + int(length), int(seq)
    return last


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a listing shows: each set condition must hold."""

    account_uid: str | None = None
    since: datetime | None = None  # aware
    actor: str | None = None
    # A text the detail must contain: it narrows the candidates, the caller's test is exact.
    mentions: str | None = None


def _listing(where: EventFilter) -> Select[Any]:
    query = events_query().order_by(audit_events.c.seq.desc())
    if where.account_uid is not None:
        query = query.where(audit_events.c.account_uid == where.account_uid)
    if where.since is not None:
        query = query.where(audit_events.c.at >= where.since)
    if where.actor is not None:
        query = query.where(audit_events.c.actor == where.actor)
    if where.mentions is not None:
        query = query.where(
            or_(
                audit_events.c.detail.contains(where.mentions, autoescape=True),
                audit_details.c.detail.contains(where.mentions, autoescape=True),
            )
        )
    return query


def newest_events(
    conn: Connection, where: EventFilter, limit: int, offset: int = 0
) -> list[StoredEvent]:
    """Events newest first: ``limit`` of them after skipping ``offset``."""
    return [_event(r) for r in conn.execute(_listing(where).limit(limit).offset(offset))]


def iter_newest_events(
    conn: Connection, where: EventFilter, batch: int = 500
) -> Iterator[StoredEvent]:
    """Every event ``where`` selects, newest first, read ``batch`` at a time as consumed."""
    query, start = _listing(where), 0
    while True:
        rows = conn.execute(query.limit(batch).offset(start)).all()
        for row in rows:
            yield _event(row)
        if len(rows) < batch:
            return
        start += batch
