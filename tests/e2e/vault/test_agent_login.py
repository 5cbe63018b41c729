"""A real Vault Agent (OpenBao's ``bao agent``) logs in to stacksafe with a Kubernetes
service-account token (``auto_auth`` method ``kubernetes``, and method ``jwt``) and renders a
template from the token it got (issue 19): no stacksafe token is given to it at all."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Served, TlsFiles
from tests.e2e.vault.conftest import BAO, serve_kv
from tests.jwt_issuer import CLUSTER, Issuer, kubernetes_claims, trust_cluster

# Agent's template: the stack's WEB_KEY, read through the KV v2 API (quotes escaped for HCL).
TEMPLATE = '{{ with secret \\"secret/data/acme/web\\" }}{{ .Data.data.WEB_KEY }}{{ end }}'


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def agent_served(
    issuer: Issuer, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    for served in serve_kv(tls, tmp_path_factory):
        cli = served.local.in_process()
        trust_cluster(cli, issuer, tmp_path_factory.mktemp("jwks"), {"shop-web": "15m"})
        cli.ok("secrets", "set", "WEB_KEY=from-stacksafe", "--stack", "web", "--account", "acme")
        yield served


@pytest.mark.parametrize(
    ("method", "token_option"), [("kubernetes", "token_path"), ("jwt", "path")]
)
def test_agent_auto_auth_logs_in_and_renders(
    agent_served: Served, issuer: Issuer, tmp_path: Path, method: str, token_option: str
) -> None:
    token_file = tmp_path / "sa-token"
    token_file.write_text(issuer.sign(kubernetes_claims(CLUSTER)))
    rendered = tmp_path / "rendered"
    sink = tmp_path / "sink"
    config = tmp_path / "agent.hcl"
    config.write_text(
        f"""
vault {{
  address = "{agent_served.address}"
  ca_cert = "{agent_served.ca}"
}}
auto_auth {{
  method "{method}" {{
    mount_path = "auth/{method}"
    config = {{
      role = "shop-web"
      {token_option} = "{token_file}"
    }}
  }}
  sink "file" {{
    config = {{ path = "{sink}" }}
  }}
}}
template {{
  contents    = "{TEMPLATE}"
  destination = "{rendered}"
}}
"""
    )
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen(
        [str(BAO), "agent", f"-config={config}"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while not (rendered.exists() and rendered.read_text()):
            assert agent.poll() is None, (tmp_path / "agent.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "agent.log").read_text()[-3000:]
            time.sleep(0.1)
        assert rendered.read_text() == "from-stacksafe"
        assert sink.read_text().startswith("ssk_")
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        log.close()
