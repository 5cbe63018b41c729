"""oidc-provider (npm) started by the tests on loopback: a real OpenID provider, one client,
users from a JSON file the test rewrites between sign-ins (their groups, say)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.npm_packages import npm_package

__all__ = ["OIDC_PROVIDER_VERSION", "RunningProvider", "running_provider"]

OIDC_PROVIDER_VERSION = "9.13.3"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
START_TIMEOUT = 30


@dataclass
class RunningProvider:
    issuer: str
    client_id: str
    users_file: Path

    def set_users(self, users: Mapping[str, Mapping[str, Any]]) -> None:
        """Who may sign in at the provider (login name -> claims), from the next sign-in."""
        self.users_file.write_text(json.dumps(users), "utf-8")


@contextmanager
def running_provider(
    workdir: Path,
    *,
    redirect_uri: str,
    client_id: str,
    client_secret: str,
    users: Mapping[str, Mapping[str, Any]],
) -> Iterator[RunningProvider]:
    modules = npm_package("oidc-provider", OIDC_PROVIDER_VERSION)
    users_file = workdir / "users.json"
    running = RunningProvider("", client_id, users_file)
    running.set_users(users)
    env = {
        **os.environ,
        "OIDC_MODULES": str(modules),
        "USERS_FILE": str(users_file),
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": client_secret,
        "REDIRECT_URI": redirect_uri,
        "NODE_ENV": "test",
    }
    log = (workdir / "provider.log").open("w")
    process = subprocess.Popen(
        ["node", str(SCRIPT)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until it listens (or exits)
        assert first, f"oidc-provider did not start: {(workdir / 'provider.log').read_text()}"
        running.issuer = json.loads(first)["issuer"]
        yield running
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()
