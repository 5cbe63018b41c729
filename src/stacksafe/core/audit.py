"""The tamper-evident audit log: one event per reveal, change and denied attempt, hash-chained.

Each event stores the hash of its predecessor and its own hash,
``HMAC-SHA256(audit key, previous hash, canonical event)``; the key is server-held (wrapped by
the master key), so someone who can write to the database cannot recompute a valid chain after
editing, deleting, inserting or reordering events. Appenders lock the single head row, which
orders the chain across threads and server processes. Events never hold a value: at most its
keyed fingerprint, ``HMAC-SHA256(fingerprint key, value)``, which answers "was this value read"
without making the log a dictionary.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, or_

from stacksafe.core.access import Principal
from stacksafe.core.audit_checkpoint import Anchor, head_mac, head_matches, read_checkpoint
from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import AUDIT_CHAIN, FINGERPRINT, keyed_hash
from stacksafe.errors import IntegrityError, InvalidInput
from stacksafe.model import Account, Secret, SecretValue, Stack, iso8601
from stacksafe.store import audit as queries
from stacksafe.store.engine import CommitGroup
from stacksafe.store.schema import audit_details, audit_events

__all__ = [
    "AuditEvent",
    "VerifyReport",
    "append",
    "append_later",
    "detail_text",
    "fingerprint",
    "fingerprints_of_opened",
    "list_events",
    "record",
    "record_denied",
    "verify_chain",
    "write_genesis",
]

GENESIS = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    token_uid: str | None
    source_ip: str | None
    request_id: str | None
    action: str
    outcome: str
    account_uid: str | None
    stack_uid: str | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "at_iso": iso8601(self.at),
            "actor": self.actor,
            "token_id": self.token_uid,
            "source_ip": self.source_ip,
            "request_id": self.request_id,
            "action": self.action,
            "outcome": self.outcome,
            "account_uid": self.account_uid,
            "stack_uid": self.stack_uid,
            "detail": self.detail,
        }


def fingerprint(installation: Installation, value: SecretValue) -> str:
    """A keyed fingerprint of a value: equal values give equal fingerprints, and nothing more."""
    return keyed_hash(installation, FINGERPRINT).digest(value.reveal().encode("utf-8"))[:16].hex()


# Fingerprints remembered by seal (a 24-character key), at most this many (about 10 MB).
SEALED_FINGERPRINTS_MAX = 65_536


def fingerprints_of_opened(installation: Installation, opened: Sequence[Secret]) -> dict[str, str]:
    """The fingerprints of the revealed values of secrets just opened, by key.

    Remembered by sealed ``value``: a seal is unique (random nonce), and it opened to exactly
    this plaintext under the associated data of this row, so a sealed value that was read
    before has the fingerprint computed then. A reveal of a whole stack then hashes only the
    values it never revealed before, instead of every value on every request.
    """
    memo = installation.sealed_fingerprints
    hasher = keyed_hash(installation, FINGERPRINT)
    found = {}
    for secret in opened:
        if secret.raw_value is None:
            continue
        # The last 24 base64 characters encode the GCM tag: unique per seal, and a fixed-size
        # key whatever the size of the value, so the memo's memory is bounded by its entries.
        seal = secret.value[-24:]
        known = memo.get(seal)
        if known is None:
            known = hasher.digest(secret.raw_value.reveal().encode("utf-8"))[:16].hex()
            if len(memo) >= SEALED_FINGERPRINTS_MAX:
                memo.clear()  # cheaper than LRU bookkeeping on every hit; refills as read
            memo[seal] = known
        found[secret.key] = known
    return found


def _canonical(fields: dict[str, Any]) -> bytes:
    """``json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``, the
    form every chained hash was made over, byte for byte (tests/core/test_audit_canonical.py),
    built field by field so that the encoding of a large detail text read again and again (a
    kept level's reveal) is made once: encoding a 16 KB detail was a fifth of an append."""
    parts = []
    for name in sorted(fields):
        value = fields[name]
        encoded = _encoded_detail(value) if name == "detail" else _dumps(value)
        parts.append(f"{_dumps(name)}:{encoded}")
    return ("{" + ",".join(parts) + "}").encode()


_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
# Encoded detail texts by text, up to about this many characters in all (cleared when full:
# refilled as appended). Shared by every installation of the process: an encoding depends on
# the text alone.
ENCODED_DETAILS_MAX_CHARS = 4_000_000
_encoded_details: dict[str, str] = {}
_encoded_chars = [0]
_encoded_lock = threading.Lock()


def _encoded_detail(text: str) -> str:
    if len(text) < 256:
        return _dumps(text)  # not worth keeping
    found = _encoded_details.get(text)
    if found is None:
        found = _dumps(text)
        size = len(text) + len(found)
        if size > ENCODED_DETAILS_MAX_CHARS // 4:
            return found  # one that would push out everything else
        with _encoded_lock:  # appenders run in several threads (record() in requests')
            if text in _encoded_details:
                return found
            if _encoded_chars[0] + size > ENCODED_DETAILS_MAX_CHARS:
                _encoded_details.clear()
                _encoded_chars[0] = 0
            _encoded_details[text] = found
            _encoded_chars[0] += size
    return found


# Detail texts this long or longer are stored once (``audit_details``), shared by every event
# with the same text: a reveal of a whole stack gives the same kilobytes on every reveal.
SHARED_DETAIL_MIN_CHARS = 1024
_digests: dict[str, bytes] = {}


def _sha256(text: str) -> bytes:
    """The digest a shared detail is stored under, kept for texts appended again (a few)."""
    found = _digests.get(text)
    if found is None:
        found = hashlib.sha256(text.encode()).digest()
        if len(_digests) >= 16:
            _digests.clear()
        _digests[text] = found
    return found


def detail_text(detail: dict[str, Any] | None) -> str:
    """An event's detail as stored, and as hashed: for a caller that appends the same detail
    many times (core.reveal)."""
    return orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS).decode()


def _fields(seq: int, at: datetime, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at.isoformat(),
        "actor": row["actor"],
        "token_uid": row["token_uid"],
        "source_ip": row["source_ip"],
        "request_id": row["request_id"],
        "action": row["action"],
        "outcome": row["outcome"],
        "account_uid": row["account_uid"],
        "stack_uid": row["stack_uid"],
        "detail": row["detail"],
    }


def _prepared(
    actor: Principal,
    action: str,
    account: Account | None,
    stack: Stack | None,
    outcome: str,
    detail: dict[str, Any] | None,
    stored_detail: str | None = None,
) -> dict[str, Any]:
    """An event's row but for its place in the chain (sequence, time, hashes)."""
    return {
        "actor": actor.name,
        "token_uid": actor.token_uid,
        "source_ip": actor.source_ip,
        "request_id": actor.request_id,
        "action": action,
        "outcome": outcome,
        "account_uid": None if account is None else account.uid,
        "stack_uid": None if stack is None else stack.uid,
        # Stored as text and hashed as stored: verify_chain reads the same text back.
        "detail": detail_text(detail) if stored_detail is None else stored_detail,
    }


def _append(
    conn: Connection, installation: Installation, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Chain ``rows`` after the head, in order, in the caller's transaction; their sequences."""
    chain = keyed_hash(installation, AUDIT_CHAIN)
    seq, previous = queries.lock_head(conn, GENESIS)
    # Hashed as UTC, which is how it reads back from the database.
    at = installation.clock().astimezone(UTC)
    events = []
    shared: dict[bytes, str] = {}
    for row in rows:
        seq += 1
        digest = chain.digest(previous, _canonical(_fields(seq, at, row)))
        event = {**row, "seq": seq, "at": at, "prev_hash": previous, "hash": digest}
        text = row["detail"]
        if len(text) >= SHARED_DETAIL_MIN_CHARS:
            event["detail_digest"] = _sha256(text)
            shared[event["detail_digest"]] = text
            event["detail"] = ""
        else:
            event["detail_digest"] = None
        events.append(event)
        previous = digest
    queries.insert_details(conn, shared)
    queries.insert_events(conn, events)
    queries.move_head(conn, seq, previous, head_mac(chain, seq, previous))
    if installation.audit_checkpoint is not None:
        # An integer compared and kept; the checkpoint is written later, by its own thread.
        installation.audit_checkpoint.appended(seq)
    return [event["seq"] for event in events]


GENESIS_ACTION = "audit.genesis"


def write_genesis(installation: Installation, actor: Principal) -> int | None:
    """The log's first event, written by ``init``: a log that holds no event at all was wiped.
    Its sequence, or None when the log already has events (nothing is written then)."""

    def work(conn: Connection) -> int | None:
        if queries.lock_head(conn, GENESIS)[0]:
            return None
        return record(conn, installation, actor, GENESIS_ACTION)

    return installation.store.transact(work, "writing the audit log's genesis event")


def record(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    action: str,
    *,
    account: Account | None = None,
    stack: Stack | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction; returns its sequence number.

    The caller's write and its audit event commit together or not at all (fail closed).
    """
    return _append(conn, installation, [_prepared(actor, action, account, stack, outcome, detail)])[
        0
    ]


def append(
    installation: Installation,
    actor: Principal,
    action: str,
    *,
    account: Account | None = None,
    stack: Stack | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one event in a transaction of its own; returns once it is durably committed.

    For events that go with no other write (reveals, refusals). Concurrent appends share one
    transaction and one commit (group commit, see ``store.CommitGroup``): each caller still
    returns only after its own event is durable, and gets the error if the group failed.
    """
    row = _prepared(actor, action, account, stack, outcome, detail)
    return _appender(installation).submit(row)


def append_later(
    installation: Installation,
    actor: Principal,
    action: str,
    *,
    account: Account | None = None,
    stack: Stack | None = None,
    detail: dict[str, Any] | None = None,
    stored_detail: str | None = None,
) -> Future[int]:
    """``append`` without waiting: the future completes once the event is durably committed
    (or fails as its group failed). It joins the same group commits as ``append``.
    ``stored_detail``: ``detail_text(detail)``, for a caller that appends the same detail
    many times (core.reveal)."""
    row = _prepared(actor, action, account, stack, "ok", detail, stored_detail)
    return _appender(installation).submit_later(row)


_APPENDER = "audit"


def _appender(installation: Installation) -> CommitGroup[dict[str, Any], int]:
    appender: CommitGroup[dict[str, Any], int] | None = installation.commit_groups.get(_APPENDER)
    if appender is None:
        # setdefault is atomic: two first callers end up with the same group.
        appender = installation.commit_groups.setdefault(
            _APPENDER,
            CommitGroup(
                installation.store,
                lambda conn, rows: _append(conn, installation, rows),
                "recording audit events",
            ),
        )
    return appender


def record_denied(
    installation: Installation,
    actor: Principal,
    action: str,
    reason: str,
    *,
    account: Account | None = None,
    stack: Stack | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a refused attempt in its own transaction (the attempt itself changed nothing)."""
    append(
        installation,
        actor,
        action,
        account=account,
        stack=stack,
        outcome="denied",
        detail={**(detail or {}), "reason": reason},
    )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    intact: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    # The last event's ``SEQ:HASH`` when intact: an anchor to keep elsewhere (--expect-head).
    head: str | None = field(default=None, compare=False)
    # Where the anchors compared came from (checkpoint files, --expect-head).
    anchors: tuple[str, ...] = field(default=(), compare=False)
    # Not intact only because no anchor was found (``require_anchor``): the chain itself is.
    unanchored: bool = field(default=False, compare=False)


def verify_chain(
    installation: Installation,
    *,
    checkpoints: Sequence[Path] = (),
    expected: Sequence[Anchor] = (),
    require_anchor: bool = False,
) -> VerifyReport:
    """Walk the whole chain; name the first event that is missing, edited, inserted or moved,
    then compare its end with every anchor: the server's checkpoint file, ``checkpoints``
    (files copied elsewhere, which must exist) and ``expected`` heads. A log that ends before
    an anchor's event, or holds another event there, was rolled back; one with no event at
    all has lost its genesis event.

    ``require_anchor`` (``audit verify``): a log with events but no anchor at all is not
    intact (``unanchored``): a deleted checkpoint is what whoever cut the tail would leave."""
    chain = keyed_hash(installation, AUDIT_CHAIN)
    own = installation.audit_checkpoint.path if installation.audit_checkpoint is not None else None
    anchors = list(expected)
    for path in [*checkpoints, *([own] if own is not None else [])]:
        try:
            found = read_checkpoint(path, chain)
        except IntegrityError as exc:
            return VerifyReport(False, 0, None, exc.message, anchors=(str(path),))
        if found is not None:
            anchors.append(found)
        elif path != own:
            raise InvalidInput(f"checkpoint file {path} does not exist")
    sources = tuple(a.source for a in anchors)
    anchored = {a.seq for a in anchors}
    seen: dict[int, bytes] = {}
    expected_seq, previous = 1, GENESIS
    count = 0
    with installation.store.read() as conn:
        head = queries.read_head(conn)
        for event in queries.iter_events(conn):
            if event.seq != expected_seq:
                return VerifyReport(
                    False,
                    count,
                    expected_seq,
                    f"event {expected_seq} is missing (next is {event.seq})",
                )
            if event.prev_hash != previous:
                return VerifyReport(
                    False,
                    count,
                    event.seq,
                    f"event {event.seq} does not follow event {event.seq - 1}",
                )
            shared = _shared_detail_problem(event)
            if shared is not None:
                return VerifyReport(False, count, event.seq, shared)
            row = {
                "actor": event.actor,
                "token_uid": event.token_uid,
                "source_ip": event.source_ip,
                "request_id": event.request_id,
                "action": event.action,
                "outcome": event.outcome,
                "account_uid": event.account_uid,
                "stack_uid": event.stack_uid,
                "detail": event.detail,
            }
            if not chain.matches(
                event.hash, previous, _canonical(_fields(event.seq, event.at, row))
            ):
                return VerifyReport(False, count, event.seq, f"event {event.seq} was altered")
            if event.seq in anchored:
                seen[event.seq] = event.hash
            previous, expected_seq, count = event.hash, expected_seq + 1, count + 1
    last_seq = expected_seq - 1
    if head is not None and (head[0] != last_seq or head[1] != previous):
        return VerifyReport(
            False,
            count,
            last_seq + 1,
            f"the log ends at event {last_seq}, but its head says {head[0]}",
        )
    if head is not None and head[0] > 0 and not head_matches(chain, head[0], head[1], head[2]):
        return VerifyReport(
            False, count, last_seq, f"the head was set back or forged (it names event {head[0]})"
        )
    if head is None and count:
        return VerifyReport(False, count, 1, "the audit head row is missing")
    # A consistent chain and head: what a rollback leaves. Only an anchor kept outside the
    # database tells, newest first.
    for anchor in sorted(anchors, key=lambda a: a.seq, reverse=True):
        if anchor.seq > last_seq:
            return VerifyReport(
                False,
                count,
                last_seq + 1,
                f"the log was rolled back: it ends at event {last_seq}, but {anchor.source} "
                f"records event {anchor.seq} (events {last_seq + 1} to {anchor.seq} at least "
                "were deleted)",
                anchors=sources,
            )
        if seen.get(anchor.seq) != anchor.hash:
            return VerifyReport(
                False,
                count,
                anchor.seq,
                f"the log was rolled back and rewritten: event {anchor.seq} is not the one "
                f"{anchor.source} records",
                anchors=sources,
            )
    if count == 0:
        return VerifyReport(
            False,
            0,
            1,
            "the log has no genesis event: it is empty (every event was deleted, or the "
            "database was not made by `stacksafe init`)",
            anchors=sources,
        )
    if require_anchor and not anchors:
        where = f"at {own}" if own is not None else "(no checkpoint file is configured)"
        return VerifyReport(
            False,
            count,
            None,
            f"no checkpoint found {where}: the log's end cannot be checked (a tail cut with "
            "the checkpoint deleted looks intact); pass --checkpoint FILE (a copy) or "
            "--expect-head SEQ:HASH (a head kept elsewhere), or --no-anchor to check the "
            f"chain alone ({count} events, chain intact)",
            unanchored=True,
        )
    return VerifyReport(True, count, head=f"{last_seq}:{previous.hex()}", anchors=sources)


def _shared_detail_problem(event: queries.StoredEvent) -> str | None:
    """What is wrong with how ``event`` stores a shared detail (0011), or None."""
    if event.detail_digest is None:
        return None
    if event.detail is None:
        return f"the shared detail of event {event.seq} is missing"
    if event.inline_detail != "":
        return f"event {event.seq} holds a detail of its own besides its shared one"
    if _sha256(event.detail) != event.detail_digest:
        return f"the shared detail of event {event.seq} does not match its digest"
    return None


def _event(stored: queries.StoredEvent) -> AuditEvent:
    return AuditEvent(
        stored.seq,
        stored.at,
        stored.actor,
        stored.token_uid,
        stored.source_ip,
        stored.request_id,
        stored.action,
        stored.outcome,
        stored.account_uid,
        stored.stack_uid,
        _detail_of(stored),
    )


def _detail_of(stored: queries.StoredEvent) -> dict[str, Any]:
    # A damaged event still lists (``audit verify`` names the first one): one shared text
    # damaged would otherwise break the listing of every event that shares it.
    if stored.detail is None:
        return {"error": "this event's shared detail is missing from the database"}
    try:
        detail = json.loads(stored.detail)
    except ValueError:
        return {"error": "this event's detail is not valid JSON (damaged)"}
    if not isinstance(detail, dict):
        return {"error": "this event's detail is not a JSON object (damaged)"}
    return detail


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
    query = queries.events_query().order_by(audit_events.c.seq.desc())
    if account_uid is not None:
        query = query.where(audit_events.c.account_uid == account_uid)
    if since is not None:
        aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        try:
            aware = aware.astimezone(UTC)
        except OverflowError:  # before year 1 in UTC: everything is after it
            aware = datetime.min.replace(tzinfo=UTC)
        query = query.where(audit_events.c.at >= aware)
    if "\x00" in (actor or "") + (key or ""):
        return []  # no stored name holds a NUL (and PostgreSQL text cannot)
    if actor is not None:
        query = query.where(audit_events.c.actor == actor)
    if key is None:
        with installation.store.read() as conn:
            found = queries.query_events(conn, query.limit(limit).offset(offset))
        return [_event(e) for e in found]
    # The text search only narrows the candidates; the exact test is on the parsed keys.
    named = json.dumps(key)
    query = query.where(
        or_(
            audit_events.c.detail.contains(named, autoescape=True),
            audit_details.c.detail.contains(named, autoescape=True),
        )
    )
    matched: list[AuditEvent] = []
    skipped = 0
    batch, start = 500, 0
    with installation.store.read() as conn:
        while len(matched) < limit:
            rows = queries.query_events(conn, query.limit(batch).offset(start))
            for event in (_event(r) for r in rows):
                if not _names_key(event.detail, key):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                matched.append(event)
                if len(matched) == limit:
                    break
            if len(rows) < batch:
                break
            start += batch
    return matched
