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

``--task`` picks what is asked (``TASKS``): ``list`` (the default, above); ``write``, writing one
secret (``PUT``, one of the stack's 50 own keys in turn, a value never sent before);
``reveal-one``, one stack key (``GET .../secrets/STACK_SECRET_000?reveal=true``), measured with
the list as its baseline on the same server, alternately, and their ratio (issue 21: one-secret
CPU per request within 2x of the 200-secret list's); ``make bench`` runs that one.

Run: ``.venv/bin/python bench/server_cpu.py [--runs 3] [--duration 8] [--src DIR] [--vault]
[--task list|write|reveal-one] [--pg]``.
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
PG_TARGET = {"200-secret reveal": 1.5, "write": 2.0}


@dataclass(frozen=True)
class Sample:
    requests: int
    user_ms: float
    system_ms: float
    loop_ms: float  # the main thread's user + system: the event loop's share

    @property
    def per_request(self) -> tuple[float, float]:
        return self.user_ms / self.requests, self.system_ms / self.requests


# Each request writes one of the stack's 50 own keys with a value no request sent before (wrk
# runs one Lua state per thread: the thread's id keeps their values apart).
WRITE_SCRIPT = """
local thread_id = 0
local counter = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
end
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
  local key = string.format("STACK_SECRET_%03d", counter % 50)
  local body = string.format('{"raw_value": "written-%d-%d"}', id, counter)
  return wrk.format("PUT", wrk.path .. "/" .. key, nil, body)
end
"""


@dataclass(frozen=True)
class Task:
    """What one run asks of the server: the path (given the stack's uid), wrk's Lua script if
    any, and what it is called; ``baseline``: the task measured alongside it on the same server,
    alternately, and ``target`` the most their CPU per request may be in ratio."""

    title: str
    path: str
    script: str | None = None
    baseline: str | None = None
    target: float | None = None


TASKS = {
    "list": Task("200-secret reveal", "/api/3/stacks/{uid}/secrets?reveal=true&per_page=1000"),
    "vault": Task("200-secret reveal (the /v1 KV read)", "/v1/secret/data/bench-account/web"),
    "write": Task("write", "/api/3/stacks/{uid}/secrets", WRITE_SCRIPT),
    "reveal-one": Task(
        "one-secret reveal",
        "/api/3/stacks/{uid}/secrets/STACK_SECRET_000?reveal=true",
        baseline="list",
        target=2.0,
    ),
}


def _run(
    port: int,
    path: str,
    token: str,
    duration: int,
    pid: int,
    spy: Path | None,
    script: Path | None = None,
) -> Sample:
    url = f"http://{api_bench.HOST}:{port}{path}"
    auth = f"Authorization: Bearer {token}"
    wrk = ["wrk", "-t2", "-c32", "-H", auth, *(["-s", str(script)] if script else [])]
    # Warm up: the level is opened and kept, the token's principal too.
    subprocess.run([*wrk, "-d2s", url], capture_output=True, check=True)
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
        [*wrk, f"-d{duration}s", "--timeout", "20s", url],
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
try:
    inst = api_bench._install(Path(sys.argv[1]), os.environ)
except TypeError:  # an older checkout's api_bench (before its environment argument)
    inst = api_bench._install(Path(sys.argv[1]))
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
    """api_bench's installation, made by the code that will serve it (its own schema), with
    that checkout's own api_bench where it has one (an older one's names differ)."""
    bench = str(Path(__file__).resolve().parent)
    source = env.get("PYTHONPATH")
    if source is not None and (Path(source).parent / "bench" / "api_bench.py").exists():
        bench = str(Path(source).parent / "bench")
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
    parser.add_argument("--task", choices=TASKS, default="list", help="what is asked (TASKS)")
    parser.add_argument("--py-spy", type=Path, help="record this checkout's last run here")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL too (see the docstring)")
    args = parser.parse_args()
    chosen = "vault" if args.vault else args.task
    task = TASKS[chosen]
    names = [chosen] + ([task.baseline] if task.baseline else [])
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stacksafe-cpu-")))
        scripts: dict[str, Path | None] = {}
        for name in names:
            lua = TASKS[name].script
            scripts[name] = None if lua is None else work / f"{name}.lua"
            if lua is not None:
                (work / f"{name}.lua").write_text(lua)
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
        samples: dict[tuple[str, str, str], list[Sample]] = {
            (*setup, name): [] for setup in envs for name in names
        }
        installed = {
            setup: _install(work / f"data-{n}", env) for n, (setup, env) in enumerate(envs.items())
        }
        for run in range(args.runs):
            for setup, env in envs.items():
                data_dir, token, stack_uid = installed[setup]
                serve = [
                    *(str(BIN / "stacksafe"), "serve", "--host", api_bench.HOST),
                    *("--data-dir", data_dir, "--rate-limit", str(10**9)),
                ]
                server = api_bench._start(setup[0], serve, env, work / "server.log", "/healthz")
                with api_bench._running(server):
                    for name in names:
                        path = TASKS[name].path.format(uid=stack_uid)
                        last = (
                            run == args.runs - 1
                            and setup == ("this checkout", databases[-1])
                            and name == chosen
                        )
                        spy = args.py_spy if last else None
                        samples[(*setup, name)].append(
                            _run(
                                *(server.port, path, token, args.duration, server.process.pid),
                                *(spy, scripts[name]),
                            )
                        )
        titles = " and ".join(TASKS[name].title for name in names)
        print(f"# Server CPU per request: {titles}, wrk -t2 -c32\n")
        print(f"{args.runs} run(s) of {args.duration} s each, medians.\n")
        print(
            "| task | server code | database | requests/run | user ms/req | system ms/req"
            " | total ms/req | of which the event loop's thread |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|")
        totals = {}
        for (label, database, name), found in samples.items():
            user = statistics.median(s.per_request[0] for s in found)
            system = statistics.median(s.per_request[1] for s in found)
            total = statistics.median(sum(s.per_request) for s in found)
            totals[label, database, name] = total
            requests = statistics.median(s.requests for s in found)
            loop = statistics.median(s.loop_ms / s.requests for s in found)
            print(
                f"| {name} | {label} | {database} | {requests:.0f} | {user:.3f} | {system:.3f}"
                f" | {total:.3f} | {loop:.3f} |"
            )
        _emit(totals, names, bool(pg_server))


def _emit(totals: dict[tuple[str, str, str], float], names: list[str], pg: bool) -> None:
    """The result rows: each task's CPU per request, PostgreSQL's against SQLite's where target 4
    sets a bound, and a task against its baseline."""
    ours = "this checkout"
    for name in names:
        title = TASKS[name].title
        sqlite = totals[ours, "SQLite", name]
        emit(f"server CPU per {title}", measured=f"{sqlite:.3f} ms/req")
        bound = PG_TARGET.get(title)
        if pg and bound is not None:
            postgres = totals[ours, "PostgreSQL", name]
            emit(
                f"server CPU per {title}, PostgreSQL vs SQLite",
                measured=f"{postgres:.3f} ms/req",
                baseline=f"{sqlite:.3f} ms/req (SQLite)",
                ratio=round(postgres / sqlite, 2),
                target=f"<= {bound} (issue 21, target 4)",
                passed=postgres / sqlite <= bound,
            )
    task = TASKS[names[0]]
    if task.baseline is not None and task.target is not None:
        measured = totals[ours, "SQLite", names[0]]
        baseline = totals[ours, "SQLite", task.baseline]
        ratio = measured / baseline
        emit(
            f"server CPU per request: {task.title} / {TASKS[task.baseline].title}",
            measured=f"{measured:.3f} ms/req",
            baseline=f"{baseline:.3f} ms/req",
            ratio=ratio,
            target=f"<= {task.target:.1f} (issue 21, target 3)",
            passed=ratio <= task.target,
        )


if __name__ == "__main__":
    main()
