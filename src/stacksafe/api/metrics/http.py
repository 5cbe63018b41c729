"""Counting every HTTP request, by the route that answered it (api.app calls this around all).

``StacksafeApi`` answers the hot list (api.fast_path) and ``/v1`` (api.vault) in front of
FastAPI's middleware, so the counting is not a middleware either: it wraps the three ways
alike, with the same two clock reads and one status seen on the way out. The route label is
the template that matched (``/api/3/stacks/{stack_uid}/secrets``), never the path itself,
which holds stack ids and key names.
"""

from __future__ import annotations

from starlette.types import Message, Scope, Send

from stacksafe.api.metrics.labels import UNMATCHED

__all__ = ["ROUTE_NOTED", "STATUS_NOTED", "StatusSeen", "fastapi_route"]

# Where the faces in front of FastAPI (api.fast_path, api.vault) note in the request's scope
# the route template they answer and the status they send (api.asgi_answer): the hot read
# then pays for no wrapper of its own around ``send``.
ROUTE_NOTED = "stacksafe.route"
STATUS_NOTED = "stacksafe.status"


class StatusSeen:
    """``send``, noting the response's status as it goes by (500 if none was sent: the
    request failed before an answer, as the server's error handling then says)."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


def fastapi_route(scope: Scope) -> str:
    """The template of the route FastAPI (Starlette's router) matched for ``scope``, which it
    notes in the scope; ``unmatched`` when none did (a 404, a redirect to a slash). Each route
    carries its whole path, prefix included (api.routes, web.route_table)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED
