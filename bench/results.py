"""Result lines for `make bench`, and the runner that turns them into bench/RESULTS.md.

The protocol, for every script in bench/: besides its Markdown report, a script calls
``emit(...)`` once per headline figure. That prints one line, ``BENCH-RESULT {json}``, to
stdout. The runner (``python bench/results.py``) runs each script as a subprocess, shows its
output live, collects the result lines (and strips them from the output it keeps), and writes
``bench/RESULTS.md``: the machine and the date, one summary table (benchmark | measured |
baseline | ratio | target | verdict) and each script's full output. A script run on its own just
prints the lines among its report. Scripts always exit 0 when a target is missed (FAIL in the
table); a script that crashes shows as ERROR with its exit status.

For the PostgreSQL parts, the runner starts one throwaway cluster (``tests.postgres``) and passes
its server URL in ``STACKSAFE_BENCH_PG_URL`` to every script (``--no-pg``: SQLite only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["PREFIX", "emit"]

PREFIX = "BENCH-RESULT "
PG_ENV = "STACKSAFE_BENCH_PG_URL"
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# In the order `make bench` runs them (the long, noisy HTTP ones last).
SCRIPTS = (
    "crypto_bench.py",
    "reveal_bench.py",
    "single_bench.py",
    "keys.py",
    "import_bench.py",
    "scale.py",
    "cli_bench.py",
    "start_bench.py",
    "scan.py",
    "scan_quality.py",
    "scan_speed.py",
    "api_bench.py",
    "peer_bench.py",
    "scale_out.py",
    "server_cpu.py",
    "app_cpu.py",
    "servers.py",
    "soak.py",
    "stalled_sink.py",
)
# The arguments `make bench` gives a script (none unless named here).
ARGUMENTS = {
    # The one-secret reveal, with the 200-secret list as its baseline (both rows and the ratio).
    "server_cpu.py": ("--task", "reveal-one"),
}


def emit(
    benchmark: str,
    *,
    measured: str,
    baseline: str = "",
    ratio: float | None = None,
    target: str = "",
    passed: bool | None = None,
) -> None:
    """Print one result line for the summary table.

    ``measured`` and ``baseline`` are shown as given (with their units); ``ratio`` is the
    figure the target is about; ``passed`` None means there is no target (information only).
    """
    line = {
        "benchmark": benchmark,
        "measured": measured,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "passed": passed,
    }
    print(PREFIX + json.dumps(line), flush=True)


@dataclass
class ScriptRun:
    script: str
    returncode: int
    seconds: float
    output: str
    results: list[dict[str, object]]


def _run_script(script: str, env: dict[str, str], timeout: float) -> ScriptRun:
    """Run one script, echoing its output as it comes; result lines are collected, not kept."""
    print(f"\n===== {script} =====", flush=True)
    started = time.perf_counter()
    kept: list[str] = []
    results: list[dict[str, object]] = []
    process = subprocess.Popen(
        [sys.executable, str(BENCH / script), *ARGUMENTS.get(script, ())],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    watchdog = threading.Timer(timeout, process.kill)  # a hung script must not hang the run
    watchdog.start()
    for line in process.stdout:
        if line.startswith(PREFIX):
            try:
                results.append(json.loads(line[len(PREFIX) :]))
            except json.JSONDecodeError:
                kept.append(line)
            continue
        sys.stdout.write(line)
        sys.stdout.flush()
        kept.append(line)
    returncode = process.wait()
    if not watchdog.is_alive() and returncode < 0:
        kept.append(f"\n(killed after {timeout:.0f} s)\n")
    watchdog.cancel()
    return ScriptRun(script, returncode, time.perf_counter() - started, "".join(kept), results)


def _first(path: str, pattern: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError:
        return "?"
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1).strip() if found else "?"


def _postgres_version(pg_url: str | None) -> str:
    if not pg_url:
        return "not run"
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(pg_url)
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
        return f"{version} (throwaway cluster, fsync=off)"
    except Exception as exc:  # report, do not fail the run
        return f"? ({type(exc).__name__})"


def machine(pg_url: str | None) -> list[tuple[str, str]]:
    ram_kb = _first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    ram = f"{int(ram_kb) / 1024 / 1024:.1f} GiB" if ram_kb.isdigit() else "?"
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", _first("/proc/cpuinfo", r"^model name\s*:\s*(.*)$")),
        ("cores", str(os.cpu_count())),
        ("RAM", ram),
        ("kernel", platform.release()),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", _postgres_version(pg_url)),
        ("load average at start", " ".join(_first("/proc/loadavg", r"^(\S+ \S+ \S+)").split())),
    ]


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _verdict(result: dict[str, object]) -> str:
    passed = result.get("passed")
    return "info" if passed is None else ("PASS" if passed else "**FAIL**")


def _section(output: str) -> str:
    """A script's output for the Markdown file: its headings one level down, plain text fenced."""
    lines = output.strip("\n").splitlines()
    if not any(line.startswith(("#", "|")) for line in lines):
        return "```\n" + "\n".join(lines) + "\n```"
    return "\n".join("##" + line if line.startswith("#") else line for line in lines)


def render(runs: Sequence[ScriptRun], facts: Sequence[tuple[str, str]], started: float) -> str:
    out = ["# stacksafe benchmark results", ""]
    out.append(
        "Written by `make bench` (`bench/results.py`); do not edit by hand. Each benchmark "
        "measures stacksafe and its baseline in the same run, interleaved, and the ratio is "
        "the figure to read: absolute times drift on a shared machine. bench/README.md says "
        "what each one measures."
    )
    out += ["", "| machine | |", "|---|---|"]
    out += [f"| {name} | {_cell(value)} |" for name, value in facts]
    total = time.perf_counter() - started
    out += [f"| wall time of the whole run | {total / 60:.1f} min |", ""]
    out += ["## Summary", ""]
    out += ["| benchmark | measured | baseline | ratio | target | verdict |"]
    out += ["|---|---:|---:|---:|---|---|"]
    for run in runs:
        for r in run.results:
            ratio = r.get("ratio")
            ratio_text = (
                ""
                if not isinstance(ratio, int | float)
                else f"{ratio:.2f}"
                if ratio >= 0.1
                else f"{ratio:.3f}"
            )
            out.append(
                f"| {_cell(r['benchmark'])} | {_cell(r['measured'])} | {_cell(r['baseline'])} "
                f"| {ratio_text} | {_cell(r['target'])} | {_verdict(r)} |"
            )
        if run.returncode != 0:
            out.append(f"| {run.script} | exit status {run.returncode} | | | | **ERROR** |")
        elif not run.results:
            out.append(f"| {run.script} | (no result lines) | | | | see below |")
    out += ["", "| script | wall time | exit |", "|---|---:|---:|"]
    out += [f"| `{r.script}` | {r.seconds:.0f} s | {r.returncode} |" for r in runs]
    for run in runs:
        out += ["", f"## {run.script}", "", _section(run.output)]
    return "\n".join(out) + "\n"


@contextmanager
def _postgres(enabled: bool) -> Iterator[str | None]:
    if not enabled:
        yield None
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres import throwaway_cluster

    with throwaway_cluster() as cluster:
        yield cluster.url("postgres")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks; write bench/RESULTS.md.")
    parser.add_argument("--only", help="comma-separated script names (default: all)")
    parser.add_argument("--no-pg", action="store_true", help="no PostgreSQL cluster")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per script")
    args = parser.parse_args(argv)
    chosen = SCRIPTS if not args.only else tuple(args.only.split(","))
    started = time.perf_counter()
    with ExitStack() as stack:
        pg_url = stack.enter_context(_postgres(not args.no_pg))
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")}
        env["PYTHONUNBUFFERED"] = "1"
        if pg_url:
            env[PG_ENV] = pg_url
        facts = machine(pg_url)
        runs = [_run_script(script, env, args.timeout) for script in chosen]
    args.output.write_text(render(runs, facts, started))
    failed = sum(1 for run in runs for r in run.results if r.get("passed") is False)
    errors = [run.script for run in runs if run.returncode != 0]
    print(
        f"\nwrote {args.output} ({sum(len(r.results) for r in runs)} results, {failed} FAIL, "
        f"errors: {', '.join(errors) or 'none'}; {(time.perf_counter() - started) / 60:.1f} min)"
    )


if __name__ == "__main__":
    main()
