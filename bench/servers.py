"""Server software: stacksafe's app and a bare ceiling app under uvicorn and under granian.

Which ASGI server should `stacksafe serve` run? Both serve the same two apps here, one worker
each, in the same run, driven one at a time by ``wrk -t2 -c32 --latency`` in rotating order:

* **stacksafe**: ``stacksafe.api.app:app_from_environment`` (the factory `stacksafe serve`
  gives uvicorn, with the same ``STACKSAFE_*`` settings it sets) answering
  ``GET /api/3/stacks/{uid}/secrets?reveal=true&per_page=1000``: token, reveal of 200 secrets,
  one durable audit event per request.
* **ceiling**: a bare Starlette route returning the same response bytes from memory (what the
  server and framework cost alone, as api_bench.py's (a)).

uvicorn as `stacksafe serve` runs it (``--factory``, httptools and uvloop as installed with
``uvicorn[standard]``, log level warning, no access log, no server header); granian 2 with
``--interface asgi --factory``, one worker, its defaults otherwise (one runtime thread, its
event loop choice ``auto``: uvloop), ``--no-ws``, log level warning. Both apps start once per
server and stay up for the whole run.

Reported: requests/s, p50 and p99 per (app, server) as medians over rounds, and
``ratio = granian req/s / uvicorn req/s`` per app (median of per-round ratios): above 1,
granian is faster. No target: this chooses the server. Needs ``wrk`` and granian (``pip
install -e '.[bench]'``); without granian it says so and measures uvicorn only.

Run: ``.venv/bin/python bench/servers.py`` (about 90 s; ``--rounds``, ``--duration``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import api_bench
from results import emit

HOST = api_bench.HOST
BIN = Path(sys.executable).parent


@dataclass
class Running:
    app: str
    server: str
    port: int
    process: subprocess.Popen[bytes]


@dataclass
class Wrk:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str


def _argv(server: str, target: str, factory: bool, port: int, app_dir: Path) -> list[str]:
    if server == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", target, "--host", HOST, "--port", str(port)),
            *("--workers", "1", "--log-level", "warning", "--no-access-log"),
            *("--no-server-header", "--no-proxy-headers", "--app-dir", str(app_dir)),
            *(["--factory"] if factory else []),
        ]
    return [
        *(str(BIN / "granian"), "--interface", "asgi", "--host", HOST, "--port", str(port)),
        *("--workers", "1", "--no-ws", "--log-level", "warning", "--no-access-log"),
        *("--working-dir", str(app_dir)),
        *(["--factory"] if factory else []),
        target,
    ]


def _start(
    app: str, server: str, target: str, factory: bool, env: dict[str, str], work: Path, probe: str
) -> Running:
    port = api_bench._free_port()
    log = work / f"{app}-{server}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            _argv(server, target, factory, port, work),
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # granian forks a worker: stop the whole group
        )
    running = Running(app, server, port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            api_bench._get(port, probe, {})
            return running
        except OSError:
            time.sleep(0.1)
    _stop(running)
    sys.exit(f"{app} on {server} did not start; its log:\n{log.read_text()[-3000:]}")


def _stop(running: Running) -> None:
    if running.process.poll() is None:
        os.killpg(running.process.pid, signal.SIGINT)
        try:
            running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(timeout=5)


def _wrk(url: str, token: str, duration: int) -> Wrk:
    done = api_bench._wrk(url, duration, token)
    errors = ", ".join(
        e
        for e in (
            f"{done.non_2xx} non-2xx" if done.non_2xx else "",
            "" if done.socket_errors == "none" else done.socket_errors,
        )
        if e
    )
    return Wrk(done.rps, done.p50_ms, done.p99_ms, errors or "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)")
    servers = ["uvicorn", "granian"] if (BIN / "granian").exists() else ["uvicorn"]
    started = time.perf_counter()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")}
    results: dict[tuple[str, str], list[Wrk]] = {}
    with tempfile.TemporaryDirectory(prefix="stacksafe-servers-") as tmp:
        work = Path(tmp)
        inst = api_bench._install(work / "data")
        token, stack_uid = inst.token, inst.stack_uid
        path = f"/api/3/stacks/{stack_uid}/secrets?reveal=true&per_page=1000"
        (work / "servers_ceiling.py").write_text(textwrap.dedent(api_bench.CEILING_MODULE))
        body_file = work / "body.json"
        stacksafe_env = {
            **base_env,
            # What `stacksafe serve` sets for its workers (cli/serve_cmd.py).
            "STACKSAFE_DATA_DIR": str(work / "data"),
            "STACKSAFE_RATE_LIMIT": str(10**9),
            "STACKSAFE_THREADS": "",
            "STACKSAFE_ROTATION_INTERVAL": "0",
        }
        ceiling_env = {**base_env, "API_BENCH_BODY": str(body_file)}
        running: list[Running] = []
        try:
            for server in servers:
                real = _start(
                    "stacksafe",
                    server,
                    "stacksafe.api.app:app_from_environment",
                    True,
                    stacksafe_env,
                    work,
                    "/healthz",
                )
                running.append(real)
                status, body = api_bench._get(real.port, path, {"Authorization": f"Bearer {token}"})
                if status != 200 or body.count(b'"raw_value"') != 200:
                    sys.exit(f"stacksafe on {server} answered {status}: {body[:300]!r}")
                if not body_file.exists():
                    body_file.write_bytes(body)
            for server in servers:
                running.append(
                    _start("ceiling", server, "servers_ceiling:app", False, ceiling_env, work, path)
                )
            for round_no in range(args.rounds):
                shift = round_no % len(running)
                for r in running[shift:] + running[:shift]:
                    url = f"http://{HOST}:{r.port}{path}"
                    results.setdefault((r.app, r.server), []).append(
                        _wrk(url, token, args.duration)
                    )
        finally:
            for r in running:
                _stop(r)
    _report(args, servers, results, started)


def _report(
    args: argparse.Namespace,
    servers: list[str],
    results: dict[tuple[str, str], list[Wrk]],
    started: float,
) -> None:
    med = statistics.median
    print("# uvicorn vs granian\n")
    print(
        f"One worker each; `wrk -t2 -c32 -d{args.duration}s --latency`, {args.rounds} round(s) "
        "in rotating order, medians. The stacksafe rows reveal 200 secrets with an audit event "
        "per request; the ceiling rows return the same bytes from memory.\n"
    )
    print("| app | server | req/s | p50 | p99 | errors |")
    print("|---|---|---:|---:|---:|---|")
    for (app, server), runs in results.items():
        print(
            f"| {app} | {server} | {med(r.rps for r in runs):,.0f} "
            f"| {med(r.p50_ms for r in runs):.2f} ms | {med(r.p99_ms for r in runs):.2f} ms "
            f"| {'; '.join(sorted({r.errors for r in runs}))} |"
        )
    if "granian" not in servers:
        print("\n(granian is not installed: `pip install -e '.[bench]'`)")
        return
    print()
    for app in ("stacksafe", "ceiling"):
        pairs = zip(results[(app, "granian")], results[(app, "uvicorn")], strict=True)
        ratio = med(g.rps / u.rps for g, u in pairs)
        print(f"ratio granian / uvicorn, {app}: {ratio:.2f} (req/s, median of per-round ratios)")
        g_p99 = med(r.p99_ms for r in results[(app, "granian")])
        u_p99 = med(r.p99_ms for r in results[(app, "uvicorn")])
        emit(
            f"server software: {app} app, granian vs uvicorn (1 worker)",
            measured=f"granian {med(r.rps for r in results[(app, 'granian')]):,.0f} req/s, "
            f"p99 {g_p99:.1f} ms",
            baseline=f"uvicorn {med(r.rps for r in results[(app, 'uvicorn')]):,.0f} req/s, "
            f"p99 {u_p99:.1f} ms",
            ratio=ratio,
            target="none (chooses the server)",
        )
    print(f"\n(total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
