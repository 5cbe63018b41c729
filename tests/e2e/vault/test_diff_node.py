"""node-vault (npm) against OpenBao and stacksafe: the same scenarios, the same observations.

node-vault is installed once per virtualenv with npm (tests/npm_packages.py:
``.venv/node/node-vault-<version>``, out of git with the rest of ``.venv``); the test fails, not
skips, if npm cannot install it (.ci/run checks that node and npm exist).
``node_vault_script.js`` runs one scenario against one server and prints what the library
returned or rejected with; this module normalises and compares.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.vault.conftest import KvPair, KvServer, Observed, observe
from tests.e2e.vault.observe import Normaliser, assert_same, lookup_shape
from tests.npm_packages import npm_package

NODE_VAULT_VERSION = "0.12.0"
SCRIPT = Path(__file__).with_name("node_vault_script.js")
RUN_TIMEOUT = 60


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """node-vault installed under the virtualenv (tests/npm_packages.py)."""
    return npm_package("node-vault", NODE_VAULT_VERSION)


def run_node(node_modules: Path, scenario: str, server: KvServer, path: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env |= {
        "NODE_PATH": str(node_modules),
        "KV_ENDPOINT": server.address,
        "KV_TOKEN": server.token,
        "KV_CA": str(server.ca) if server.ca is not None else "",
        "KV_MOUNT": server.mount,
        "KV_PATH": path,
    }
    done = subprocess.run(
        ["node", str(SCRIPT), scenario],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"node {SCRIPT.name} {scenario}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def scenario(node_modules: Path, name: str) -> Any:
    """The script function ``observe`` takes: scenario ``name``, normalised."""

    def script(server: KvServer, path: str) -> Observed:
        seen: Observed = Normaliser(server, path)(run_node(node_modules, name, server, path))
        return seen

    script.__qualname__ = f"scenario.{name}"  # observe's cache key for the reference run
    return script


def body(seen: Observed) -> Any:
    return seen["ok"]["data"]


def test_node_write_read_cas_update(kv_diff: KvPair, node_modules: Path) -> None:
    reference, target = observe(kv_diff, "node-kv", scenario(node_modules, "kv"))
    assert_same(reference, target)
    assert target["read_before"]["status"] == 404
    assert body(target["read_v1"])["data"] == {"A": "1", "B": "2"}
    assert (
        target["cas_stale"]["error"] == "check-and-set parameter did not match the current version"
    )
    assert body(target["update"])["version"] == 4
    assert body(target["read_after_update"])["data"] == {"A": "3", "C": "4"}
    assert target["update_cas_stale"]["status"] == 400
    assert target["update_before"]["status"] == 404


def list_script(node_modules: Path) -> Any:
    run = scenario(node_modules, "list")

    def script(server: KvServer, path: str) -> Observed:
        for leaf in ("a", "b", "deep/c"):
            server.prepare(f"{path}/{leaf}")
        seen: Observed = run(server, path)
        return seen

    script.__qualname__ = "list_script"
    return script


def test_node_list(kv_diff: KvPair, node_modules: Path) -> None:
    reference, target = observe(kv_diff, "node-list", list_script(node_modules), prepare=False)
    assert_same(reference, target)
    assert body(target["list"]) == {"keys": ["a", "b", "deep/"]}
    assert body(target["list_deep"]) == {"keys": ["c"]}
    assert target["list_missing"]["status"] == 404


def test_node_metadata(kv_diff: KvPair, node_modules: Path) -> None:
    reference, target = observe(kv_diff, "node-meta", scenario(node_modules, "metadata"))
    assert_same(reference, target)
    metadata = body(target["read_metadata"])
    assert metadata["max_versions"] == 4
    assert metadata["custom_metadata"] == {"owner": "team-a", "tier": "gold"}
    assert metadata["current_version"] == 3


def test_node_delete_undelete_destroy(kv_diff: KvPair, node_modules: Path) -> None:
    reference, target = observe(kv_diff, "node-del", scenario(node_modules, "delete"))
    assert_same(reference, target)
    assert target["read_v1"]["status"] == 404
    assert target["read_v1"]["body"]["data"]["metadata"]["deletion_time"] == "set"
    assert body(target["read_v1_back"])["data"] == {"A": "1"}
    assert target["read_deleted"]["body"]["data"]["metadata"]["version"] == 3
    assert body(target["read_back"])["data"] == {"A": "3"}
    assert target["read_destroyed"]["body"]["data"]["metadata"]["destroyed"] is True
    assert (
        target["destroy_nothing"]["error"] == "no version number provided"
    )  # OpenBao 2.7.2, lower case
    assert target["read_gone"] == {"error": "Status 404", "status": 404, "body": {"errors": []}}


def token_script(node_modules: Path) -> Any:
    def script(server: KvServer, path: str) -> Observed:
        seen = run_node(node_modules, "token", server, path)
        lookup = seen.pop("lookup_self")
        health = seen.pop("health")["ok"]
        norm = Normaliser(server, path)
        return {
            "lookup_shape": lookup_shape(lookup["ok"]["data"]) if "ok" in lookup else lookup,
            "health": {k: health.get(k, "missing") for k in ("initialized", "sealed", "standby")},
            **norm(seen),
        }

    script.__qualname__ = "token_script"
    return script


def test_node_token_and_health(kv_diff: KvPair, node_modules: Path) -> None:
    reference, target = observe(kv_diff, "node-token", token_script(node_modules))
    assert_same(reference, target)
    assert target["lookup_shape"]["fixed"]["type"] == "service"
    assert target["health"] == {"initialized": True, "sealed": False, "standby": False}
    assert target["stranger_lookup"]["status"] == 403
    assert target["stranger_read"]["error"] == "permission denied"
