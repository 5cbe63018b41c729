"""Page bounds are defined once (stacksafe.paging): every paged list of the API, the secret
list's fast path, the web UI and the SDK keep to them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from stacksafe import paging
from stacksafe.api.list_query import read_query
from stacksafe.api.routes import (
    audit,
    environments,
    health,
    rotation,
    secrets,
    tenancy,
    tokens,
    users,
)
from stacksafe.client import transport
from stacksafe.errors import InvalidInput
from stacksafe.paging import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, check_page, offset_of


def _paged_parameters() -> dict[str, dict[str, dict[str, Any]]]:
    app = FastAPI()
    for module in (audit, environments, health, rotation, secrets, tenancy, tokens, users):
        app.include_router(module.router)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            named = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
            if "page" in named or "per_page" in named:
                found[f"{method.upper()} {path}"] = named
    return found


def test_every_paged_route_keeps_the_bounds() -> None:
    paged = _paged_parameters()
    assert len(paged) >= 8  # secrets (2 levels, 2 lists), accounts, stacks, users, tokens...
    for route, named in paged.items():
        assert named["page"]["minimum"] == 1, route
        assert named["page"]["maximum"] == MAX_PAGE, route
        assert named["page"]["default"] == 1, route
        assert named["per_page"]["minimum"] == 1, route
        assert named["per_page"]["maximum"] == MAX_PER_PAGE, route
        assert named["per_page"]["default"] in (DEFAULT_PER_PAGE, paging.ROTATION_PER_PAGE), route


def test_the_fast_path_answers_within_the_same_bounds() -> None:
    assert read_query(f"page={MAX_PAGE}&per_page={MAX_PER_PAGE}".encode()) is not None
    assert read_query(f"page={MAX_PAGE + 1}".encode()) is None
    assert read_query(f"per_page={MAX_PER_PAGE + 1}".encode()) is None
    default = read_query(b"")
    assert default is not None
    assert (default[0].page, default[0].per_page) == (1, DEFAULT_PER_PAGE)


def test_the_sdk_asks_for_the_largest_page() -> None:
    assert transport.PER_PAGE == MAX_PER_PAGE


@pytest.mark.parametrize(
    ("page", "per_page"), [(0, 1), (1, 0), (1, MAX_PER_PAGE + 1), (-1, DEFAULT_PER_PAGE)]
)
def test_out_of_bounds_is_invalid_input(page: int, per_page: int) -> None:
    with pytest.raises(InvalidInput):
        check_page(page, per_page)


def test_offset() -> None:
    check_page(1, MAX_PER_PAGE)
    assert offset_of(1, 30) == 0
    assert offset_of(3, 50) == 100
