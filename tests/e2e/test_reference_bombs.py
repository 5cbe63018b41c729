"""Reference bombs against real ``stacksafe serve`` processes (issue 17, item 2).

A few small values whose ``${...}`` references expand exponentially used to make one reveal
allocate gigabytes. They are stored here the only way they still can be (written while the
limit was far higher: ``STACKSAFE_MAX_VALUE_BYTES`` raised for the writing CLI), then revealed
through servers with the default limits and with a value limit left absurdly high: each answer
is a small 4xx naming the key, and the server's resident memory stays where it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from stacksafe.client import Client
from stacksafe.errors import ExpansionTooLarge
from tests.cli.helpers import Cli
from tests.e2e.conftest import Launcher, ServerProcess, TlsFiles, init_and_seed, trusting

# SQLite only (tests/conftest.py, DATABASES): the bounds on expanding references are core's Python,
# whatever database holds the values.
pytestmark = pytest.mark.databases("sqlite")

MIB = 1024 * 1024
# What the server may grow by while answering bombs: far below what building one would take
# (the smallest refused value is 2 MiB; an unbounded reveal of these took gigabytes).
RSS_SLACK = 64 * MIB
HUGE = str(1 << 62)  # a value limit so high that only the per-read bound is left


def fanning(levels: int, width: int = 64) -> dict[str, str]:
    """F0 eight bytes, each next level ``width`` times the one before (F8: two pebibytes)."""
    chain = {"F0": "x" * 8}
    for level in range(1, levels + 1):
        chain[f"F{level}"] = f"${{F{level - 1}}}" * width
    return chain


def doubling(levels: int) -> dict[str, str]:
    """The issue's bomb: D00 eight bytes, each next level twice the one before."""
    chain = {"D00": "x" * 8}
    for level in range(1, levels + 1):
        chain[f"D{level:02d}"] = f"${{D{level - 1:02d}}}" * 2
    return chain


def rss_bytes(server: ServerProcess) -> int:
    """The server's resident set size (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def store_bombs(cli: Cli, tmp_path: Path) -> None:
    """The bombs, written with the value limit raised (data from before the bound): the
    fanning one in stack ``web``, the doubling one in ``dev``."""
    for stack, values in (("web", fanning(8)), ("dev", doubling(40))):
        bombs = tmp_path / f"{stack}.json"
        bombs.write_text(json.dumps(values))
        cli.ok(
            "secrets",
            "import",
            str(bombs),
            "--stack",
            stack,
            "--format",
            "json",
            "--raw",  # stored text: the ${...} are references
            env={"STACKSAFE_MAX_VALUE_BYTES": HUGE},
            measured=False,  # setup (the servers' reveals are the subject): untraced
        )


def start(
    launch: Launcher, cli: Cli, tls: TlsFiles, env: Mapping[str, str] | None = None
) -> ServerProcess:
    server = launch(cli, ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)], env=env)
    server.wait_healthy(trusting(tls.ca))
    return server


@pytest.fixture
def installation(database_url: str, tmp_path: Path) -> tuple[Cli, str, dict[str, str]]:
    """An initialised, seeded data dir with the bombs stored; the CLI, a token, stack uids."""
    cli = Cli(tmp_path / "data", database_url)
    token = init_and_seed(cli)
    store_bombs(cli, tmp_path)
    stacks = cli.in_process().json("stacks", "list", "--format", "json")
    return cli, token, {s["name"]: s["uid"] for s in stacks}


def reveal(
    server: ServerProcess, tls: TlsFiles, token: str, path: str, **params: str
) -> httpx.Response:
    return httpx.get(
        f"{server.address}{path}",
        params={"reveal": "true", **params},
        headers={"Authorization": f"Bearer {token}"},
        verify=trusting(tls.ca),
        timeout=30.0,
    )


def test_bombs_stored_before_the_bound_are_refused_by_a_server_with_defaults(
    installation: tuple[Cli, str, dict[str, str]], launch: Launcher, tls: TlsFiles
) -> None:
    cli, token, uids = installation
    server = start(launch, cli, tls)
    secrets = f"/api/3/stacks/{uids['web']}/secrets"
    dev = f"/api/3/stacks/{uids['dev']}/secrets"
    assert reveal(server, tls, token, f"{secrets}/F2").status_code == 200  # 32 KiB: fine
    baseline = rss_bytes(server)

    for path, params, key in [
        (secrets, {}, "F3"),  # the whole stack: F3 is the first beyond 64 KiB
        (secrets, {"per_page": "5"}, "F3"),
        (f"{secrets}/F8", {}, "F8"),
    ]:
        answer = reveal(server, tls, token, path, **params)
        assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
        body = answer.json()
        assert body["error"] == "expansion_too_large"
        assert f"{key!r} in stack 'web'" in body["error_description"]
        assert len(answer.content) < 1024
    # The doubling bomb: what is readable (ten references deep) is 8 KiB at most; beyond that
    # it nests too deep, a 4xx naming the chain, reached as fast.
    assert reveal(server, tls, token, f"{dev}/D10").status_code == 200
    deep = reveal(server, tls, token, f"{dev}/D40")
    assert deep.status_code == 409, (deep.status_code, deep.text[:200])
    assert "deeper than 10" in deep.json()["error_description"]
    # The whole stack isolates the keys that nest too deep (docs/references.md): the others
    # come with their values, those without.
    listed = reveal(server, tls, token, dev, per_page="100")
    assert listed.status_code == 200, listed.text[:200]
    given = {s["key"] for s in listed.json()["response"] if s["raw_value"] is not None}
    assert given == {f"D{level:02d}" for level in range(11)}
    # The stored text is still there, as stored.
    raw = reveal(server, tls, token, f"{secrets}/F8", resolve="false")
    assert raw.json()["response"]["raw_value"] == "${F7}" * 64

    assert rss_bytes(server) < baseline + RSS_SLACK
    # The SDK (and so the remote CLI) raises the same error, by its code.
    with (
        Client(server.address, token, ca_bundle=str(tls.ca), timeout=30) as client,
        pytest.raises(ExpansionTooLarge, match="'F3' in stack 'web'"),
    ):
        client.reveal(stack=uids["web"])
    # Writing another level is refused, naming it; nothing is written.
    put = httpx.put(
        f"{server.address}{secrets}/F9",
        json={"raw_value": "${F8}" * 64},
        headers={"Authorization": f"Bearer {token}"},
        verify=trusting(tls.ca),
        timeout=30.0,
    )
    assert put.status_code == 422, put.text
    assert "'F9' in stack 'web'" in put.json()["error_description"]
    assert reveal(server, tls, token, f"{secrets}/F9").status_code == 404
    doubled = httpx.put(
        f"{server.address}{dev}/D41",
        json={"raw_value": "${D40}${D40}"},
        headers={"Authorization": f"Bearer {token}"},
        verify=trusting(tls.ca),
        timeout=30.0,
    )
    assert doubled.status_code == 422, doubled.text
    assert "'D41' in stack 'dev'" in doubled.json()["error_description"]


def test_the_per_read_bound_holds_when_the_value_limit_does_not(
    installation: tuple[Cli, str, dict[str, str]], launch: Launcher, tls: TlsFiles
) -> None:
    cli, token, uids = installation
    server = start(launch, cli, tls, env={"STACKSAFE_MAX_VALUE_BYTES": HUGE})
    secrets = f"/api/3/stacks/{uids['web']}/secrets"
    assert reveal(server, tls, token, f"{secrets}/F0").status_code == 200
    baseline = rss_bytes(server)

    # F4 would be 128 MiB: beyond the 16 MiB one read may build (F1..F3 come to 2 MiB).
    for path in (secrets, f"{secrets}/F8"):
        answer = reveal(server, tls, token, path)
        assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
        description = answer.json()["error_description"]
        assert f"builds more than {16 * MIB} bytes" in description
        assert "'F4'" in description or "'F8'" in description
        assert len(answer.content) < 1024
    assert rss_bytes(server) < baseline + RSS_SLACK
