"""Schemathesis against the served OpenAPI schema of real servers: no request gets a 5xx.

Every operation of /api/3/openapi.json is called with generated requests that fit the schema
(positive) and that do not (negative), carrying the owner's token. The module has one seeded
server on SQLite and one on PostgreSQL, and each generated request is sent to both: the same
requests meet both dialects, generated once (generating is most of the run's CPU).
Path parameters are mostly pinned to the real account, stack and a key, so that the generated
bodies, queries and headers reach the handlers instead of a 404; a few requests per operation
use random ones. Each response goes through schemathesis' ``not_a_server_error`` check.
Bounded and repeatable: at most ``MAX_EXAMPLES`` requests per operation and server,
derandomized.

Below it, hand-written requests that the bounded, schema-driven run does not reach; the ones
that once got a 500 stay here as regression tests.

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) does not run under
pytest 9 (it sets ``Function._nodeid``, which pytest 9 no longer has), so the operations are
driven through its Python API: ``APIOperation.as_strategy`` with Hypothesis' ``@given``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from tests.conftest import DATABASES
from tests.e2e.conftest import Served, TlsFiles, e2e_database, serve_seeded, trusting
from tests.untraced import untraced

MAX_EXAMPLES = 30  # per operation, over all its modes
POSITIVE, NEGATIVE, FREE_PATH = 15, 10, 5  # ... when it has path parameters to pin
assert POSITIVE + NEGATIVE + FREE_PATH == MAX_EXAMPLES
BOUNDED = settings(
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests on every run
)


@pytest.fixture(scope="module")
def servers(
    request: pytest.FixtureRequest, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Served]]:
    """A seeded TLS server on each database, shared by the module's tests."""
    with ExitStack() as stack:
        found: dict[str, Served] = {}
        for kind in DATABASES:
            url = stack.enter_context(e2e_database(kind, request, tmp_path_factory))
            base = tmp_path_factory.mktemp(f"served-{kind}")
            found[kind] = stack.enter_context(contextmanager(serve_seeded)(base, url, tls))
        yield found


@pytest.fixture(params=DATABASES)
def served(request: pytest.FixtureRequest, servers: dict[str, Served]) -> Served:
    """One of ``servers``: the hand-written requests below run on each database."""
    return servers[request.param]


@dataclass
class Target:
    """One server the generated requests go to, and what it answered."""

    name: str
    served: Served
    headers: dict[str, str]
    stack_uid: str  # what the pinned stack_uid becomes on this server
    statuses: set[int]
    requests: int = 0


def _operations(served: Served) -> list[Any]:
    loaded = schemathesis.openapi.from_url(
        f"{served.address}/api/3/openapi.json", verify=str(served.ca), timeout=10
    )
    loaded.config.update(base_url=served.address)
    operations: list[Any] = []
    for result in loaded.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the server's own schema must load
        operations.append(result.ok())
    assert len(operations) >= 15, [op.label for op in operations]
    return operations


def _send(case: Any, target: Target, pinned: dict[str, str], session: requests.Session) -> None:
    """``case`` to ``target``, its pinned stack made that server's; no server error."""
    if "stack_uid" in pinned:
        case.path_parameters["stack_uid"] = target.stack_uid
    response = case.call(
        base_url=target.served.address,
        session=session,
        headers=target.headers,
        verify=str(target.served.ca),
        timeout=10,
    )
    target.statuses.add(response.status_code)
    target.requests += 1
    try:
        case.validate_response(response, checks=[not_a_server_error], headers=target.headers)
    except BaseException as failed:
        failed.add_note(f"on {target.name}")
        raise


def _exercise(
    operation: Any,
    mode: GenerationMode,
    pinned: dict[str, str],
    examples: int,
    targets: list[Target],
    session: requests.Session,
) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=pinned or None)

    @settings(BOUNDED, max_examples=examples)
    @given(case=strategy)
    def call(case: Any) -> None:
        for target in targets:
            _send(case, target, pinned, session)

    try:
        call()
    except Unsatisfiable:
        # Nothing to make invalid (only free-form string path parameters, no query or body).
        assert mode is GenerationMode.NEGATIVE, operation.label


# Operations that would delete what the other tests of the module use (the pinned account or
# stack): generated with random path parameters only (tests/api covers them on real ones).
DESTRUCTIVE = {("DELETE", "/api/3/accounts/{account_id}"), ("DELETE", "/api/3/stacks/{stack_uid}")}
# An event stream on a real stack never ends (a heartbeat every 15 s): only random stacks, which
# are refused at once (tests/api/test_changes_stream.py covers real ones).
STREAMS = {("GET", "/api/3/stacks/{stack_uid}/changes")}


def _plan(operation: Any, real: dict[str, str]) -> list[tuple[GenerationMode, dict[str, str], int]]:
    """Modes, pinned path parameters and example counts for one operation."""
    params = {p.name for p in operation.path_parameters}
    pinned = {k: real[k] for k in params & real.keys()}
    if (operation.method.upper(), operation.path) in DESTRUCTIVE | STREAMS:
        pinned = {}
    if not pinned:
        return [
            (GenerationMode.POSITIVE, {}, POSITIVE + FREE_PATH),
            (GenerationMode.NEGATIVE, {}, NEGATIVE),
        ]
    return [
        (GenerationMode.POSITIVE, pinned, POSITIVE),
        (GenerationMode.NEGATIVE, pinned, NEGATIVE),
        # Random path parameters mostly meet a 404: a few of those suffice.
        (GenerationMode.POSITIVE, {}, FREE_PATH),
    ]


def test_no_generated_request_gets_a_server_error(servers: dict[str, Served]) -> None:
    targets = [
        Target(name, on, {"Authorization": f"Bearer {on.token}"}, on.stack_uids["dev"], set())
        for name, on in servers.items()
    ]
    # Generated against the first server's ids; _send gives each server its own stack uid.
    real = {"account_id": "acme", "stack_uid": targets[0].stack_uid, "key": "SCHEMATHESIS_KEY"}
    failures: list[str] = []
    started = time.monotonic()
    # Generating the requests is most of this process's work, and none of it is stacksafe's:
    # the servers measure their own coverage.
    with untraced(), requests.Session() as session:
        for operation in _operations(targets[0].served):
            for mode, pinned, examples in _plan(operation, real):
                try:
                    _exercise(operation, mode, pinned, examples, targets, session)
                except Exception as exc:  # collect every operation's failure
                    failures.append(f"{operation.label} {mode.value} {pinned}: {exc}")
    elapsed = time.monotonic() - started
    for target in targets:
        print(
            f"schemathesis on {target.name}: {target.requests} requests "
            f"(all servers: {elapsed:.1f} s): {sorted(target.statuses)}"
        )
    assert failures == []
    assert targets[0].requests == targets[1].requests  # every generated request went to both
    for target in targets:
        assert not {s for s in target.statuses if s >= 500}, target.name
        # The pinned passes reached the handlers.
        assert {200, 400, 404} <= target.statuses, (target.name, target.statuses)
        assert target.served.process.process.poll() is None  # the server is still up


# -- hand-written edges ----------------------------------------------------------------------


def _get(served: Served, path: str) -> httpx.Response:
    return httpx.get(
        served.address + path,
        headers={"Authorization": f"Bearer {served.token}"},
        verify=trusting(served.ca),
        timeout=10,
    )


def _server_errors(served: Served, paths: list[str]) -> list[str]:
    found = [(path, _get(served, path).status_code) for path in paths]
    return [f"{path} -> {status}" for path, status in found if status >= 500]


def test_edges_that_are_handled(served: Served) -> None:
    paths = [
        "/api/3/audit_logs?since=2026-01-01T00:00:00Z",
        "/api/3/audit_logs?since=0001-01-01T00:00:00-01:00",
        "/api/3/audit_logs?since=9999-12-31T23:59:59Z",
        "/api/3/audit_logs?key=%00",
        "/api/3/accounts?page=99999999999999999999999999",
        "/api/3/stacks?filter_name=%00",
        f"/api/3/stacks/{served.stack_uids['dev']}/secrets/%00",
        "/api/3/audit_logs?page=1000",
    ]
    assert _server_errors(served, paths) == []


def test_a_since_without_offset_is_read_as_utc(served: Served) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    for path in (
        f"/api/3/audit_logs?since={yesterday}",
        f"/api/3/accounts/acme/audit_logs?since={yesterday}",
    ):
        answer = _get(served, path)
        assert answer.status_code == 200, path
        assert answer.json()["count"] > 0  # the seeding happened since
    assert _server_errors(served, ["/api/3/audit_logs?since=2026-01-01"]) == []


def test_a_since_before_year_one_in_utc_is_not_a_server_error(served: Served) -> None:
    assert _server_errors(served, ["/api/3/audit_logs?since=0001-01-01T00:00:00%2B14:00"]) == []


def test_a_huge_page_number_is_a_bad_request(served: Served) -> None:
    for path in (
        "/api/3/audit_logs?page=999999999999999999",
        "/api/3/accounts/acme/audit_logs?page=99999999999999999999",
    ):
        assert _get(served, path).status_code == 400, path


NUL_PATHS = [
    "/api/3/accounts/%00",
    "/api/3/accounts/a%00b/secrets",
    "/api/3/stacks/%00",
    "/api/3/stacks/%00/secrets/KEY",
    "/api/3/stacks?account_id=%00",
    "/api/3/audit_logs?actor=%00",
    "/api/3/accounts/acme/audit_logs?actor=%00",
    # Found by the 500-examples-per-operation run (PostgreSQL only: psycopg refuses NUL in text).
    "/api/3/tokens?user=S%F3%9F%9D%A8%7C%00j&per_page=615&page=1787",
    "/api/3/tokens?user=%00",
]


def test_nul_characters_in_identifiers_are_not_a_server_error(
    served: Served, request: pytest.FixtureRequest
) -> None:
    errors = _server_errors(served, NUL_PATHS)
    with httpx.Client(
        base_url=served.address,
        headers={"Authorization": f"Bearer {served.token}"},
        verify=trusting(served.ca),
        timeout=10,
    ) as http:
        for method, path, body in (
            ("POST", "/api/3/stacks", {"account_id": "ac\x00me", "name": "n", "environment": "e"}),
            ("PUT", "/api/3/accounts/a%00/secrets", {"secrets": {"KEY": "value"}}),
        ):
            status = http.request(method, path, json=body).status_code
            if status >= 500:
                errors.append(f"{method} {path} -> {status}")
    assert errors == []
