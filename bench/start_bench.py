"""What a `stacksafe` process costs to start: CPU (user + sys) until it is done or serving.

A throwaway SQLite installation (an account, a stack of two secrets) is made and served on a free
loopback port. Each round runs, interleaved:

* ``stacksafe --help`` (builds every top-level command);
* ``stacksafe accounts list`` in local mode on the SQLite installation;
* ``stacksafe secrets list --stack web`` in remote mode against the server;
* ``stacksafe serve`` until ``/healthz`` answers 200: the CPU of the server process at that
  moment (``/proc/PID/stat``), so its shutdown is not counted;
* the floor, ``python -c pass`` (the same interpreter).

``--before SRC`` runs every case a second time with ``PYTHONPATH=SRC`` (e.g. ``git archive main
src`` unpacked somewhere): the same venv, the code before a change, interleaved with the code
after it in the same rounds. Medians of ``--rounds`` (5) rounds. Information only: no target.

Run: ``.venv/bin/python bench/start_bench.py [--before /tmp/before/src]`` (about 30 s a variant).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cli_bench import STACKSAFE, cli, free_port
from results import emit

SERVE_CASE = "serve until /healthz"


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def cpu_of(argv: list[str], env: Mapping[str, str]) -> float:
    """CPU seconds (user + sys) of one run to its exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def serving(env: Mapping[str, str], port: int) -> subprocess.Popen[bytes]:
    """`stacksafe serve` on ``port``, once /healthz answers."""
    server = subprocess.Popen(
        [STACKSAFE, "serve", "--port", str(port), "--rotation-interval", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not healthy(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("the server did not become healthy")
        time.sleep(0.01)
    return server


def serve_cpu(env: Mapping[str, str]) -> float:
    """CPU seconds of `stacksafe serve` from its start until /healthz first answers."""
    server = serving(env, free_port())
    try:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a checkout's src/ to compare with (PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STACKSAFE_", "COVERAGE_"))}
    variants: dict[str, dict[str, str]] = {"after" if args.before else "this checkout": {}}
    if args.before:
        variants["before"] = {"PYTHONPATH": args.before}
    with tempfile.TemporaryDirectory(prefix="stacksafe-start-bench-") as tmp:
        local = {**base, "STACKSAFE_DATA_DIR": f"{tmp}/data"}
        found = re.search(r"ssk_\S+", cli(local, "init"))
        assert found is not None
        cli(local, "accounts", "create", "acme")
        cli(local, "stacks", "create", "web", "--account", "acme", "--environment", "production")
        cli(local, "secrets", "import", "-", "--stack", "web", stdin="A=1\nB=2\n")
        port = free_port()
        server = serving(local, port)
        try:
            remote = {
                **base,
                "STACKSAFE_ADDR": f"http://127.0.0.1:{port}",
                "STACKSAFE_TOKEN": found.group(0),
                "STACKSAFE_DATA_DIR": f"{tmp}/empty",
            }
            cases: dict[str, tuple[list[str], dict[str, str]]] = {
                "stacksafe --help": ([STACKSAFE, "--help"], local),
                "local accounts list (SQLite)": ([STACKSAFE, "accounts", "list"], local),
                "remote secrets list": ([STACKSAFE, "secrets", "list", "--stack", "web"], remote),
            }
            cpu: dict[tuple[str, str], list[float]] = {}
            floor: list[float] = []
            for _ in range(args.rounds):
                floor.append(cpu_of([sys.executable, "-c", "pass"], base))
                for variant, extra in variants.items():
                    for case, (argv, env) in cases.items():
                        cpu.setdefault((variant, case), []).append(cpu_of(argv, {**env, **extra}))
                    cpu.setdefault((variant, SERVE_CASE), []).append(serve_cpu({**local, **extra}))
        finally:
            server.terminate()
            server.wait(30)
    print(f"CPU (user + sys), median of {args.rounds} rounds; load {os.getloadavg()[0]:.1f}")
    print(f"{'case':<30}" + "".join(f"{variant:>16}" for variant in variants))
    print(f"{'python -c pass':<30}{statistics.median(floor):>15.3f}s")
    for case in [*cases, SERVE_CASE]:
        medians = [statistics.median(cpu[variant, case]) for variant in variants]
        print(f"{case:<30}" + "".join(f"{median:>15.3f}s" for median in medians))
        emit(
            f"Start-up CPU: {case}, median",
            measured=" / ".join(f"{v} {m:.3f} s" for v, m in zip(variants, medians, strict=True)),
            baseline=f"python -c pass {statistics.median(floor):.3f} s",
            ratio=medians[0] / medians[1] if len(medians) == 2 else None,
            target="information (after / before)" if len(medians) == 2 else "information",
        )


if __name__ == "__main__":
    main()
