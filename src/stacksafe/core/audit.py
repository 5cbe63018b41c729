"""Appending to the tamper-evident audit log: one event per reveal, change and denied attempt.

Events are chained (core/audit_chain.py) in the order appenders lock the single head row, which
orders the chain across threads and server processes. Events never hold a value: at most its
keyed fingerprint (core/fingerprints.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC
from typing import Any

import orjson

from stacksafe.core.access import Principal
from stacksafe.core.audit_chain import GENESIS, canonical, hashed_fields, shared_digest
from stacksafe.core.audit_checkpoint import head_mac
from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import AUDIT_CHAIN, keyed_hash
from stacksafe.errors import AuditUnavailable
from stacksafe.model import Account, Stack
from stacksafe.store import Connection
from stacksafe.store import audit as queries
from stacksafe.store.commit_group import CommitGroup

__all__ = [
    "GENESIS_ACTION",
    "append",
    "append_later",
    "detail_text",
    "record",
    "record_denied",
    "send_chain_head",
    "write_genesis",
]

# Detail texts this long or longer are stored once (``audit_details``), shared by every event
# with the same text: a reveal of a whole stack gives the same kilobytes on every reveal.
SHARED_DETAIL_MIN_CHARS = 1024


def detail_text(detail: dict[str, Any] | None) -> str:
    """An event's detail as stored, and as hashed: for a caller that appends the same detail
    many times (core.reveal)."""
    return orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS).decode()


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


def send_chain_head(conn: Connection) -> Callable[[], tuple[int, bytes]]:
    """The chain's head locked for ``record``'s append (``locked_head``), sent now: so that
    it may go in a batch of statements (store.driver) with the write the event records."""
    return queries.send_lock_head(conn, GENESIS)


def _append(
    conn: Connection,
    installation: Installation,
    rows: Sequence[dict[str, Any]],
    locked_head: Callable[[], tuple[int, bytes]] | None = None,
) -> list[int]:
    """Chain ``rows`` after the head, in order, in the caller's transaction; their sequences."""
    chain = keyed_hash(installation, AUDIT_CHAIN)
    seq, previous = (locked_head or send_chain_head(conn))()
    # Hashed as UTC, which is how it reads back from the database.
    at = installation.clock().astimezone(UTC)
    events = []
    shared: dict[bytes, str] = {}
    for row in rows:
        seq += 1
        digest = chain.digest(previous, canonical(hashed_fields(seq, at, row)))
        event = {**row, "seq": seq, "at": at, "prev_hash": previous, "hash": digest}
        text = row["detail"]
        if len(text) >= SHARED_DETAIL_MIN_CHARS:
            event["detail_digest"] = shared_digest(text)
            shared[event["detail_digest"]] = text
            event["detail"] = ""
        else:
            event["detail_digest"] = None
        events.append(event)
        previous = digest
    queries.append_events(conn, shared, events, (seq, previous, head_mac(chain, seq, previous)))
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
    locked_head: Callable[[], tuple[int, bytes]] | None = None,
) -> int:
    """Append one event inside the caller's transaction; returns its sequence number.

    The caller's write and its audit event commit together or not at all (fail closed).
    ``locked_head``: ``send_chain_head``'s, sent earlier in the transaction.
    """
    try:
        appended = _append(
            conn,
            installation,
            [_prepared(actor, action, account, stack, outcome, detail)],
            locked_head,
        )
    except queries.EventsRefused as refused:
        # The change and its event go together or not at all: 503, as for a reveal.
        raise AuditUnavailable(
            f"the audit log cannot be written ({refused.kind}); the change was refused"
        ) from None
    return appended[0]


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
                # Looked up at each group: a serving app replaces the installation's meter.
                observe=lambda size, seconds, ok: installation.meter.audit_committed(
                    size, seconds, ok
                ),
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
