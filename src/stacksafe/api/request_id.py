"""Every response carries a ``Request-Id`` (the client's, when well-formed, else a new one).

Errors included: a denied request's id is the one its audit event is recorded under.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestId", "request_id_of", "sending_id"]

_WELL_FORMED = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id_of(scope: Scope) -> str:
    """The request's id: the client's ``Request-Id`` when well-formed, else a new one."""
    # The last one, as a dict of the headers would keep it.
    supplied = b""
    for name, value in scope.get("headers", ()):
        if name == b"request-id":
            supplied = value
    return supplied.decode() if _WELL_FORMED.fullmatch(supplied) else uuid.uuid4().hex


def sending_id(send: Send, request_id: str) -> Send:
    """``send``, with the ``Request-Id`` header put on the response."""

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"request-id"]
            message = {**message, "headers": [*headers, (b"request-id", request_id.encode())]}
        await send(message)

    return send_with_id


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.setdefault("state", {})["request_id"] = request_id_of(scope)

        await self.app(scope, receive, sending_id(send, request_id))
