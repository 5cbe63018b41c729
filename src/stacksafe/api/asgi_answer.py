"""Answering a request without FastAPI's middleware, as the middleware would: for the faces
that run in front of it (api.fast_path, api.vault). The ``Request-Id`` (api.request_id) and
``Cache-Control: no-store`` (api.no_store) on the response; an unexpected exception answered
with the face's 500 when nothing was sent yet, then raised to the server, as Starlette's error
middleware does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from stacksafe.api.metrics.http import STATUS_NOTED
from stacksafe.api.no_store import storing_nothing
from stacksafe.api.request_id import request_id_of, sending_id

__all__ = ["answer_asgi"]


async def answer_asgi(
    scope: Scope,
    receive: Receive,
    send: Send,
    answer: Callable[[str], Awaitable[Response]],
    failed: Callable[[Exception, str], Response],
) -> None:
    """Send ``await answer(request_id)`` (``failed(exc, request_id)`` if it raised before
    sending)."""
    request_id = scope.setdefault("state", {})["request_id"] = request_id_of(scope)
    send_marked = storing_nothing(sending_id(send, request_id))
    started = False

    async def send_once_started(message: Message) -> None:
        nonlocal started
        if not started:  # the first message starts the response: its status, for metrics
            scope[STATUS_NOTED] = message.get("status", 500)
        started = True
        await send_marked(message)

    try:
        response = await answer(request_id)
        await response(scope, receive, send_once_started)
    except Exception as exc:
        if not started:
            await failed(exc, request_id)(scope, receive, send_once_started)
        raise
