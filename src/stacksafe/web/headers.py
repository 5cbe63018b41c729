"""Security headers for the UI's pages, leaving the JSON API (``/api/``) and probes untouched."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "UI_HEADERS", "SecurityHeaders"]

# Scripts and styles from our own /static only: no inline script, no eval, no other origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
UI_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
_NOT_UI = ("/api/", "/healthz", "/readyz")


class SecurityHeaders:
    """Adds ``UI_HEADERS`` to every UI response; pages (not /static) also get ``no-store``, so
    no revealed value, token or CSRF token is kept in a browser or proxy cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_NOT_UI):
            await self.app(scope, receive, send)
            return
        extra = list(UI_HEADERS)
        if not path.startswith("/static/"):
            extra.append((b"cache-control", b"no-store"))
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
