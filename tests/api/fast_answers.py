"""Comparing what api.fast_path answers with what FastAPI's routes answer, over one installation.

Shared by the fast path's tests (tests/api/test_fast_path.py: the lists; test_fast_path_key.py:
one key): two apps on one installation (one with the fast path, one without), what of a
response a client reads, the audit event a request wrote, and counters of what a request did.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from stacksafe.api.app import create_app
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.principals import revoke_token
from stacksafe.core.tenancy import create_account
from tests.actors import LOCAL
from tests.api.helpers import World, client_for, user_with_token

__all__ = [
    "REFUSED",
    "applied",
    "both",
    "compared",
    "event_of",
    "last_event",
    "reads_counted",
    "refused",
]

# The headers a client reads of an answer.
READ_HEADERS = (
    "content-type",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "www-authenticate",
    "etag",
    "cache-control",
)


def both(world: World, token: str | None) -> tuple[TestClient, TestClient]:
    """Clients of an app with the fast path and of one without, for ``token``."""
    fast = create_app(world.installation)
    without = create_app(world.installation, fast_path=False)
    return client_for(fast, token), client_for(without, token)


def compared(response: Response) -> dict[str, Any]:
    """What a client reads of ``response``: status, body, headers."""
    return {
        "status": response.status_code,
        "body": response.json(),
        "headers": {name: response.headers.get(name) for name in READ_HEADERS},
    }


def last_event(installation: Installation) -> dict[str, Any]:
    """The latest audit event, without what differs between two requests (id, time)."""
    event = list_events(installation, limit=1)[0]
    return {
        "action": event.action,
        "outcome": event.outcome,
        "actor": event.actor,
        "stack_uid": event.stack_uid,
        "detail": event.detail,
    }


def event_of(response: Response, installation: Installation) -> dict[str, Any]:
    """The audit event written for ``response``, found by its request id (exactly one)."""
    wanted = response.headers["request-id"]
    found = [e for e in list_events(installation, limit=50) if e.request_id == wanted]
    assert len(found) == 1, found
    return {"action": found[0].action, "outcome": found[0].outcome, "detail": found[0].detail}


def reads_counted(monkeypatch: pytest.MonkeyPatch, installation: Installation) -> list[int]:
    """Counts the read transactions opened from now on (one entry each)."""
    opened: list[int] = []
    read = installation.store.read

    def counted() -> Any:
        opened.append(1)
        return read()

    monkeypatch.setattr(installation.store, "read", counted)
    return opened


# Who is refused a reveal of the world's stack, and why: see ``refused``.
REFUSED = ["no-token", "bad-token", "revoked", "viewer", "other-account", "no-such-stack"]


def refused(world: World, who: str) -> tuple[str | None, str]:
    """The token ``who`` (one of ``REFUSED``) presents, and the stack uid it asks for: none, a
    token never issued, a revoked one, a viewer's (may describe, not reveal), another account's
    administrator's, or the administrator's for a stack that does not exist."""
    installation = world.installation
    if who == "no-token":
        return None, world.stack.uid
    if who == "bad-token":
        return "ssk_" + "0" * 40, world.stack.uid
    if who == "revoked":
        created = user_with_token(installation, "gone@acme.test", "acme", "administrator")
        revoke_token(installation, LOCAL, created.uid)
        return created.token, world.stack.uid
    if who == "viewer":
        viewer = user_with_token(installation, "viewer@acme.test", "acme", "viewer")
        return viewer.token, world.stack.uid
    if who == "other-account":
        create_account(installation, LOCAL, "globex")
        other = user_with_token(installation, "other@globex.test", "globex", "administrator")
        return other.token, world.stack.uid
    assert who == "no-such-stack", who
    return world.admin_token.token, "nosuchstack"


def statements_counted(monkeypatch: pytest.MonkeyPatch, installation: Installation) -> list[int]:
    """Counts the one-statement reads of the event loop's reader from now on: SQLite's at once
    (store.nowait), PostgreSQL's awaited (store.loop_reader)."""
    sent: list[int] = []
    store = installation.store
    if store.nowait is not None:
        at_once = store.nowait.first

        def counted(*args: Any) -> Any:
            sent.append(1)
            return at_once(*args)

        monkeypatch.setattr(store.nowait, "first", counted)
    else:
        assert store.loop_reader is not None
        awaited = store.loop_reader.first

        async def counted_on_loop(*args: Any) -> Any:
            sent.append(1)
            return await awaited(*args)

        monkeypatch.setattr(store.loop_reader, "first", counted_on_loop)
    return sent


def hops_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the hops to a worker thread (anyio's, as the fast path makes them) from now on."""
    import anyio.to_thread

    hops: list[int] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(*args: Any, **kwargs: Any) -> Any:
        hops.append(1)
        return await run_sync(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return hops


def applied(installation: Installation, route_names: tuple[str, ...]) -> set[str]:
    """What a face in front of the middleware stack must do for the secrets routes named: the
    app's middleware (by class) and the routes' dependencies, the app's and the router's (by
    function)."""
    from fastapi.routing import APIRoute

    from stacksafe.api.routes.secrets import router

    app = create_app(installation)
    middleware = set()
    for m in app.user_middleware:
        assert isinstance(m.cls, type)  # each middleware of the app is a class
        middleware.add(m.cls.__name__)
    routes = [r for r in router.routes if isinstance(r, APIRoute) and r.name in route_names]
    assert len(routes) == len(route_names)
    pending = [d for route in routes for d in route.dependant.dependencies]
    # The app's own; the router's are in each of its routes' (web.route_table adds them as
    # they are).
    declared = list(app.router.dependencies)
    assert all(route in app.routes for route in routes)
    dependencies = {d.dependency.__name__ for d in declared if d.dependency is not None}
    while pending:
        found = pending.pop()
        if found.call is not None:
            dependencies.add(found.call.__name__)
        pending.extend(found.dependencies)
    return middleware | dependencies
