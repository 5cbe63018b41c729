"""The audit log's hash chain: the canonical encoding of an event, and the walk that verifies it.

Each event stores the hash of its predecessor and its own hash,
``HMAC-SHA256(audit key, previous hash, canonical event)``; the key is server-held (wrapped by
the master key), so someone who can write to the database cannot recompute a valid chain after
editing, deleting, inserting or reordering events. ``verify_chain`` walks it and compares its end
with the anchors kept outside the database (core/audit_checkpoint.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from stacksafe.core.audit_checkpoint import Anchor, head_matches, read_checkpoint
from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import AUDIT_CHAIN, keyed_hash
from stacksafe.errors import IntegrityError, InvalidInput
from stacksafe.store import audit as queries

__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "VerifyReport",
    "canonical",
    "hashed_fields",
    "shared_digest",
    "verify_chain",
]

GENESIS = b"\x00" * 32

# What the chain hashes of an event, by name: every field of model.AuditEvent when the chain
# was made. Fixed on purpose: hashing a field added to the model later changes every hash, so
# it takes a decision on how older events verify (tests/core/test_audit_canonical.py).
HASHED_FIELDS = (
    "seq",
    "at",
    "actor",
    "token_uid",
    "source_ip",
    "request_id",
    "action",
    "outcome",
    "account_uid",
    "stack_uid",
    "detail",
)


def canonical(fields: dict[str, Any]) -> bytes:
    """``json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``, the
    form every chained hash was made over, byte for byte (tests/core/test_audit_canonical.py),
    built field by field so that the encoding of a large detail text read again and again (a
    kept level's reveal) is made once: encoding a large detail was a large share of an append
    (bench/README.md, api_bench.py)."""
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


# A detail stored once and shared (``audit_details``, core.audit.SHARED_DETAIL_MIN_CHARS) is
# stored under its SHA-256: the digests of the last few texts.
_digests: dict[str, bytes] = {}


def shared_digest(text: str) -> bytes:
    """The digest a shared detail is stored under, kept for texts appended again (a few)."""
    found = _digests.get(text)
    if found is None:
        found = hashlib.sha256(text.encode()).digest()
        if len(_digests) >= 16:
            _digests.clear()
        _digests[text] = found
    return found


def hashed_fields(seq: int, at: datetime, row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields ``canonical`` encodes (``HASHED_FIELDS``): ``row``'s, at ``seq`` and ``at``."""
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
            if not chain.matches(
                event.hash,
                previous,
                canonical(hashed_fields(event.seq, event.fields["at"], event.fields)),
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
    if shared_digest(event.detail) != event.detail_digest:
        return f"the shared detail of event {event.seq} does not match its digest"
    return None
