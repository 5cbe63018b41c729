"""api.deps.caller: a kept token is authenticated on the event loop, without a thread hop;
anything else (a first use, a bad token, PostgreSQL) in the thread pool, counted as before.
And the write routes' answers: the declared model's JSON, byte for byte, with the headers
the dependencies set. Through FastAPI's routes (``fastapi_only``): a plain write is otherwise
answered by api.fast_write, whose token checks tests/api/test_fast_write.py counts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder

from stacksafe.api import deps
from stacksafe.api.app import create_app
from stacksafe.api.schemas import Envelope, SecretOut
from tests.api.helpers import World, assert_error, client_for


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The token checks that took the thread path (``deps.authenticated``), as they ran."""
    calls: list[str] = []
    real: Callable[..., Any] = deps.authenticated

    def counted(*args: Any) -> Any:
        calls.append("thread")
        return real(*args)

    monkeypatch.setattr(deps, "authenticated", counted)
    return calls


@pytest.fixture
def fastapi_only(world: World) -> Iterator[World]:
    """``world`` whose client's app answers every request through FastAPI."""
    app = create_app(world.installation, fast_path=False)
    with client_for(app, world.admin_token.token) as client:
        yield replace(world, app=app, client=client)


def test_a_kept_token_is_checked_on_the_event_loop(
    fastapi_only: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fastapi_only
    calls = counting(monkeypatch)
    first = world.client.put(world.stack_url("K"), json={"raw_value": "v1"})
    assert first.status_code == 200
    assert calls == ["thread"]  # not kept yet: read in the thread pool, and kept
    second = world.client.put(world.stack_url("K"), json={"raw_value": "v2"})
    assert second.status_code == 200
    # SQLite reads the principals revision at once on the loop (store.nowait); PostgreSQL has
    # no such reader, so every check takes the thread path there.
    at_hand = world.installation.store.nowait is not None
    assert calls == (["thread"] if at_hand else ["thread", "thread"])
    # Counted against the rate limit either way, once per request.
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[1] == remaining[0] - 1


def test_a_bad_token_takes_the_thread_path_and_is_refused(
    fastapi_only: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fastapi_only
    calls = counting(monkeypatch)
    world.client.put(world.stack_url("K"), json={"raw_value": "v1"})  # the good token, kept
    refused = world.client.put(
        world.stack_url("K"),
        json={"raw_value": "v2"},
        headers={"Authorization": "Bearer ssk_not-a-token"},
    )
    assert_error(refused, 401, "unauthenticated")
    assert calls == ["thread", "thread"]


@pytest.mark.databases("sqlite")  # the answer's shape over core calls tests/core makes on both
def test_a_write_answers_the_models_json_with_its_headers(world: World) -> None:
    created = world.client.post(world.stack_url(), json={"key": "NEW", "raw_value": "v1"})
    replaced = world.client.put(world.stack_url("NEW"), json={"raw_value": "v2"})
    for answer, status, version in ((created, 201, 1), (replaced, 200, 2)):
        assert answer.status_code == status
        model = Envelope[SecretOut].model_validate_json(answer.content)
        # What FastAPI sends for a returned model (JSONResponse's rendering of it).
        as_fastapi = json.dumps(
            jsonable_encoder(model), ensure_ascii=False, separators=(",", ":")
        ).encode()
        assert answer.content == as_fastapi
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["ETag"] == f'"{version}"'
        assert "X-RateLimit-Remaining" in answer.headers
        assert model.response.key == "NEW"
        assert model.response.raw_value is None
