"""`serve --metrics-address`: the metrics without a token on a listener of their own, against a
real `stacksafe serve` (one for the module, on SQLite: the listener is the server's, not the
database's), while its API port keeps asking for the owner's token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.e2e.conftest import Served, TlsFiles, free_port, serve_seeded, trusting


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def served(
    tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory, metrics_port: int
) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("metrics-listener")
    yield from serve_seeded(
        base,
        f"sqlite:///{base / 'stacksafe.db'}",
        tls,
        ["--metrics-address", f"127.0.0.1:{metrics_port}"],
    )


def _samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_the_listener_answers_without_a_token_and_counts_the_api_port(
    served: Served, metrics_port: int
) -> None:
    verify = trusting(served.ca)
    accounts = httpx.get(
        f"{served.address}/api/3/accounts",
        headers={"Authorization": f"Bearer {served.token}"},
        verify=verify,
    )
    assert accounts.status_code == 200
    # No token, plain HTTP, its own port (loopback here).
    listened = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    assert listened.status_code == 200
    samples = _samples(listened.text)
    counted = [
        s.value
        for s in samples
        if s.name == "stacksafe_http_requests_total"
        and s.labels == {"route": "/api/3/accounts", "method": "GET", "status": "200"}
    ]
    assert counted == [1.0]
    info = [s.labels for s in samples if s.name == "stacksafe_build_info"]
    assert [i["database"] for i in info] == ["sqlite"]


def test_the_api_port_still_wants_the_owners_token(served: Served) -> None:
    verify = trusting(served.ca)
    assert httpx.get(f"{served.address}/metrics", verify=verify).status_code == 401
    owned = httpx.get(
        f"{served.address}/metrics",
        headers={"Authorization": f"Bearer {served.token}"},
        verify=verify,
    )
    assert owned.status_code == 200
    assert any(s.name == "stacksafe_db_pool_size_connections" for s in _samples(owned.text))
