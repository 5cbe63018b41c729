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
import http.client
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from stacksafe.core.access import Principal
from stacksafe.core.principals import bootstrap_owner, create_token
from stacksafe.core.secrets import import_secrets
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.core.vault import initialise
from stacksafe.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from results import emit
from reveal_bench import _values

HOST = "127.0.0.1"
OWNER = "servers@example.com"
BIN = Path(sys.executable).parent
CEILING = """
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(os.environ["SERVERS_BENCH_BODY"]).read_bytes()


async def secrets(request):
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/api/3/stacks/{stack_uid}/secrets", secrets)])
"""


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


def _install(data_dir: Path) -> tuple[str, str]:
    vault, _ = initialise(Settings.load({}, data_dir=data_dir))
    try:
        local = Principal.local("servers-bench")
        bootstrap_owner(vault, OWNER)
        token = create_token(vault, local, OWNER, scopes=["public", "admin"]).token
        account = create_account(vault, local, "bench-account")
        stack = create_stack(vault, local, "bench-account", "web", "production")
        rng = random.Random(20240515)
        import_secrets(vault, local, Target(account), _values(rng, "ACCOUNT_SECRET", 150))
        import_secrets(vault, local, Target(account, stack), _values(rng, "STACK_SECRET", 50))
    finally:
        vault.close()
    return token, stack.uid


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, path: str, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


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
    port = _free_port()
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
            _get(port, probe, "")
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


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(found.group(1)) * _UNIT_MS[found.group(2)]


def _wrk(url: str, token: str, duration: int) -> Wrk:
    argv = [
        *("wrk", "-t2", "-c32", f"-d{duration}s", "--latency", "--timeout", "20s"),
        *("-H", f"Authorization: Bearer {token}", url),
    ]
    out = subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=duration + 30
    ).stdout

    def find(pattern: str) -> str:
        found = re.search(pattern, out, re.MULTILINE)
        if found is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{out}")
        return found.group(1)

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.MULTILINE)
    errors = ", ".join(
        e
        for e in (
            f"{non_2xx.group(1)} non-2xx" if non_2xx else "",
            socket_errors.group(1).strip() if socket_errors else "",
        )
        if e
    )
    return Wrk(
        float(find(r"^Requests/sec:\s+([\d.]+)")),
        _ms(find(r"^\s+50%\s+(\S+)")),
        _ms(find(r"^\s+99%\s+(\S+)")),
        errors or "none",
    )


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
        token, stack_uid = _install(work / "data")
        path = f"/api/3/stacks/{stack_uid}/secrets?reveal=true&per_page=1000"
        (work / "servers_ceiling.py").write_text(CEILING)
        body_file = work / "body.json"
        stacksafe_env = {
            **base_env,
            # What `stacksafe serve` sets for its workers (cli/serve_cmd.py).
            "STACKSAFE_DATA_DIR": str(work / "data"),
            "STACKSAFE_RATE_LIMIT": str(10**9),
            "STACKSAFE_THREADS": "",
            "STACKSAFE_ROTATION_INTERVAL": "0",
        }
        ceiling_env = {**base_env, "SERVERS_BENCH_BODY": str(body_file)}
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
                status, body = _get(real.port, path, token)
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
