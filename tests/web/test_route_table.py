"""web.route_table: every app of a process serves the routes its routers built once at import."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from stacksafe.api.app import create_app
from stacksafe.api.routes import secrets as api_secrets
from stacksafe.core.installation import Installation
from stacksafe.web.route_table import add_routes
from stacksafe.web.routes import session as web_session

pytestmark = pytest.mark.databases("sqlite")  # how an app is assembled, not storage


def test_two_apps_serve_the_same_route_objects_not_copies(installation: Installation) -> None:
    # include_router would give each app copies, built again on its first request.
    first, second = create_app(installation), create_app(installation)
    for router in (api_secrets.router, web_session.router):
        for route in router.routes:
            assert any(served is route for served in first.routes)
            assert any(served is route for served in second.routes)


def test_routes_are_served_whole_and_in_the_order_given() -> None:
    one, two = APIRouter(prefix="/api/9"), APIRouter()

    @one.get("/thing/{name}")
    def thing(name: str) -> dict[str, str]:
        return {"one": name}

    @two.get("/api/9/thing/{name}")
    def shadowed(name: str) -> dict[str, str]:  # pragma: no cover - never matched: one's first
        return {"two": name}

    app = FastAPI()
    add_routes(app, one, two)
    client = TestClient(app)
    assert client.get("/api/9/thing/x").json() == {"one": "x"}
    assert client.get("/thing/x").status_code == 404
