"""One plain value's write, ``PUT .../stacks/{uid}/secrets/{key}``, answered by api.fast_write
exactly as the FastAPI route does.

Every request goes to an app with the fast write and to one without, over one installation
(tests/api/fast_answers.py), one after the other: status, body, the headers a client reads,
the audit event and the value stored must be the same, but for the version the second write
makes (one more). Requests the fast write does not answer reach FastAPI with their body intact.
Then what a warm write costs, counted: on SQLite no thread hop (the write handed to the group
commit's thread from the event loop), on PostgreSQL one; no FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from httpx import Response

from stacksafe.api.app import StacksafeApi, create_app
from stacksafe.api.fast_write import APPLIES, FastWrite, Wanted, plain_value
from stacksafe.core.audit_events import list_events
from stacksafe.core.secrets import get_secret
from tests.actors import LOCAL
from tests.api.fast_answers import REFUSED, applied, both, compared, event_of, hops_counted, refused
from tests.api.helpers import World, client_for, set_local, user_with_token
from tests.api.test_deps import counting
from tests.clock import Clock
from tests.damage import KINDS, damage, values_seeded

JSON = {"Content-Type": "application/json"}
LIMIT = 1000


def _scope(method: str = "PUT", path: str = "/api/3/stacks/s1/secrets/K", **headers: str) -> Any:
    sent = {"content-type": "application/json", "content-length": "20", **headers}
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in sent.items() if v != "-"],
    }


def test_the_fast_write_takes_a_plain_put_of_one_stack_key() -> None:
    fast = _fast()
    assert fast.asked(_scope()) == Wanted("s1", "K")
    assert fast.asked(_scope(**{"content-type": "Application/JSON"})) == Wanted("s1", "K")


@pytest.mark.parametrize(
    "scope",
    [
        _scope(method="POST"),
        _scope(method="GET"),
        _scope(path="/api/3/accounts/a1/secrets/K"),
        _scope(path="/api/3/stacks/s1/secrets/K/"),
        _scope(path="/api/3/stacks/s1/secrets/K/versions"),
        _scope(path="/api/3/stacks/s1/secrets"),
        _scope(**{"if-match": '"1"'}),
        _scope(**{"transfer-encoding": "chunked"}),
        _scope(**{"content-encoding": "gzip"}),
        _scope(**{"content-length": "-"}),
        _scope(**{"content-length": str(LIMIT + 1)}),
        _scope(**{"content-length": "1e3"}),
        _scope(**{"content-type": "-"}),
        _scope(**{"content-type": "text/plain"}),
        _scope(**{"content-type": "application/json; charset=utf-8"}),
        _scope(**{"content-type": "application/merge-patch+json"}),
    ],
)
def test_the_fast_write_leaves_any_other_request_to_fastapi(scope: Any) -> None:
    assert _fast().asked(scope) is None


def _fast() -> FastWrite:
    return FastWrite(None, LIMIT)  # type: ignore[arg-type] # asked reads no state


PLAIN = {
    b'{"raw_value": "v"}': "v",
    b'{"raw_value": ""}': "",
    b' {"raw_value":"\\u00e9\\n"} ': "\u00e9\n",
    b'{"raw_value": "x", "raw_value": "y"}': "y",  # json.loads keeps the last, as FastAPI's
}
NOT_PLAIN = [
    b"",
    b"not json",
    b"[]",
    b'"v"',
    b"{}",
    b'{"raw_value": 1}',
    b'{"raw_value": null}',
    b'{"raw_value": ["v"]}',
    b'{"raw_value": "v", "environments": null}',
    b'{"raw_value": "v", "extra": 1}',
    b'{"value": "v"}',
    b'{"raw_value": "\\ud800"}',
    b"[" * 100_000,
]


@pytest.mark.parametrize(("body", "value"), PLAIN.items())
def test_a_plain_body_is_its_value(body: bytes, value: str) -> None:
    assert plain_value(body) == value


@pytest.mark.parametrize("body", NOT_PLAIN)
def test_any_other_body_is_left_to_fastapi(body: bytes) -> None:
    assert plain_value(body) is None


def test_the_fast_write_does_the_work_of_every_middleware_and_dependency(world: World) -> None:
    """It runs in front of the middleware stack and without the route's dependencies: a
    middleware or a dependency added later must be added to APPLIES (and done there)."""
    assert applied(world.installation, ("put_stack_secret",)) == set(APPLIES)


# --- The same answers as the route.


@pytest.fixture
def seeded(world: World, clock: Clock) -> World:
    """Own keys, an inherited one, and a fixed clock: two writes answer alike but for the
    version."""
    set_local(world.installation, world.account_target, {"SHARED": "from-account"})
    set_local(world.installation, world.stack_target, {"OWN": "stack-value"})
    return world


@pytest.fixture
def fastapi_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests FastAPI answered (by path), from now on."""
    calls: list[str] = []
    through = StacksafeApi._fastapi

    async def counted(self: StacksafeApi, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            calls.append(scope["path"])
        await through(self, scope, receive, send)

    monkeypatch.setattr(StacksafeApi, "_fastapi", counted)
    return calls


def _normalised(
    answer: dict[str, Any], content: bytes, event: dict[str, Any] | None, shift: int
) -> Any:
    """``answer``, its bytes and its audit event as they would be one write earlier (``shift``
    1), the value's ciphertext (sealed anew by each write) left out."""
    body, headers = answer["body"], dict(answer["headers"])
    if answer["status"] == 200:
        sealed = body["response"]["value"]
        assert sealed.startswith("encrypted:AES256:")
        body = {"response": {**body["response"], "value": "sealed"}}
        content = content.replace(sealed.encode(), b"sealed")
        headers["etag"] = f'"{int(headers["etag"].strip(chr(34))) - shift}"'
        assert event is not None
        keys = event["detail"]["keys"]
        event = {
            **event,
            "detail": {**event["detail"], "keys": {k: v - shift for k, v in keys.items()}},
        }
    return answer["status"], body, content, headers, event


def _event(response: Response, world: World) -> dict[str, Any] | None:
    wanted = response.headers["request-id"]
    if not any(e.request_id == wanted for e in list_events(world.installation, limit=50)):
        return None
    return event_of(response, world.installation)


def _same(
    world: World,
    token: str | None,
    url: str,
    content: Any,
    headers: dict[str, str],
) -> dict[str, Any]:
    """PUT ``content`` at ``url`` to the app with the fast write, then to the one without;
    assert the same answer, bytes and event (but for the version and the ciphertext). The
    first answer."""
    fast, route = both(world, token)
    seen = []
    with fast, route:
        for client in (fast, route):
            sent = content() if callable(content) else content  # a generator: sent chunked
            response = client.put(url, content=sent, headers=headers)
            seen.append((compared(response), response.content, _event(response, world)))
    first, second = seen
    shift = 1 if first[0]["status"] == 200 else 0
    assert _normalised(*first, 0) == _normalised(*second, shift)
    return first[0]


ANSWERED_WRITES = {
    "new key": ("NEW", b'{"raw_value": "new-value"}', 200),
    "own key": ("OWN", b'{"raw_value": "replaced"}', 200),
    "inherited key": ("SHARED", b'{"raw_value": "override"}', 200),
    "invalid key": ("bad key!", b'{"raw_value": "v"}', 400),
    "reference to nothing": ("REF", b'{"raw_value": "${NOWHERE}"}', 409),
    "too large": ("BIG", b'{"raw_value": "' + b"x" * (128 * 1024) + b'"}', 400),
}


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("case", ANSWERED_WRITES)
def test_a_plain_write_answers_as_the_route(
    seeded: World, fastapi_calls: list[str], case: str
) -> None:
    key, body, status = ANSWERED_WRITES[case]
    url = seeded.stack_url(key)
    answer = _same(seeded, seeded.admin_token.token, url, body, JSON)
    assert answer["status"] == status, answer
    assert fastapi_calls == [url]  # the fast write answered the first, FastAPI the second
    if status == 200:
        assert answer["headers"]["etag"] == ('"2"' if key == "OWN" else '"1"')
        stored = get_secret(seeded.installation, LOCAL, seeded.stack_target, key, reveal=True)
        assert stored.raw_value is not None
        assert stored.raw_value.reveal() == plain_value(body)


def handed_to_the_group_commit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the fast write's writes handed to the group commit's thread from the event loop
    (routes.secrets.put_one_later gave a future), from now on."""
    from stacksafe.api.routes.secrets import put_one_later

    handed: list[int] = []

    def counted(*args: Any) -> Any:
        future = put_one_later(*args)
        if future is not None:
            handed.append(1)
        return future

    monkeypatch.setattr("stacksafe.api.fast_write.put_one_later", counted)
    return handed


@pytest.mark.databases("sqlite")  # handed over on both: test_a_warm_write_takes_no_thread_hop
@pytest.mark.parametrize("case", ANSWERED_WRITES)
def test_a_warm_plain_write_handed_over_from_the_loop_answers_as_the_route(
    seeded: World, fastapi_calls: list[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    key, body, status = ANSWERED_WRITES[case]
    with client_for(create_app(seeded.installation), seeded.admin_token.token) as warming:
        # The token checked once is kept: the next writes find it and the stack at hand.
        assert warming.put(seeded.stack_url("WARM"), json={"raw_value": "w"}).status_code == 200
    fastapi_calls.clear()
    handed = handed_to_the_group_commit(monkeypatch)
    url = seeded.stack_url(key)
    answer = _same(seeded, seeded.admin_token.token, url, body, JSON)
    assert answer["status"] == status, answer
    assert fastapi_calls == [url]
    # Refused before any write (the key, the value's size): nothing handed over.
    assert handed == ([] if status == 400 else [1])


PASSED_ON_WRITES = {
    "another field": (b'{"raw_value": "v", "extra": 1}', JSON),
    "environments": (b'{"raw_value": "v", "environments": ["production"]}', JSON),
    "the encrypted value": (b'{"value": "v"}', JSON),
    "a number": (b'{"raw_value": 1}', JSON),
    "not json": (b"{raw_value", JSON),
    "empty": (b"", JSON),
    "a lone surrogate": (b'{"raw_value": "\\ud800"}', JSON),
    "if-match": (b'{"raw_value": "v"}', {**JSON, "If-Match": '"99"'}),
    "if-match any": (b'{"raw_value": "v"}', {**JSON, "If-Match": "*"}),
    "text": (b'{"raw_value": "v"}', {"Content-Type": "text/plain"}),
    "json with charset": (
        b'{"raw_value": "v"}',
        {"Content-Type": "application/json; charset=utf-8"},
    ),
    "no content type": (b'{"raw_value": "v"}', {}),
}


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("case", PASSED_ON_WRITES)
def test_any_other_write_reaches_fastapi_with_its_body(
    seeded: World, fastapi_calls: list[str], case: str
) -> None:
    body, headers = PASSED_ON_WRITES[case]
    url = seeded.stack_url("OWN")
    answer = _same(seeded, seeded.admin_token.token, url, body, headers)
    assert fastapi_calls == [url, url]
    assert answer["status"] in (200, 400, 412, 415, 422), answer


def test_a_chunked_write_reaches_fastapi_with_its_body(
    seeded: World, fastapi_calls: list[str]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"raw_value": '
        yield b'"chunked"}'

    url = seeded.stack_url("OWN")
    answer = _same(seeded, seeded.admin_token.token, url, chunks, JSON)
    assert answer["status"] == 200
    assert fastapi_calls == [url, url]


@pytest.mark.parametrize("who", REFUSED)
def test_same_refusals_of_a_write(seeded: World, fastapi_calls: list[str], who: str) -> None:
    token, uid = refused(seeded, who)
    url = f"/api/3/stacks/{uid}/secrets/OWN"
    with client_for(create_app(seeded.installation), token) as warming:
        # A token checked once is kept: the next writes find it at hand, and are refused there.
        assert warming.put(url, json={"raw_value": "refused"}).status_code >= 400
    fastapi_calls.clear()
    answer = _same(seeded, token, url, b'{"raw_value": "refused"}', JSON)
    assert answer["status"] == {"no-token": 401, "bad-token": 401, "revoked": 401}.get(
        who, 403 if who == "viewer" else 404
    )
    assert fastapi_calls == [url]
    stored = get_secret(seeded.installation, LOCAL, seeded.stack_target, "OWN", reveal=True)
    assert stored.raw_value is not None
    assert stored.raw_value.reveal() == "stack-value"


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("kind", KINDS)
def test_a_write_to_a_damaged_level_is_its_error_as_the_routes(
    world: World, clock: Clock, kind: str
) -> None:
    seeded = values_seeded()
    set_local(world.installation, world.account_target, seeded["account"])
    set_local(world.installation, world.stack_target, seeded["stack"])
    damage(world.installation.store.engine, world.stack.id, kind)
    answer = _same(
        world, world.admin_token.token, world.stack_url("K"), b'{"raw_value": "n"}', JSON
    )
    if answer["status"] >= 500:
        assert answer["body"]["error"] == "integrity_error"


def test_a_write_is_refused_and_nothing_written_when_its_audit_event_cannot_be_written(
    seeded: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The event is written in the write's transaction: its failure fails the write with
    503 ``audit_unavailable`` on both faces, with nothing written."""
    from tests.core.test_fail_closed import break_audit_log

    url = seeded.stack_url("OWN")
    assert seeded.client.put(url, json={"raw_value": "warm"}).status_code == 200
    break_audit_log(seeded.installation)
    fast, route = both(seeded, seeded.admin_token.token)
    answers = []
    with fast, route:
        for client in (fast, route):
            answers.append(client.put(url, content=b'{"raw_value": "lost"}', headers=JSON))
    assert [a.status_code for a in answers] == [503, 503]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"] == "audit_unavailable"
    assert "etag" not in answers[0].headers
    assert answers[0].headers["cache-control"] == "no-store"
    assert "lost" not in answers[0].text
    assert "lost" not in caplog.text
    # No version written (a reveal would need the audit log).
    assert get_secret(seeded.installation, LOCAL, seeded.stack_target, "OWN").version == 2


# --- What a warm write costs.


def test_a_warm_write_takes_no_thread_hop_and_no_fastapi(
    seeded: World, fastapi_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, url = seeded.client, seeded.stack_url("OWN")
    checks = counting(monkeypatch)
    first = client.put(url, json={"raw_value": "one"})  # the token kept from here on
    assert checks == ["thread"]
    hops = hops_counted(monkeypatch)
    second = client.put(url, content=b'{"raw_value": "two"}', headers=JSON)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["etag"] == '"3"'
    assert second.json()["response"]["raw_value"] is None
    assert fastapi_calls == []
    # The caller and the stack on the event loop (SQLite's read at once, PostgreSQL's
    # awaited); the write handed to the group commit's thread, on both databases.
    assert hops == []
    assert checks == ["thread"]
    assert int(second.headers["x-ratelimit-remaining"]) == (
        int(first.headers["x-ratelimit-remaining"]) - 1
    )
    assert second.headers["cache-control"] == "no-store"
    assert second.headers["request-id"]
    assert event_of(second, seeded.installation)["detail"]["keys"] == {"OWN": 3}


def test_a_write_with_a_token_not_kept_checks_it_in_the_writes_thread(
    seeded: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = user_with_token(seeded.installation, "ops@acme.test", "acme", "administrator")
    hops, checks = hops_counted(monkeypatch), counting(monkeypatch)
    response = seeded.client.put(
        seeded.stack_url("OWN"),
        content=b'{"raw_value": "x"}',
        headers={**JSON, "Authorization": "Bearer " + created.token},
    )
    assert response.status_code == 200
    assert checks == ["thread"]
    assert hops == [1]  # FastAPI's route: one for the caller, one for the write
    assert event_of(response, seeded.installation)["detail"]["keys"] == {"OWN": 2}


# --- Writes committed together (the write group).


@pytest.mark.databases("sqlite")  # RAISE(ROLLBACK): SQLite's undoing of a whole transaction
def test_writes_of_a_group_whose_transaction_is_undone_all_answer_503_and_none_is_written(
    seeded: World,
) -> None:
    """A warm write whose audit event makes SQLite undo the group's whole transaction: every
    write that shared it answers 503 (none a 2xx for a value never stored, none a bare 500),
    and the next write commits."""
    from concurrent.futures import ThreadPoolExecutor

    from stacksafe.errors import NotFound
    from tests.core.test_secrets_grouped import behind_a_held_group, refusing_events_of

    installation, client = seeded.installation, seeded.client
    assert client.put(seeded.stack_url("OWN"), json={"raw_value": "warm"}).status_code == 200
    refusing_events_of(installation, "POISON", "ROLLBACK")
    keys = ["A", "POISON", "Z"]

    def putting(key: str) -> Callable[[], Response]:
        url = seeded.stack_url(key)
        return lambda: client.put(url, content=b'{"raw_value": "v"}', headers=JSON)

    with ThreadPoolExecutor(len(keys) + 1) as pool:
        writes = [putting(key) for key in keys]
        answers = behind_a_held_group(installation, pool, writes, seeded.stack_target)
        sent = [answer.result(30) for answer in answers]

    assert [a.status_code for a in sent] == [503, 503, 503]
    assert {a.json()["error"] for a in sent} == {"audit_unavailable"}
    for key in keys:
        with pytest.raises(NotFound):
            get_secret(installation, LOCAL, seeded.stack_target, key)
    again = client.put(seeded.stack_url("A"), content=b'{"raw_value": "v"}', headers=JSON)
    assert again.status_code == 200
    assert again.headers["etag"] == '"1"'
