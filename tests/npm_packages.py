"""npm packages the tests drive (node-vault, oidc-provider) and the scanning benchmark runs
(secretlint and its preset), installed once per virtualenv with npm into
``.venv/node/<name>-<version>`` (out of git with the rest of ``.venv``). A test fails, not
skips, when npm cannot install one (.ci/run checks that node and npm exist)."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["INSTALL_TIMEOUT", "npm_package"]

INSTALL_TIMEOUT = 300


def _installed(prefix: Path, name: str, version: str) -> bool:
    manifest = prefix / "node_modules" / name / "package.json"
    if not manifest.exists():
        return False
    found: str = json.loads(manifest.read_text("utf-8")).get("version", "")
    return found == version


def npm_package(name: str, version: str, also: Sequence[tuple[str, str]] = ()) -> Path:
    """The ``node_modules`` folder holding ``name@version`` and the ``also`` packages (name,
    version) beside it, such as a plugin the package loads (installed now if they are not;
    xdist workers take turns)."""
    wanted = [(name, version), *also]
    for tool in ("node", "npm"):
        assert shutil.which(tool), f"{tool} is not installed (.ci/run installs it)"
    prefix = Path(sys.prefix) / "node" / f"{name}-{version}"
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f"{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one npm at a time into the same folder
        if not all(_installed(prefix, n, v) for n, v in wanted):
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", *(f"{n}@{v}" for n, v in wanted)],
                cwd=prefix,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
            assert done.returncode == 0, f"npm install {name} failed: {done.stderr[-2000:]}"
            for n, v in wanted:
                assert _installed(prefix, n, v), f"npm installed no {n} {v}"
    return prefix / "node_modules"
