"""One address cannot lock everyone out: real ``stacksafe serve`` processes, real TLS, one
database. Every request here comes from 127.0.0.1, as every request comes from the load
balancer's address behind one: a flood of bad tokens is answered 429, and a valid token from
the same address is still answered; the failures one server counted weigh on the other. Wrong
passwords through the web sign-in form are throttled by the email on both servers, and audited
as counted events."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from stacksafe.api.app import BAD_TOKEN_LIMIT
from stacksafe.core.sign_in import PER_ADDRESS_EMAIL
from stacksafe.store.schema import failures
from tests.cli.helpers import Cli
from tests.e2e.conftest import Launcher, ServedPair, ServerProcess, TlsFiles, serve_pair, trusting

BAD = "ssk_" + "z" * 43
USER, PASSWORD = "viewer@acme.test", "correct horse battery staple"
THROTTLED = "too many failed sign-ins for this email"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
_NOTICE = re.compile(r'class="notice [a-z]+"[^>]*>([^<]*)<')


def _with_user(pair: ServedPair) -> ServedPair:
    """USER, a viewer of acme with a password, on the pair's installation."""
    fast = pair.local.in_process()
    fast.ok("users", "create", USER, "--account", "acme", "--role", "viewer")
    fast.ok("users", "set-password", USER, "--stdin", input=PASSWORD + "\n")
    return pair


@pytest.fixture(scope="module")
def pair_measured() -> bool:
    return False  # two servers under a flood of requests (see start_serve): untraced


@pytest.fixture(scope="module")
def shared_pair(served_pair: ServedPair) -> ServedPair:
    """The servers of the tests that count different things (bad tokens from the address,
    sign-ins of USER): neither count weighs on the other's limit."""
    return _with_user(served_pair)


@pytest.fixture
def own_pair(
    database_url: str, tls: TlsFiles, launch: Launcher, tmp_path: Path
) -> Iterator[ServedPair]:
    """Servers for one test: it stops them, and it sums every count in the database."""
    for pair in serve_pair(Cli(tmp_path / "data", database_url), tls, launch, measured=False):
        yield _with_user(pair)


def _client(server: ServerProcess, token: str, tls: TlsFiles) -> httpx.Client:
    return httpx.Client(
        base_url=server.address,
        headers={"Authorization": f"Bearer {token}"},
        verify=trusting(tls.ca),
        timeout=30,
    )


def test_a_valid_token_is_answered_after_a_flood_of_bad_ones_from_its_address(
    shared_pair: ServedPair, tls: TlsFiles
) -> None:
    first, second = shared_pair.first, shared_pair.second
    token, web = shared_pair.token, shared_pair.web
    url = f"/api/3/stacks/{web}/secrets?reveal=true"
    with _client(first, BAD, tls) as attacker:
        answers = [attacker.get(url) for _ in range(100)]
    codes = [a.status_code for a in answers]
    assert set(codes) == {401, 429}
    assert codes[-1] == 429
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert answers[-1].json()["error"] == "throttled"

    for server in (first, second):
        with _client(server, token, tls) as user:
            answer = user.get(url)
            assert answer.status_code == 200, answer.text
            assert user.put(
                f"/api/3/stacks/{web}/secrets/AFTER_FLOOD", json={"raw_value": "still-served"}
            ).status_code in (200, 201)

    # The other server counts from what the first one counted: a process of its own would
    # answer BAD_TOKEN_LIMIT bad tokens with 401 before its first 429.
    with _client(second, BAD, tls) as attacker:
        until_throttled = 0
        while attacker.get(url).status_code == 401:
            until_throttled += 1
            assert until_throttled < BAD_TOKEN_LIMIT


def _sign_in(browser: httpx.Client, password: str) -> str:
    """The sign-in form as a browser fills it (its CSRF token, from the same origin); the
    notice of the page it lands on, or "" when signed in."""
    form = browser.get("/sign-in")
    csrf = _CSRF.search(form.text)
    assert csrf is not None, form.text
    answer = browser.post(
        "/sign-in",
        data={"email": USER, "password": password, "csrf": csrf.group(1)},
        headers={"Origin": str(browser.base_url).rstrip("/")},
        follow_redirects=True,
    )
    assert answer.status_code == 200, answer.text
    found = _NOTICE.search(answer.text)
    return "" if found is None else html.unescape(found.group(1))


def test_sign_ins_are_throttled_by_email_across_servers_and_counted_in_the_audit_log(
    shared_pair: ServedPair, tls: TlsFiles
) -> None:
    """Wrong passwords for one email through the web form of one server until it refuses
    without checking; the other server then refuses that email after far fewer than the limit
    (a process counting on its own would take the limit's worth first). The windows are the
    servers' real minutes: a run straddling the turn of one may need up to twice the limit."""
    first, second = shared_pair.first, shared_pair.second
    limit = PER_ADDRESS_EMAIL.failures
    with httpx.Client(base_url=first.address, verify=trusting(tls.ca), timeout=30) as browser:
        wrong = 0
        while True:
            said = _sign_in(browser, "not the password")
            if said.startswith(THROTTLED):
                break
            assert said == "the email or the password is wrong", said
            wrong += 1
            assert wrong <= 2 * limit
        assert wrong >= limit
    with httpx.Client(base_url=second.address, verify=trusting(tls.ca), timeout=30) as browser:
        until_throttled = 0
        while not _sign_in(browser, "still not it").startswith(THROTTLED):
            until_throttled += 1
            assert until_throttled < limit

    audit = shared_pair.local.in_process()
    events = json.loads(
        audit.ok(
            "audit", "list", "--actor", "web:sign-in", "--limit", "1000", "--format", "json"
        ).stdout
    )
    refused = wrong + 1 + until_throttled + 1
    assert events, "refused sign-ins are audited"
    counts = [event["detail"]["failures"] for event in events]
    # One event at the 1st, 2nd, 4th, 8th ... refusal of the address in a minute, with the count.
    assert all(count & (count - 1) == 0 for count in counts), counts
    assert len(events) < refused


def test_the_requests_a_server_admitted_reach_the_shared_counts(
    own_pair: ServedPair, tls: TlsFiles, database_url: str
) -> None:
    """The serving process's flusher is running and shares its per-token counts: flushed
    about once a second, and once more when the server stops, so every valid request either
    server admitted is in the database for the others (no bad tokens or sign-ins here: every
    count in ``failures`` is a request count)."""
    first, second = own_pair.first, own_pair.second
    token, web = own_pair.token, own_pair.web
    url = f"/api/3/stacks/{web}/secrets"
    for server, requests in ((first, 3), (second, 2)):
        with _client(server, token, tls) as user:
            for _ in range(requests):
                assert user.get(url + "?reveal=true").status_code == 200
                assert user.get(url).status_code == 200
    first.stop()
    second.stop()
    for server in (first, second):
        assert "sharing the request counts failed" not in server.stderr()
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            counted = conn.execute(select(func.sum(failures.c.failed))).scalar_one()
    finally:
        engine.dispose()
    assert counted == 2 * (3 + 2)
