"""hashicorp/vault-action's exact requests (``method: token``), replayed (issue 18).

The fixture (replays/vault_action_token.json) is written from the action's source: one GET per
secret path with got's headers, the token and an EMPTY ``X-Vault-Namespace`` (sent whenever no
namespace is configured), a missing path under ``ignoreNotFound``, and the ``revokeToken`` post
step (POST auth/token/revoke-self). The replay revokes its token, so each run mints its own.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.vault.conftest import KvServer
from tests.e2e.vault.replays.harness import expiring_token, replay_problems
from tests.e2e.vault.replays.replay import build, fill, load, with_headers

FIXTURE = "vault_action_token.json"


@pytest.mark.parametrize("side", ["openbao", "stacksafe"])
def test_vault_action_flow_is_answered_as_openbao_answers_it(
    request: pytest.FixtureRequest, openbao: KvServer, side: str
) -> None:
    server = openbao if side == "openbao" else request.getfixturevalue("stacksafe_kv")
    token = expiring_token(request, server)
    found = replay_problems(server, FIXTURE, token)
    assert not found, "\n".join(found)


def test_the_fixture_sends_what_vault_action_sends() -> None:
    fixture = load(FIXTURE)
    assert fixture["token"] == "minted"
    assert fixture["headers"]["x-vault-namespace"] == ""  # empty, and present
    assert fixture["headers"]["x-vault-token"] == "{token}"
    steps = {step["id"]: step for step in fixture["steps"]}
    assert steps["read"]["request"] == {"method": "GET", "path": "/v1/{mount}/data/{path}"}
    revoke = steps["revoke"]["request"]
    assert (revoke["method"], revoke["path"]) == ("POST", "/v1/auth/token/revoke-self")
    assert "json" not in revoke
    assert steps["read-after-revoke"]["expect"]["status"] == 403


def test_the_wire_request_has_an_empty_namespace_header() -> None:
    fixture = load(FIXTURE)
    values = {"path": "kvdiff/v", "mount": "secret", "token": "t"}
    with httpx.Client(base_url="http://127.0.0.1:9") as client:
        read, revoke = (
            build(client, fill(with_headers(fixture, step), values))
            for step in fixture["steps"]
            if step["id"] in ("read", "revoke")
        )
    assert read.headers["x-vault-namespace"] == ""
    assert read.headers["user-agent"] == "got (https://github.com/sindresorhus/got)"
    assert "accept" not in read.headers
    assert revoke.headers["accept"] == "application/json"
    assert revoke.headers["x-vault-namespace"] == ""
    assert revoke.content == b""
