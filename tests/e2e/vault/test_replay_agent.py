"""Vault Agent's exact requests (auto_auth token_file, one template), replayed (issue 18).

The fixture (replays/agent_template.json) was observed from a real ``bao agent`` through a
logging proxy and written down with the source of each step: the start-up health probe, the
token_file lookup-self, the KV v2 mount preflight (``sys/internal/ui/mounts/<path>``) for each
template path, and the reads. Neither ESO nor vault-action sends the preflight; the agent (and
the CLI) do, and without the right answer they fall back to KV v1 paths.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Served, TlsFiles
from tests.e2e.vault.conftest import KvServer, serve_kv
from tests.e2e.vault.replays.harness import replay_problems
from tests.e2e.vault.replays.replay import load

FIXTURE = "agent_template.json"


@pytest.fixture(scope="module")
def stacksafe_served(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """conftest's server, with lookup-self echoing the caller's token in ``id``
    (STACKSAFE_VAULT_ECHO_TOKEN): the Agent's token_file method takes its token from there."""
    yield from serve_kv(tls, tmp_path_factory, {"STACKSAFE_VAULT_ECHO_TOKEN": "1"})


@pytest.mark.parametrize("side", ["openbao", "stacksafe"])
def test_agent_flow_is_answered_as_openbao_answers_it(
    request: pytest.FixtureRequest, openbao: KvServer, side: str
) -> None:
    server = openbao if side == "openbao" else request.getfixturevalue("stacksafe_kv")
    found = replay_problems(server, FIXTURE)
    assert not found, "\n".join(found)


def test_the_fixture_holds_the_preflight_and_the_token_file_check() -> None:
    steps = {step["id"]: step for step in load(FIXTURE)["steps"]}
    preflight = steps["preflight-short-path"]
    assert preflight["request"]["path"] == "/v1/sys/internal/ui/mounts/{mount}/{path}"
    assert preflight["expect"]["json"]["/data/options/version"] == {"equals": "2"}
    # The agent uses lookup-self's data.id as its token: it must be the caller's token.
    lookup = steps["token-file-lookup-self"]["expect"]["json"]["/data/id"]
    assert lookup["equals"] == "{token}"
    assert all(step["recorded"]["status"] == 200 for step in steps.values())
