"""The owner's sinks: ``stacksafe audit sinks add|list|remove|pause|resume|status``, each
change audited (``audit_sink.add`` ...), and the per-sink lag that status, /readyz and the
metrics read (``sink_statuses``).

Only the server owner configures sinks: a sink receives every event of every account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from stacksafe.core.access import Principal
from stacksafe.core.audit import record
from stacksafe.core.installation import Installation
from stacksafe.core.streams.config import (
    SinkOptions,
    check_options,
    seal_credentials,
)
from stacksafe.core.streams.delivery import delivery_state
from stacksafe.core.streams.lines import installation_verifier
from stacksafe.core.streams.types import FACTORIES, NOT_AVAILABLE
from stacksafe.core.workload.issuers import check_name, owner_only
from stacksafe.errors import Conflict, NotFound
from stacksafe.store import Connection
from stacksafe.store import audit as audit_queries
from stacksafe.store import audit_sinks as queries
from stacksafe.store.audit_sinks import StoredSink

__all__ = [
    "SinkStatus",
    "StoredSink",
    "add_sink",
    "list_sinks",
    "public_key",
    "readiness_of_sinks",
    "remove_sink",
    "set_paused",
    "sink_statuses",
    "status",
    "stored_sinks",
]

_WHAT = "audit sinks"


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """One sink as ``status`` prints it; ``lag``: events appended that it does not have."""

    name: str
    type: str
    paused: bool
    cursor: int
    head: int
    lag: int
    state: str  # delivering, paused, failing, or "transport not available"
    last_delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    lease_holder: str | None


def add_sink(
    installation: Installation,
    actor: Principal,
    name: str,
    type_: str,
    given: SinkOptions,
    *,
    from_now: bool = False,
) -> tuple[StoredSink, list[str]]:
    """Configure a sink; it gets the whole log (``from_now``: only events after now). The
    returned warnings are for the owner (syslog over UDP)."""
    check_name(name, "sink")
    owner_only(installation, actor, "audit_sink.add", name, _WHAT)
    options, credentials, warnings = check_options(type_, given)
    sealed = seal_credentials(installation, name, credentials)

    def work(conn: Connection) -> StoredSink:
        if queries.sink_by_name(conn, name) is not None:
            raise Conflict(f"sink {name!r} already exists (remove it first)")
        head = audit_queries.read_head(conn)
        cursor = head[0] if from_now and head is not None else 0
        stored = queries.insert_sink(
            conn,
            name=name,
            type_=type_,
            config=json.dumps(options, sort_keys=True),
            sealed=sealed,
            cursor=cursor,
            now=installation.clock(),
        )
        # The options that are not credentials, and the sequence delivery starts after.
        detail = {"name": name, "type": type_, "options": options, "after_seq": cursor}
        record(conn, installation, actor, "audit_sink.add", detail=detail)
        return stored

    return installation.store.transact(work, f"adding audit sink {name}"), warnings


def stored_sinks(installation: Installation) -> list[StoredSink]:
    """Every sink as stored, no permission asked (the server's delivery threads)."""
    with installation.store.read() as conn:
        return queries.list_sinks(conn)


def list_sinks(installation: Installation, actor: Principal) -> list[StoredSink]:
    owner_only(installation, actor, "audit_sink.list", "", _WHAT)
    with installation.store.read() as conn:
        return queries.list_sinks(conn)


def _change(installation: Installation, actor: Principal, name: str, action: str) -> None:
    owner_only(installation, actor, f"audit_sink.{action}", name, _WHAT)

    def work(conn: Connection) -> None:
        found = queries.sink_by_name(conn, name)
        if found is None:
            raise NotFound(f"sink {name!r} does not exist")
        if action == "remove":
            queries.delete_sink(conn, found.id)
        else:
            queries.set_paused(conn, found.id, action == "pause")
        detail = {"name": name, "type": found.type, "cursor": found.cursor}
        record(conn, installation, actor, f"audit_sink.{action}", detail=detail)

    installation.store.transact(work, f"audit sink {name}: {action}")


def remove_sink(installation: Installation, actor: Principal, name: str) -> None:
    """Stop streaming to it and forget its cursor (what it received stays where it is)."""
    _change(installation, actor, name, "remove")


def set_paused(installation: Installation, actor: Principal, name: str, paused: bool) -> None:
    """Pause (its loop stops after the batch under way) or resume (from its cursor)."""
    _change(installation, actor, name, "pause" if paused else "resume")


def status(installation: Installation, actor: Principal) -> list[SinkStatus]:
    owner_only(installation, actor, "audit_sink.status", "", _WHAT)
    return sink_statuses(installation)


def sink_statuses(installation: Installation) -> list[SinkStatus]:
    """Every sink's state and lag, by name; no permission asked (for the server itself:
    /readyz, the metrics): it holds no credential and no event's content."""
    with installation.store.read() as conn:
        head = audit_queries.read_head(conn)
        sinks = queries.list_sinks(conn)
    top = 0 if head is None else head[0]
    return [_status(sink, top) for sink in sinks]


def readiness_of_sinks(installation: Installation) -> tuple[dict[str, dict[str, object]], str]:
    """(each sink's lag and state, for /readyz's body; the check: "ok", or the sinks lagging
    more than ``STACKSAFE_AUDIT_SINK_MAX_LAG``). Without that setting a sink never makes a
    server unready: a receiver down must not take every server out of rotation. Public: names,
    numbers and states only (no path, no error text)."""
    try:
        found = sink_statuses(installation)
    except Exception as exc:  # the database check reports the outage itself
        return {}, f"unknown ({type(exc).__name__})"
    body: dict[str, dict[str, object]] = {s.name: {"lag": s.lag, "state": s.state} for s in found}
    limit = installation.audit_sink_max_lag
    late = [s.name for s in found if limit is not None and s.lag > limit and not s.paused]
    if late:
        return body, f"lagging more than {limit} events: {', '.join(late)}"
    return body, "ok"


def _status(sink: StoredSink, head: int) -> SinkStatus:
    if sink.type not in FACTORIES:
        state = NOT_AVAILABLE
    else:
        state = delivery_state(sink.paused, sink.last_error)
    return SinkStatus(
        name=sink.name,
        type=sink.type,
        paused=sink.paused,
        cursor=sink.cursor,
        head=head,
        lag=max(0, head - sink.cursor),
        state=state,
        last_delivered_at=sink.last_delivered_at,
        last_error=sink.last_error,
        last_error_at=sink.last_error_at,
        lease_holder=sink.lease_holder,
    )


def public_key(installation: Installation, actor: Principal) -> str:
    """The PEM of the key that verifies every streamed line (not a secret, but asked of the
    owner like the rest of the sinks' configuration)."""
    owner_only(installation, actor, "audit_sink.public_key", "", _WHAT)
    return installation_verifier(installation).pem()
