"""The secret lists answered by api.fast_path are answered exactly as the FastAPI route does.

Every request here goes to two apps over one installation: one with the fast path, one without.
Status,
body, the headers a client reads, and the audit event a reveal writes must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from stacksafe.api.app import StacksafeApi, create_app
from stacksafe.api.fast_path import APPLIES
from stacksafe.api.list_query import SecretsPage, read_query
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.principals import revoke_token
from stacksafe.settings import Settings
from tests.actors import LOCAL
from tests.api.helpers import World, client_for, set_local, user_with_token

# Queries the fast path answers itself, and what it reads from them.
ANSWERED = {
    "": SecretsPage(),
    "reveal=true": SecretsPage(reveal=True),
    "reveal=1&per_page=1000": SecretsPage(reveal=True, per_page=1000),
    "reveal=True&page=2&per_page=1": SecretsPage(reveal=True, page=2, per_page=1),
    "reveal=true&resolve=false": SecretsPage(reveal=True, resolve=False),
    "reveal=false&resolve=0": SecretsPage(resolve=False),
    "reveal=true&purpose=run+node": SecretsPage(reveal=True, purpose="run node"),
    "reveal=true&purpose=": SecretsPage(reveal=True, purpose=""),
    "page=999999&per_page=3": SecretsPage(page=999_999, per_page=3),
}
# Queries it leaves to the route (which validates and words the error, or reads them its way).
PASSED_ON = [
    "per_page=0",
    "per_page=1001",
    "per_page=01",
    "page=0",
    "page=abc",
    "page=1000001",
    "page=-1",
    "reveal=maybe",
    "reveal=yes",
    "reveal=true&reveal=false",
    "unknown=1",
    "purpose=%C3%A9t%C3%A9",
    "purpose=" + "x" * 201,
    "purpose=a%0A",
    "reveal",
]


@pytest.mark.parametrize(("query", "expected"), ANSWERED.items())
def test_the_fast_path_reads_plainly_valid_queries(query: str, expected: SecretsPage) -> None:
    read = read_query(query.encode())
    assert read is not None
    assert read[0] == expected
    assert read[1] == expected.reveal_query()


@pytest.mark.parametrize("query", PASSED_ON)
def test_the_fast_path_passes_anything_else_to_the_route(query: str) -> None:
    assert read_query(query.encode()) is None


def _both(world: World, token: str | None) -> tuple[TestClient, TestClient]:
    fast = create_app(world.installation)
    without = create_app(world.installation, fast_path=False)
    return client_for(fast, token), client_for(without, token)


def _compared(response: Response) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "body": response.json(),
        "headers": {
            name: response.headers.get(name)
            for name in (
                "content-type",
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "www-authenticate",
                "etag",
                "cache-control",
            )
        },
    }


def _last_event(installation: Installation) -> dict[str, Any]:
    event = list_events(installation, limit=1)[0]
    return {
        "action": event.action,
        "outcome": event.outcome,
        "actor": event.actor,
        "stack_uid": event.stack_uid,
        "detail": event.detail,
    }


@pytest.fixture
def seeded(world: World) -> World:
    set_local(world.installation, world.account_target, {"SHARED": "from-account", "REF": "x"})
    set_local(
        world.installation,
        world.stack_target,
        {"OWN": "stack-value", "USES": "${SHARED}-and-${OWN}", "SHARED": "overridden"},
    )
    return world


# SQLite only (tests/conftest.py, DATABASES): the query-string matrix compares two faces over the
# same core calls; the tests below compare them on both databases (refusals, warm and cold
# reveals, writes between reveals, an audit log that cannot be written).
@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("query", [*ANSWERED, *PASSED_ON])
@pytest.mark.parametrize("level", ["stack", "account-uid", "account-name"])
def test_same_answer_and_same_audit_event_with_and_without_the_fast_path(
    seeded: World, query: str, level: str
) -> None:
    base = {
        "stack": seeded.stack_url(),
        "account-uid": seeded.account_url(),
        "account-name": "/api/3/accounts/acme/secrets",
    }[level]
    url = f"{base}?{query}" if query else base
    fast, route = _both(seeded, seeded.admin_token.token)
    answers = []
    events = []
    for client in (fast, route):
        with client:
            answers.append(_compared(client.get(url)))
        events.append(_last_event(seeded.installation))
    assert answers[0] == answers[1]
    assert events[0] == events[1]


@pytest.mark.parametrize(
    "who", ["no-token", "bad-token", "revoked", "viewer", "other-account", "no-such-stack"]
)
def test_same_refusals_with_and_without_the_fast_path(seeded: World, who: str) -> None:
    installation = seeded.installation
    url = seeded.stack_url() + "?reveal=true"
    token: str | None = seeded.admin_token.token
    if who == "no-token":
        token = None
    elif who == "bad-token":
        token = "ssk_" + "0" * 40
    elif who == "revoked":
        created = user_with_token(installation, "gone@acme.test", "acme", "administrator")
        revoke_token(installation, LOCAL, created.uid)
        token = created.token
    elif who == "viewer":
        token = user_with_token(installation, "viewer@acme.test", "acme", "viewer").token
    elif who == "other-account":
        from stacksafe.core.tenancy import create_account

        create_account(installation, LOCAL, "globex")
        token = user_with_token(installation, "other@globex.test", "globex", "administrator").token
    else:
        url = "/api/3/stacks/nosuchstack/secrets?reveal=true"
    fast, route = _both(seeded, token)
    answers = []
    events = []
    for client in (fast, route):
        with client:
            answers.append(_compared(client.get(url)))
        events.append(_last_event(installation))
    assert answers[0] == answers[1]
    assert answers[0]["status"] in (401, 403, 404)
    assert events[0] == events[1]


def test_the_fast_path_sends_no_value_when_the_audit_event_cannot_be_written(seeded: World) -> None:
    from tests.core.test_fail_closed import break_audit_log

    client = seeded.client
    assert client.get(seeded.stack_url() + "?reveal=true").status_code == 200  # kept
    break_audit_log(seeded.installation)
    fast, route = _both(seeded, seeded.admin_token.token)
    answers = []
    for other in (fast, route):
        with other:
            answers.append(other.get(seeded.stack_url() + "?reveal=true"))
    for response in answers:
        assert response.status_code == 503
        assert response.json()["error"] == "audit_unavailable"
        assert "stack-value" not in response.text
    assert answers[0].json() == answers[1].json()


def test_a_write_between_two_reveals_is_seen_by_the_second(seeded: World) -> None:
    client = seeded.client
    first = client.get(seeded.stack_url() + "?reveal=true&per_page=1000").json()
    set_local(seeded.installation, seeded.stack_target, {"OWN": "changed"})
    second = client.get(seeded.stack_url() + "?reveal=true&per_page=1000").json()
    own = [{s["key"]: s["raw_value"] for s in body["response"]}["OWN"] for body in (first, second)]
    assert own == ["stack-value", "changed"]


def test_a_second_authorization_header_does_not_change_who_asks(seeded: World) -> None:
    viewer = user_with_token(seeded.installation, "viewer@acme.test", "acme", "viewer")
    headers = [
        ("Authorization", f"Bearer {viewer.token}"),
        ("Authorization", f"Bearer {seeded.admin_token.token}"),
    ]
    answers = []
    for app in (create_app(seeded.installation), create_app(seeded.installation, fast_path=False)):
        with TestClient(app) as client:
            answers.append(client.get(seeded.stack_url() + "?reveal=true", headers=headers))
    assert [a.status_code for a in answers] == [403, 403]  # the first header: the viewer
    assert answers[0].json() == answers[1].json()


@pytest.mark.parametrize("step", ["undelete", "rollback"])
def test_a_write_route_reads_what_it_wrote_after_a_kept_list(world: World, step: str) -> None:
    """A route that writes and then reads must not use the revision it read before writing."""
    set_local(world.installation, world.stack_target, {"K": "v1"})
    set_local(world.installation, world.stack_target, {"K": "v2"})
    client = world.client
    if step == "undelete":
        assert client.delete(world.stack_url("K")).status_code == 200
    assert client.get(world.stack_url()).status_code == 200  # the level is kept now
    if step == "undelete":
        answer = client.post(world.stack_url("K") + "/undelete")
    else:
        answer = client.post(world.stack_url("K") + "/rollback", json={"to_version": 1})
    assert answer.status_code == 200, answer.text
    after = client.get(world.stack_url("K"), params={"reveal": "true"})
    assert answer.headers["etag"] == after.headers["etag"]
    assert after.json()["response"]["raw_value"] == ("v2" if step == "undelete" else "v1")


# --- Answers at hand: a warm reveal answered on the event loop (core.reveal with wait=False).
# The same answers and events as the thread; refusals go to the thread.

WARM = "?reveal=true&per_page=1000"


@pytest.fixture
def plain(world: World) -> World:
    """Values without references: a warm reveal of the stack is answered at hand."""
    set_local(
        world.installation, world.account_target, {"SHARED": "from-account", "ONLY": "account"}
    )
    set_local(
        world.installation, world.stack_target, {"OWN": "stack-value", "SHARED": "overridden"}
    )
    return world


def _reads(monkeypatch: pytest.MonkeyPatch, installation: Installation) -> list[int]:
    """Counts the read transactions opened from now on (one entry each)."""
    opened: list[int] = []
    read = installation.store.read

    def counted() -> Any:
        opened.append(1)
        return read()

    monkeypatch.setattr(installation.store, "read", counted)
    return opened


def _statements(monkeypatch: pytest.MonkeyPatch, installation: Installation) -> list[int]:
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


def _hops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the hops to a worker thread (anyio's, as the fast path makes them) from now on."""
    import anyio.to_thread

    hops: list[int] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(*args: Any, **kwargs: Any) -> Any:
        hops.append(1)
        return await run_sync(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return hops


def _event_of(response: Response, installation: Installation) -> dict[str, Any]:
    """The audit event written for ``response``, found by its request id."""
    wanted = response.headers["request-id"]
    found = [e for e in list_events(installation, limit=50) if e.request_id == wanted]
    assert len(found) == 1, found
    return {"action": found[0].action, "outcome": found[0].outcome, "detail": found[0].detail}


def test_a_warm_reveal_is_one_statement_on_the_loop_and_answers_as_the_first(
    plain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = plain.client
    client.get(plain.stack_url() + WARM)  # reads and decrypts: the level is kept
    first = client.get(plain.stack_url() + WARM)  # makes the page and the event detail: kept
    reads = _reads(monkeypatch, plain.installation)
    statements, hops = _statements(monkeypatch, plain.installation), _hops(monkeypatch)
    second = client.get(plain.stack_url() + WARM)
    # On both databases: the revision read on the event loop (SQLite's at once, PostgreSQL's
    # awaited), no transaction, no thread.
    assert (len(statements), len(reads), len(hops)) == (1, 0, 0)
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert _event_of(second, plain.installation) == _event_of(first, plain.installation)
    assert int(second.headers["x-ratelimit-remaining"]) == (
        int(first.headers["x-ratelimit-remaining"]) - 1
    )


def test_answers_at_hand_count_once_against_the_rate_limit(plain: World) -> None:
    app = create_app(plain.installation, rate_limit=4)
    with client_for(app, plain.admin_token.token) as client:
        answers = [client.get(plain.stack_url() + WARM) for _ in range(5)]  # 3rd on: at hand
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 503]  # Cloud66's status
    assert [a.headers.get("x-ratelimit-remaining") for a in answers[:4]] == ["3", "2", "1", "0"]
    assert answers[4].json()["error"] == "throttled"
    reveals = [e for e in list_events(plain.installation, limit=50) if e.action == "reveal"]
    assert len(reveals) == 4


@pytest.mark.parametrize("change", ["revoked", "demoted", "expired", "stack-written"])
def test_a_change_after_a_warm_reveal_applies_to_the_next_one(plain: World, change: str) -> None:
    from datetime import timedelta

    installation = plain.installation
    created = user_with_token(
        installation, "ops@acme.test", "acme", "administrator", expires_in=timedelta(hours=1)
    )
    with client_for(create_app(installation), created.token) as client:
        for _ in range(3):  # the level, then the page kept; then at hand
            assert client.get(plain.stack_url() + WARM).status_code == 200
        if change == "revoked":
            revoke_token(installation, LOCAL, created.uid)
        elif change == "demoted":
            user_with_token(installation, "ops@acme.test", "acme", "viewer")
        elif change == "expired":
            now = installation.clock()
            installation.clock = lambda: now + timedelta(hours=2)
        else:
            set_local(installation, plain.stack_target, {"OWN": "changed"})
        after = client.get(plain.stack_url() + WARM)
    if change == "stack-written":
        assert after.status_code == 200
        values = {s["key"]: s["raw_value"] for s in after.json()["response"]}
        assert values["OWN"] == "changed"
        return
    assert after.status_code == {"revoked": 401, "demoted": 403, "expired": 401}[change]
    assert "stack-value" not in after.text
    if change == "demoted":  # the refusal is recorded, once
        assert _event_of(after, installation)["outcome"] == "denied"


def test_a_page_not_made_yet_is_made_at_hand_then_kept(
    plain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = plain.client
    for _ in range(2):
        assert client.get(plain.stack_url() + WARM).status_code == 200  # this page is kept
    other_page = plain.stack_url() + "?reveal=true&per_page=2&page=1"
    reads = _reads(monkeypatch, plain.installation)
    statements, hops = _statements(monkeypatch, plain.installation), _hops(monkeypatch)
    answers = [client.get(other_page) for _ in range(2)]  # made at hand, then kept
    assert (len(statements), len(reads), len(hops)) == (2, 0, 0)
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert [s["key"] for s in answers[0].json()["response"]] == ["ONLY", "OWN"]
    assert _event_of(answers[0], plain.installation) == _event_of(answers[1], plain.installation)


def test_bad_tokens_from_an_address_do_not_throttle_its_warm_token(plain: World) -> None:
    app = create_app(plain.installation)
    url = plain.stack_url() + WARM
    with client_for(app, plain.admin_token.token, address="10.9.8.7") as good:
        assert good.get(url).status_code == 200
        with client_for(app, "ssk_" + "1" * 40, address="10.9.8.7") as bad:
            answers = [bad.get(url) for _ in range(25)]
        assert answers[-1].status_code == 429
        assert answers[-1].json()["error"] == "throttled"
        assert "stack-value" not in answers[-1].text
        assert good.get(url).status_code == 200


def test_the_fast_path_in_front_of_the_middleware_still_sends_the_request_id(plain: World) -> None:
    for _ in range(3):  # through a thread, then at hand
        answer = plain.client.get(plain.stack_url() + WARM, headers={"Request-Id": "mine-1"})
        assert answer.status_code == 200
        assert answer.headers["request-id"] == "mine-1"
    recorded = [
        e.action for e in list_events(plain.installation, limit=50) if e.request_id == "mine-1"
    ]
    assert recorded == ["reveal"] * 3
    generated = plain.client.get(plain.stack_url() + WARM, headers={"Request-Id": "bad id!"})
    assert generated.headers["request-id"] != "bad id!"
    assert len(generated.headers["request-id"]) == 32


def test_an_unexpected_failure_in_the_fast_path_is_the_apps_500(
    plain: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import stacksafe.api.fast_path as fast_path

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("stack-value")  # a message that must not reach the client

    monkeypatch.setattr(fast_path, "reveal", broken)
    answer = plain.client.get(plain.stack_url() + WARM, headers={"Request-Id": "boom-1"})
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal_error"
    assert answer.headers["request-id"] == "boom-1"
    assert "stack-value" not in answer.text
    assert "unexpected RuntimeError on GET" in caplog.text


def test_a_list_request_declaring_a_body_goes_through_the_size_limit(plain: World) -> None:
    answer = plain.client.get(plain.stack_url() + WARM, headers={"Content-Length": str(10**9)})
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"


def test_reveals_with_many_purposes_keep_the_page_made_once(
    plain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stacksafe.api.routes.secrets as routes

    renders: list[int] = []
    render = routes._page_body

    def counted(*args: Any) -> bytes:
        renders.append(1)
        return render(*args)

    monkeypatch.setattr(routes, "_page_body", counted)
    for n in range(30):  # as `stacksafe run` sends them: one purpose per command
        answer = plain.client.get(plain.stack_url() + WARM + f"&purpose=run+cmd{n % 6}")
        assert answer.status_code == 200
        assert _event_of(answer, plain.installation)["detail"]["purpose"] == f"run cmd{n % 6}"
    assert len(renders) == 2  # read and rendered; then made once for the kept level


def test_the_fast_path_does_the_work_of_every_middleware_and_dependency(world: World) -> None:
    """It runs in front of the middleware stack and without the route's dependencies: a
    middleware or a dependency added later must be added to APPLIES (and done there)."""
    from fastapi.routing import APIRoute

    from stacksafe.api.routes.secrets import router

    app = create_app(world.installation)
    assert isinstance(app, StacksafeApi)
    middleware = set()
    for m in app.user_middleware:
        assert isinstance(m.cls, type)  # each middleware of the app is a class
        middleware.add(m.cls.__name__)
    lists = [
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.name in ("list_stack_secrets", "list_account_secrets")
    ]
    assert len(lists) == 2
    pending = [d for route in lists for d in route.dependant.dependencies]
    # Dependencies of the app, and of the router as the app includes it, apply to it too.
    declared = list(app.router.dependencies)
    for included in app.routes:
        context = getattr(included, "include_context", None)
        declared.extend(getattr(context, "dependencies", None) or [])
    dependencies = {d.dependency.__name__ for d in declared if d.dependency is not None}
    while pending:
        found = pending.pop()
        if found.call is not None:
            dependencies.add(found.call.__name__)
        pending.extend(found.dependencies)
    assert middleware | dependencies == set(APPLIES)


def test_a_warm_reveal_starts_its_answer_only_once_its_event_is_committed(
    plain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    installation = plain.installation
    app = create_app(installation)
    committed: dict[str, list[str]] = {}  # request id: its events committed at response start

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def send_watched(message: Any) -> None:
            if message["type"] == "http.response.start":
                wanted = dict(message["headers"])[b"request-id"].decode()
                # Read in a transaction of its own: only what is committed.
                events = list_events(installation, limit=50)
                committed[wanted] = [e.action for e in events if e.request_id == wanted]
            await send(message)

        await app(scope, receive, send_watched)

    with TestClient(watched, headers={"Authorization": f"Bearer {plain.admin_token.token}"}) as c:
        for n in range(2):  # the level, then the page kept
            assert c.get(plain.stack_url() + WARM, headers={"Request-Id": f"r{n}"}).is_success
        statements, hops = _statements(monkeypatch, installation), _hops(monkeypatch)
        warm = c.get(plain.stack_url() + WARM, headers={"Request-Id": "warm"})
    assert warm.status_code == 200
    assert (len(statements), len(hops)) == (1, 0)  # answered at hand
    assert committed == {"r0": ["reveal"], "r1": ["reveal"], "warm": ["reveal"]}


def test_a_warm_reveal_sends_no_value_when_its_event_cannot_be_written(
    plain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.core.test_fail_closed import break_audit_log

    for _ in range(2):  # the level, then the page kept
        assert plain.client.get(plain.stack_url() + WARM).status_code == 200
    break_audit_log(plain.installation)
    statements, hops = _statements(monkeypatch, plain.installation), _hops(monkeypatch)
    answer = plain.client.get(plain.stack_url() + WARM)
    assert (len(statements), len(hops)) == (1, 0)  # answered at hand: refused there
    assert answer.status_code == 503
    assert answer.json()["error"] == "audit_unavailable"
    assert "stack-value" not in answer.text


def test_a_write_through_another_server_is_seen_by_the_next_warm_reveal(
    plain: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):  # the level, then the page kept
        assert plain.client.get(plain.stack_url() + WARM).status_code == 200
    other = open_installation(settings)  # another server on the same database
    try:
        set_local(other, plain.stack_target, {"OWN": "from-the-other-server"})
    finally:
        other.close()
    statements = _statements(monkeypatch, plain.installation)
    after = plain.client.get(plain.stack_url() + WARM)
    assert len(statements) == 1  # the revision read on the loop, which tells of the write
    assert after.status_code == 200
    values = {s["key"]: s["raw_value"] for s in after.json()["response"]}
    assert values["OWN"] == "from-the-other-server"
    assert "stack-value" not in after.text
