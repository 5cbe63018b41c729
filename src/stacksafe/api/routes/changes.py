"""`GET /stacks/{stack_uid}/changes`: a stack's changes pushed as server-sent events (docs/api.md).

Authorised like a describe (the list without values): a stack the token cannot see is a 404, one
it may not describe a 403, before the stream starts. The stream then says, without a value or
a key name, when the stack's effective set changed (core.streams.changes: its signature):

    event: ready | change
    id: <signature>
    data: {"stack": "<uid>", "signature": "<signature>"}

``ready`` first (``change`` instead when the client's ``Last-Event-ID`` is not the signature
now: it missed something while away), then ``change`` at each change, a comment every
heartbeat, and ``end`` with a reason when the stream stops for good (the token revoked or
expired, the stack gone, the server stopping; the client may connect again).

A stream checks nothing of its own while it runs: the hub checks the tokens again, once per
distinct token and stack, when the principals change (api.change_hub), and wakes a stream only
to end it. The one check a stream makes itself is at its token's expiry, which no revision
tells of.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Header, Path, Request, Response

from stacksafe.api.change_hub import ChangeHub, Subscription
from stacksafe.api.deps import Caller, StateDep, bearer_token
from stacksafe.api.event_stream import EventStreamResponse, comment, event
from stacksafe.api.routes import API_PREFIX
from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.streams.changes import (
    StackState,
    open_watch,
    poll,
    signature_of,
)
from stacksafe.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["secrets"])

# Milliseconds a client waits before it connects again (the stream's ``retry:`` field).
RETRY_MILLISECONDS = 2000

LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=256,
        description="The last event id seen: the first event says `change` unless it is "
        "the stack's signature now.",
    ),
]


def _opening(installation: Installation, actor: Principal, uid: str) -> tuple[int, StackState, str]:
    """The stack's id, state and signature, once ``actor`` may describe it (404/403 otherwise,
    recorded as a describe's refusal)."""
    target = open_watch(installation, actor, uid)
    stack = target.stack
    if stack is None:  # pragma: no cover - a stack uid names a stack
        raise NotFound(f"stack {uid!r} does not exist")
    watched = poll(installation, [stack.id])
    state = watched.stacks.get(stack.id)
    if state is None:  # deleted between the two reads
        raise NotFound(f"stack {uid!r} does not exist")
    return stack.id, state, signature_of(installation, stack.id, state)


@router.get(
    "/stacks/{stack_uid}/changes",
    name="stack_changes",
    status_code=200,
    response_class=EventStreamResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream."}},
)
async def stack_changes(
    stack_uid: Annotated[str, Path(description="Stack uid.")],
    request: Request,
    response: Response,
    state: StateDep,
    actor: Caller,
    last_event_id: LastEventId = None,
) -> EventStreamResponse:
    """The stack's changes as server-sent events: `ready`, then `change` whenever its effective
    set (keys, versions, provenance) changes; never a value."""
    installation = state.installation
    hub: ChangeHub = request.app.state.change_hub
    stack_id, stack_state, signature = await to_thread.run_sync(
        _opening, installation, actor, stack_uid
    )
    subscription = hub.subscribe(
        Subscription(
            stack_id,
            stack_uid,
            actor.token_uid or actor.name,
            bearer_token(request.headers.get("authorization", "")),
            actor.source_ip,
            actor.request_id,
        ),
        stack_state,
        signature,
    )
    missed = last_event_id is not None and last_event_id != hub.signature(stack_id)
    first = "change" if missed else "ready"
    sent = EventStreamResponse(
        _events(hub, installation, subscription, first, actor.token_expires_at),
        on_close=lambda: hub.unsubscribe(subscription),
    )
    sent.raw_headers.extend(response.headers.raw)  # the rate limit's, as on every answer
    return sent


async def _events(
    hub: ChangeHub,
    installation: Installation,
    subscription: Subscription,
    first: str,
    expires_at: datetime | None,
) -> AsyncGenerator[bytes, None]:
    """The stream's events until it ends (its ``finally`` counts it out of the hub)."""
    uid, stack_id = subscription.stack_uid, subscription.stack_id
    heartbeat = hub.limits.heartbeat_seconds
    loop = asyncio.get_running_loop()
    try:
        sent = hub.signature(stack_id)
        if sent is None:
            yield event("end", {"reason": f"stack {uid!r} does not exist"})
            return
        yield f"retry: {RETRY_MILLISECONDS}\n".encode() + _change(first, uid, sent)
        beat_at = loop.time() + heartbeat
        while True:
            wait = max(0.0, beat_at - loop.time())
            if expires_at is not None:
                left = (expires_at - installation.clock()).total_seconds()
                wait = min(wait, max(0.0, left) + 0.01)
            with contextlib.suppress(TimeoutError):  # a heartbeat (or the token's expiry) is due
                await asyncio.wait_for(subscription.woken.wait(), wait)
            subscription.woken.clear()
            if hub.closing:
                yield event("end", {"reason": "the server is stopping; connect again"})
                return
            reason = subscription.ended
            if reason is None and expires_at is not None and installation.clock() >= expires_at:
                reason = await to_thread.run_sync(subscription.check, installation)
                # Not expired after all (the core's clock says so): the hub checks it from now.
                expires_at = None
            now = hub.signature(stack_id)
            if reason is not None or now is None:
                yield event("end", {"reason": reason or f"stack {uid!r} does not exist"})
                return
            if now != sent:
                sent = now
                yield _change("change", uid, now)
                beat_at = loop.time() + heartbeat
            elif loop.time() >= beat_at:
                yield comment("heartbeat")
                beat_at = loop.time() + heartbeat
    finally:
        hub.unsubscribe(subscription)


def _change(kind: str, uid: str, signature: str) -> bytes:
    return event(kind, {"stack": uid, "signature": signature}, signature)
