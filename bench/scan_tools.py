"""Running stacksafe and each peer over a directory tree, each as its command-line tool with its
recommended defaults, and reading its JSON report into findings (path, lines, rule).

Every tool runs with the tree as its working directory (detect-secrets scans nothing outside
it), so reported paths are relative to the tree (secretlint's absolute ones are made so).
Reports go to a temporary file or a pipe and are read here only for paths, lines and rule ids:
no matched text is printed (CredSweeper prints its findings, values included, on stdout, which
is discarded).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scan_peers import Peer

__all__ = ["TOOLS", "Found", "Run", "children_cpu", "run_tool"]

TIMEOUT = 1800


@dataclass(frozen=True, slots=True)
class Found:
    """A finding: ``path`` relative to the scanned tree, lines ``first``..``last``."""

    path: str
    first: int
    last: int
    rule: str


@dataclass(frozen=True, slots=True)
class Run:
    """Wall seconds, CPU seconds (user + system of the tool and every process it waited for:
    git under ``gitleaks git``, worker processes), findings."""

    seconds: float
    findings: list[Found]
    cpu: float = 0.0


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children so far (user + system)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _run(command: list[str], cwd: Path, ok: tuple[int, ...]) -> tuple[float, float, bytes]:
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, timeout=TIMEOUT, check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode not in ok:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{command[0]} exited {done.returncode}: {' / '.join(tail)}")
    return seconds, cpu, done.stdout


def run_stacksafe(peer: Peer | None, tree: Path, git: bool = False) -> Run:
    """``stacksafe scan --no-known-values``: the pattern detector alone."""
    assert peer is not None
    command = [*peer.command, "scan", "--no-known-values", "--format", "json"]
    seconds, cpu, out = _run([*command, *(["--git"] if git else []), "."], tree, (0, 1))
    found = [Found(f["path"], f["line"], f["line"], f["rule"]) for f in json.loads(out)["findings"]]
    return Run(seconds, found, cpu)


def run_gitleaks(peer: Peer | None, tree: Path, git: bool = False) -> Run:
    assert peer is not None
    with tempfile.TemporaryDirectory(prefix="bench-report-") as temporary:
        report = Path(temporary) / "gitleaks.json"
        mode = ["git"] if git else ["dir"]
        seconds, cpu, _ = _run(
            [*peer.command, *mode, ".", "--report-format", "json", "--report-path", str(report),
             "--no-banner", "--exit-code", "0", "--log-level", "error"],
            tree, (0,),
        )  # fmt: skip
        raw = json.loads(report.read_text("utf-8"))
    found = [Found(f["File"], f["StartLine"], f["EndLine"], f["RuleID"]) for f in raw]
    return Run(seconds, found, cpu)


def run_detect_secrets(peer: Peer | None, tree: Path, git: bool = False) -> Run:
    assert peer is not None
    assert not git
    seconds, cpu, out = _run([*peer.command, "scan", "--all-files", "."], tree, (0,))
    results = json.loads(out)["results"]
    found = [
        Found(path, f["line_number"], f["line_number"], f["type"])
        for path, findings in results.items()
        for f in findings
    ]
    return Run(seconds, found, cpu)


def run_credsweeper(peer: Peer | None, tree: Path, git: bool = False) -> Run:
    assert peer is not None
    assert not git
    with tempfile.TemporaryDirectory(prefix="bench-report-") as temporary:
        report = Path(temporary) / "credsweeper.json"
        seconds, cpu, _ = _run(
            [*peer.command, "--path", ".", "--save-json", str(report)], tree, (0,)
        )
        raw = json.loads(report.read_text("utf-8"))
    found = [
        Found(line["path"], line["line_num"], line["line_num"], f["rule"])
        for f in raw
        for line in f["line_data_list"][:1]  # the first line names where the credential is
    ]
    return Run(seconds, found, cpu)


def run_secretlint(peer: Peer | None, tree: Path, git: bool = False) -> Run:
    assert peer is not None
    assert not git
    seconds, cpu, out = _run([*peer.command, "**/*", "--format", "json"], tree, (0, 1))
    found = [
        Found(
            os.path.relpath(result["filePath"], tree),
            message["loc"]["start"]["line"],
            message["loc"]["end"]["line"],
            message["ruleId"],
        )
        for result in json.loads(out)
        for message in result["messages"]
    ]
    return Run(seconds, found, cpu)


# name -> the function that runs it; the peer (command, version) comes from scan_peers.
TOOLS: dict[str, Callable[[Peer | None, Path, bool], Run]] = {
    "stacksafe": run_stacksafe,
    "gitleaks": run_gitleaks,
    "detect-secrets": run_detect_secrets,
    "CredSweeper": run_credsweeper,
    "secretlint": run_secretlint,
}


def run_tool(name: str, peer: Peer | None, tree: Path, git: bool = False) -> Run:
    return TOOLS[name](peer, tree, git)
