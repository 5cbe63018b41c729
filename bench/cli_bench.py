"""Cold start of `stacksafe run`: from starting the command to exec of the child, against a local
server, compared in the same run with the interpreter's own floor (`python3 -c pass`).

A throwaway installation is served on a free loopback port (plain HTTP: loopback only) with a
stack of 50 own + 150 inherited secrets. Each round times, interleaved:

* **remote run**: `stacksafe run --stack web -- true` with STACKSAFE_ADDR/TOKEN set: start the
  interpreter, parse the command line, one HTTP request for the effective set, exec `true`;
* **floor**: `python3 -c pass` (the same venv interpreter);
* **local run**: the same command without a server (opens the database with the master key),
  for information.

Target (issue 5 and issue 7): remote run median under 0.3 s on this machine.

Run: ``.venv/bin/python bench/cli_bench.py`` (about 30 s).
"""

from __future__ import annotations

import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
# The repository root, for tests/openbao.py (where the bao binary is).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from results import emit
from tests import openbao

BIN = Path(sys.executable).parent
STACKSAFE = str(BIN / "stacksafe")
ROUNDS = 20
TARGET_SECONDS = 0.3
TARGET_VS_BAO = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [STACKSAFE, *args], env=env, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout


def seed(env: dict[str, str]) -> str:
    """init, acme/web with 50 own + 150 inherited secrets; the owner's first token."""
    out = cli(env, "init")
    token = re.search(r"ssk_\S+", out)
    assert token is not None, out
    cli(env, "accounts", "create", "acme")
    cli(env, "stacks", "create", "web", "--account", "acme", "--environment", "production")
    account = "".join(f"SHARED_{n}=account-value-{n:04d}-{'x' * 24}\n" for n in range(150))
    own = "".join(f"OWN_{n}=stack-value-{n:04d}-{'y' * 24}\n" for n in range(50))
    cli(env, "secrets", "import", "-", "--account", "acme", stdin=account)
    cli(env, "secrets", "import", "-", "--stack", "web", stdin=own)
    return token.group(0)


def wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not become healthy")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of one run, and its CPU seconds (user + sys, the child's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stacksafe-cli-bench-") as tmp:
        base = {k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")}
        local = {**base, "STACKSAFE_DATA_DIR": str(Path(tmp) / "data")}
        token = seed(local)
        port = free_port()
        server = subprocess.Popen(
            [STACKSAFE, "serve", "--port", str(port), "--rotation-interval", "0"],
            env=local,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(port, server)
            remote = {
                **base,
                "STACKSAFE_ADDR": f"http://127.0.0.1:{port}",
                "STACKSAFE_TOKEN": token,
                "STACKSAFE_DATA_DIR": str(Path(tmp) / "empty"),
            }
            # HOME: the bao CLI reads ~/.vault-token; an empty one keeps the user's out.
            bao_env = {
                **{k: v for k, v in base.items() if not k.startswith(("VAULT_", "BAO_"))},
                "BAO_ADDR": f"http://127.0.0.1:{port}",
                "BAO_TOKEN": token,
                "HOME": str(Path(tmp) / "bao-home"),
            }
            cases: dict[str, tuple[list[str], dict[str, str]]] = {
                "remote run": ([STACKSAFE, "run", "--stack", "web", "--", "true"], remote),
                "bao kv get": (
                    [str(openbao.bundled_binary()), "kv", "get", "-mount=secret", "acme/web"],
                    bao_env,
                ),
                "floor": ([sys.executable, "-c", "pass"], base),
                "local run": ([STACKSAFE, "run", "--stack", "web", "--", "true"], local),
            }
            for argv, env in cases.values():
                timed(argv, env)  # warm the OS page cache and the server
            times: dict[str, list[float]] = {name: [] for name in cases}
            cpu: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(ROUNDS):
                for name, (argv, env) in cases.items():
                    wall, used = timed(argv, env)
                    times[name].append(wall)
                    cpu[name].append(used)
        finally:
            server.terminate()
            server.wait(timeout=30)
    medians = {name: statistics.median(values) for name, values in times.items()}
    p90 = {name: sorted(values)[int(len(values) * 0.9)] for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"stacksafe run cold start, {ROUNDS} rounds, 200 secrets (50 own + 150 inherited)")
    print(f"{'case':<12} {'median':>9} {'p90':>9} {'CPU median':>11}")
    for name in times:
        print(f"{name:<12} {medians[name]:>8.3f}s {p90[name]:>8.3f}s {cpu_medians[name]:>10.3f}s")
    remote_median = medians["remote run"]
    print(
        f"remote run - floor: {remote_median - medians['floor']:.3f} s; "
        f"ratio floor/remote run: {medians['floor'] / remote_median:.3f}"
    )
    verdict = "met" if remote_median < TARGET_SECONDS else "NOT met"
    print(f"target remote run median < {TARGET_SECONDS:.1f} s: {verdict}")
    emit(
        "CLI: `stacksafe run --stack web -- true`, remote, median",
        measured=f"{remote_median:.3f} s (p90 {p90['remote run']:.3f} s)",
        baseline=f"python3 -c pass {medians['floor']:.3f} s",
        ratio=medians["floor"] / remote_median,
        target=f"< {TARGET_SECONDS:.1f} s absolute",
        passed=remote_median < TARGET_SECONDS,
    )
    bao_median = medians["bao kv get"]
    vs_bao = remote_median / bao_median
    cpu_vs_bao = cpu_medians["remote run"] / cpu_medians["bao kv get"]
    print(
        f"remote run / bao kv get: {vs_bao:.2f} wall, {cpu_vs_bao:.2f} CPU "
        f"(target wall <= {TARGET_VS_BAO:.1f}: {'met' if vs_bao <= TARGET_VS_BAO else 'NOT met'})"
    )
    emit(
        "CLI: `stacksafe run -- true` vs `bao kv get` (Go), same server, median wall",
        measured=(f"{remote_median:.3f} s (CPU {cpu_medians['remote run'] * 1000:.0f} ms)"),
        baseline=f"bao kv get {bao_median:.3f} s (CPU {cpu_medians['bao kv get'] * 1000:.0f} ms)",
        ratio=vs_bao,
        target=f"run / bao <= {TARGET_VS_BAO:.1f}",
        passed=vs_bao <= TARGET_VS_BAO,
    )


if __name__ == "__main__":
    main()
