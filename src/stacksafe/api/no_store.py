"""``Cache-Control: no-store`` on every API response.

Many API answers carry what no cache may keep: revealed values (lists, gets, versions, exports),
a token shown once at creation, rotation results. Rather than trust every route (and the fast
path in api/fast_path.py) to remember, every response under ``/api/`` gets the header, errors too;
nothing the API serves is worth caching. The web UI sets its own (web/headers.py); probes
(``/healthz``, ``/readyz``) are left alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_PREFIX", "NoStore", "storing_nothing"]

API_PREFIX = "/api/"
_HEADER = (b"cache-control", b"no-store")


def storing_nothing(send: Send) -> Send:
    """``send``, with ``Cache-Control: no-store`` (replacing any other) on the response."""

    async def send_no_store(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
            message = {**message, "headers": [*headers, _HEADER]}
        await send(message)

    return send_no_store


class NoStore:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(API_PREFIX):
            send = storing_nothing(send)
        await self.app(scope, receive, send)
