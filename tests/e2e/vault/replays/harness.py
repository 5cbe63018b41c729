"""Glue between the replay fixtures and the servers of tests/e2e/vault/conftest.py."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import trusting
from tests.e2e.vault.conftest import KvServer, unique_path
from tests.e2e.vault.replays.replay import (
    Target,
    load,
    mint_openbao_token,
    problems,
    replay,
    stacks,
)

OWNER = "owner@localhost"  # the seeded owner (stacksafe init's first user)


def target(server: KvServer, token: str | None = None) -> Target:
    """``server`` as a replay target; ``token`` instead of the server's own when given."""
    verify = trusting(server.ca) if server.ca is not None else False
    return Target(server.name, server.address, token or server.token, verify, server.mount)


def expiring_token(request: pytest.FixtureRequest, server: KvServer) -> str:
    """A new token with an expiry (24 h), never the server's own, which other tests go on using.

    OpenBao: a child of the root token. stacksafe: the owner's, scopes public and admin (admin
    is what reveals values).
    """
    if server.name == "openbao":
        token = mint_openbao_token(target(server))
    else:
        served = request.getfixturevalue("stacksafe_served")
        created = served.local.in_process().ok(
            "tokens", "create", "--user", OWNER, "--scope", "public", "--scope", "admin",
            "--expires-in", "1d",
        )  # fmt: skip
        token = created.stdout.strip()
    assert token
    assert token != server.token
    return token


def replay_problems(server: KvServer, name: str, token: str | None = None) -> list[str]:
    """Replay fixture ``name`` on a fresh path of ``server``; every answer that breaks the client.

    Every step is sent even after a bad answer (later steps then often fail too, but the first
    problem is listed first): a full list says more about a server under construction.
    """
    fixture = load(name)
    path = unique_path(name.removesuffix(".json").replace("_", "-"))
    for stack in stacks(fixture, path):
        server.prepare(stack)
    found: list[str] = []
    sent = 0
    for exchange in replay(fixture, target(server, token), path):
        sent += 1
        found.extend(problems(exchange))
    assert sent == len(fixture["steps"]) > 0
    # Tokens stay out of test logs, even throwaway ones.
    secret = token or server.token
    return [f"{server.name} {name} {line}".replace(secret, "<token>") for line in found]
