"""Server CPU per request on the hot read, for profiling: what a change saves, whatever the load.

Requests per second on a shared 2-core machine move with whatever else runs; the CPU time the
server process spends per request moves much less. This starts ``stacksafe serve`` on the
installation api_bench.py builds (a stack with 50 own and 150 inherited secrets, an owner's
token), drives ``GET /api/3/stacks/{uid}/secrets?reveal=true&per_page=1000`` with
``wrk -t2 -c32`` and reads the server's user and system CPU time from ``/proc/PID/stat`` before
and after each run: milliseconds of CPU per answered request (medians over runs).

``--src DIR`` runs the server from another checkout's ``src`` (``git worktree add /tmp/old
<commit>``, then ``--src /tmp/old/src``), so before and after of a change are measured in one
go: ``--src`` runs alternate with runs of this checkout. ``--py-spy FILE`` records the last run
of this checkout (on PostgreSQL when it is measured) with py-spy (``--gil``: only threads holding
the GIL, i.e. Python work) as collapsed stacks.

``--vault`` measures the Vault face's hot read of the same stack instead
(``GET /v1/secret/data/bench-account/web``, answered at hand like the native list).

``--pg`` (or ``STACKSAFE_BENCH_PG_URL`` set, as ``make bench`` does) serves each checkout from
PostgreSQL as well, in turns with SQLite, and reports PostgreSQL's CPU per request against
SQLite's (issue 21's target: at most 1.5 times): a database per checkout on the server of
``STACKSAFE_BENCH_PG_URL``, else on a throwaway cluster started here (tests/postgres.py) with
``fsync`` turned on, as in production (the tests' clusters run without).

Run: ``.venv/bin/python bench/server_cpu.py [--runs 3] [--duration 8] [--src DIR] [--vault]
[--pg]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import api_bench
from proc_cpu import cpu_ms as _cpu_ms
from results import ROOT, emit
from reveal_bench import PG_ENV, _pg_database

# PostgreSQL's CPU per request at most this many times SQLite's (issue 21, target 4).
PG_TARGET = 1.5


@dataclass(frozen=True)
class Sample:
    requests: int
    user_ms: float
    system_ms: float
    loop_ms: float  # the main thread's user + system: the event loop's share

    @property
    def per_request(self) -> tuple[float, float]:
        return self.user_ms / self.requests, self.system_ms / self.requests


def _run(port: int, path: str, token: str, duration: int, pid: int, spy: Path | None) -> Sample:
    url = f"http://{api_bench.HOST}:{port}{path}"
    auth = f"Authorization: Bearer {token}"
    # Warm up: the level is opened and kept, the token's principal too.
    subprocess.run(["wrk", "-t2", "-c32", "-d2s", "-H", auth, url], capture_output=True, check=True)
    recorder = None
    if spy is not None:
        py_spy = Path(sys.executable).parent / "py-spy"
        recorder = subprocess.Popen(
            [
                *(str(py_spy), "record", "-p", str(pid), "-d", str(duration), "-r", "200"),
                *("--gil", "--nonblocking", "-f", "raw", "-o", str(spy)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    user0, system0 = _cpu_ms(pid)
    loop0 = sum(_cpu_ms(pid, pid))
    done = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}s", "--timeout", "20s", "-H", auth, url],
        capture_output=True,
        text=True,
        check=True,
    )
    user1, system1 = _cpu_ms(pid)
    loop1 = sum(_cpu_ms(pid, pid))
    if recorder is not None:
        recorder.wait(timeout=duration + 30)
    match = re.search(r"(\d+) requests in", done.stdout)
    if match is None or "Non-2xx" in done.stdout:
        sys.exit(f"wrk did not get only 2xx answers:\n{done.stdout}")
    return Sample(int(match.group(1)), user1 - user0, system1 - system0, loop1 - loop0)


BIN = Path(sys.executable).parent
INSTALL = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import api_bench
inst = api_bench._install(Path(sys.argv[1]), os.environ)
print(json.dumps([str(inst.settings.data_dir), inst.token, inst.stack_uid]))
"""


def _env(src: Path | None, database_url: str | None) -> dict[str, str]:
    env = api_bench._child_env()
    if database_url is not None:
        env["STACKSAFE_DATABASE_URL"] = database_url
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    return env


def _install(data_dir: Path, env: dict[str, str]) -> tuple[str, str, str]:
    """api_bench's installation, made by the code that will serve it (its own schema)."""
    bench = str(Path(__file__).resolve().parent)
    made = subprocess.run(
        [sys.executable, "-c", INSTALL, str(data_dir), bench],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(made.stdout.strip().splitlines()[-1])
    return found[0], found[1], found[2]


@contextmanager
def _pg_server(enabled: bool) -> Iterator[str | None]:
    """The URL of a PostgreSQL server to make databases on (None: SQLite only)."""
    if not enabled or os.environ.get(PG_ENV):
        yield os.environ.get(PG_ENV) if enabled else None
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres import throwaway_cluster

    with throwaway_cluster() as cluster, cluster.admin() as admin:
        admin.execute("ALTER SYSTEM SET fsync = on")
        admin.execute("SELECT pg_reload_conf()")
        yield cluster.url("postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--src", type=Path, help="another checkout's src, measured alternately")
    parser.add_argument("--vault", action="store_true", help="the /v1 KV read of the stack")
    parser.add_argument("--py-spy", type=Path, help="record this checkout's last run here")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL too (see the docstring)")
    args = parser.parse_args()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stacksafe-cpu-")))
        pg_server = stack.enter_context(_pg_server(args.pg or bool(os.environ.get(PG_ENV))))
        checkouts = {"this checkout": None} | ({f"`{args.src}`": args.src} if args.src else {})
        databases = ["SQLite"] + (["PostgreSQL"] if pg_server else [])
        # Each checkout on each database, in turns: (checkout, database) -> its server's env.
        envs = {
            (label, database): _env(
                src,
                stack.enter_context(_pg_database(pg_server))
                if pg_server and database == "PostgreSQL"
                else None,
            )
            for label, src in checkouts.items()
            for database in databases
        }
        samples: dict[tuple[str, str], list[Sample]] = {setup: [] for setup in envs}
        installed = {
            setup: _install(work / f"data-{n}", env) for n, (setup, env) in enumerate(envs.items())
        }
        for run in range(args.runs):
            for setup, env in envs.items():
                data_dir, token, stack_uid = installed[setup]
                path = (
                    "/v1/secret/data/bench-account/web"
                    if args.vault
                    else f"/api/3/stacks/{stack_uid}/secrets?reveal=true&per_page=1000"
                )
                serve = [
                    *(str(BIN / "stacksafe"), "serve", "--host", api_bench.HOST),
                    *("--data-dir", data_dir, "--rate-limit", str(10**9)),
                ]
                server = api_bench._start(setup[0], serve, env, work / "server.log", "/healthz")
                with api_bench._running(server):
                    last = run == args.runs - 1 and setup == ("this checkout", databases[-1])
                    spy = args.py_spy if last else None
                    samples[setup].append(
                        _run(server.port, path, token, args.duration, server.process.pid, spy)
                    )
        what = "the /v1 KV read" if args.vault else "the native list"
        print(f"# Server CPU per request: 200-secret reveal ({what}), wrk -t2 -c32\n")
        print(f"{args.runs} run(s) of {args.duration} s each, medians.\n")
        print(
            "| server code | database | requests/run | user ms/req | system ms/req | total ms/req"
            " | of which the event loop's thread |"
        )
        print("|---|---|---:|---:|---:|---:|---:|")
        totals = {}
        for (label, database), found in samples.items():
            user = statistics.median(s.per_request[0] for s in found)
            system = statistics.median(s.per_request[1] for s in found)
            total = totals[label, database] = statistics.median(sum(s.per_request) for s in found)
            requests = statistics.median(s.requests for s in found)
            loop = statistics.median(s.loop_ms / s.requests for s in found)
            print(
                f"| {label} | {database} | {requests:.0f} | {user:.3f} | {system:.3f}"
                f" | {total:.3f} | {loop:.3f} |"
            )
        sqlite = totals["this checkout", "SQLite"]
        emit("server CPU per 200-secret reveal", measured=f"{sqlite:.3f} ms/req")
        if pg_server:
            pg = totals["this checkout", "PostgreSQL"]
            emit(
                "server CPU per 200-secret reveal, PostgreSQL vs SQLite",
                measured=f"{pg:.3f} ms/req",
                baseline=f"{sqlite:.3f} ms/req (SQLite)",
                ratio=round(pg / sqlite, 2),
                target="<= 1.5 (issue 21, target 4)",
                passed=pg / sqlite <= PG_TARGET,
            )


if __name__ == "__main__":
    main()
