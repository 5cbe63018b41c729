"""A `text/event-stream` response (server-sent events) that ends when the client goes away.

Starlette's ``StreamingResponse`` notices a client that left only when a write fails (ASGI
2.4), which for a stream quiet between heartbeats can be long after: the stream would hold its
place under the hub's bounds (api.change_hub) all that time. This one listens for
``http.disconnect`` while it streams and stops the events at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Mapping

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["EventStreamResponse", "comment", "event"]


def event(kind: str, data: Mapping[str, object], event_id: str | None = None) -> bytes:
    """One event: ``event:``, then ``id:`` when given, then ``data:`` (JSON on one line)."""
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(dict(data), separators=(",", ":"), ensure_ascii=True))
    return ("\n".join(lines) + "\n\n").encode()


def comment(text: str) -> bytes:
    """A comment line, which clients ignore and proxies see as traffic (a heartbeat)."""
    return f": {text}\n\n".encode()


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self, events: AsyncGenerator[bytes, None], on_close: Callable[[], None] | None = None
    ) -> None:
        # As StreamingResponse does: no body given, so no Content-Length is set.
        self.status_code, self.background = 200, None
        self.init_headers(
            {
                # A buffering proxy (nginx) would hold events back; say so to it.
                "X-Accel-Buffering": "no",
                "Cache-Control": "no-store",
            }
        )
        # Called once the stream is over, however it ended (even before its first event).
        self.events, self.on_close = events, on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with anyio.create_task_group() as group:

            async def until_disconnected() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(until_disconnected)
            try:
                async for chunk in self.events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:  # the client is gone (a write failed): nothing more to send
                pass
            finally:
                group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):  # its own ``finally`` runs, cancelled or not
                    await self.events.aclose()
                if self.on_close is not None:
                    self.on_close()
