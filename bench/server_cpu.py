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
of this checkout with py-spy (``--gil``: only threads holding the GIL, i.e. Python work) as
collapsed stacks.

``--vault`` measures the Vault face's hot read of the same stack instead
(``GET /v1/secret/data/bench-account/web``, answered at hand like the native list).

``--task`` picks what is asked (``TASKS``): ``list`` (the default, above) or ``reveal-one``, one
stack key (``GET .../secrets/STACK_SECRET_000?reveal=true``), measured with the list as its
baseline on the same server, alternately, and their ratio (issue 21: one-secret CPU per request
within 2x of the 200-secret list's); ``make bench`` runs that.

Run: ``.venv/bin/python bench/server_cpu.py [--runs 3] [--duration 8] [--src DIR] [--vault]
[--task reveal-one]``.
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
from dataclasses import dataclass
from pathlib import Path

import api_bench
from results import emit

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Task:
    """What a task asks (a path of the stack's uid) and what it is called; ``baseline``: the
    task measured alongside it on the same server, alternately, and ``target`` the most their
    CPU per request may be in ratio."""

    title: str
    path: str
    baseline: str | None = None
    target: float | None = None


LIST_PATH = "/api/3/stacks/{uid}/secrets?reveal=true&per_page=1000"
TASKS = {
    "list": Task("200-secret reveal", LIST_PATH),
    "reveal-one": Task(
        "one-secret reveal", "/api/3/stacks/{uid}/secrets/STACK_SECRET_000?reveal=true", "list", 2.0
    ),
}


@dataclass(frozen=True)
class Sample:
    requests: int
    user_ms: float
    system_ms: float
    loop_ms: float  # the main thread's user + system: the event loop's share

    @property
    def per_request(self) -> tuple[float, float]:
        return self.user_ms / self.requests, self.system_ms / self.requests


def _cpu_ms(pid: int, thread: int | None = None) -> tuple[float, float]:
    # Fields 14 and 15 of /proc/PID/stat (utime, stime), after the parenthesised command name;
    # /proc/PID/task/TID/stat for one thread (the main thread's TID is the PID).
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rpartition(")")[2].split()
    return int(fields[11]) * 1000 / TICKS, int(fields[12]) * 1000 / TICKS


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
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import api_bench
inst = api_bench._install(Path(sys.argv[1]))
print(json.dumps([str(inst.settings.data_dir), inst.token, inst.stack_uid]))
"""


def _env(src: Path | None) -> dict[str, str]:
    env = api_bench._child_env()
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    return env


def _install(data_dir: Path, src: Path | None) -> tuple[str, str, str]:
    """api_bench's installation, made by the code that will serve it (its own schema)."""
    bench = str(Path(__file__).resolve().parent)
    made = subprocess.run(
        [sys.executable, "-c", INSTALL, str(data_dir), bench],
        env=_env(src),
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(made.stdout.strip().splitlines()[-1])
    return found[0], found[1], found[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--src", type=Path, help="another checkout's src, measured alternately")
    parser.add_argument("--vault", action="store_true", help="the /v1 KV read of the stack")
    parser.add_argument("--task", choices=TASKS, default="list", help="what is asked (TASKS)")
    parser.add_argument("--py-spy", type=Path, help="record this checkout's last run here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stacksafe-cpu-") as tmp:
        work = Path(tmp)
        checkouts = {"this checkout": None} | ({"--src": args.src} if args.src else {})
        task = TASKS[args.task]
        tasks = [args.task] + ([task.baseline] if task.baseline else [])
        samples: dict[tuple[str, str], list[Sample]] = {
            (label, name): [] for label in checkouts for name in tasks
        }
        installed = {
            label: _install(work / f"data-{n}", src)
            for n, (label, src) in enumerate(checkouts.items())
        }
        for run in range(args.runs):
            for label, src in checkouts.items():
                data_dir, token, stack_uid = installed[label]
                serve = [
                    *(str(BIN / "stacksafe"), "serve", "--host", api_bench.HOST),
                    *("--data-dir", data_dir, "--rate-limit", str(10**9)),
                ]
                server = api_bench._start(label, serve, _env(src), work / "server.log", "/healthz")
                with api_bench._running(server):
                    for name in tasks:
                        path = TASKS[name].path.format(uid=stack_uid)
                        if args.vault and name == "list":
                            path = "/v1/secret/data/bench-account/web"
                        last = run == args.runs - 1 and src is None and name == args.task
                        spy = args.py_spy if last else None
                        samples[label, name].append(
                            _run(server.port, path, token, args.duration, server.process.pid, spy)
                        )
        what = "the /v1 KV read" if args.vault else "the native list"
        titles = " and ".join(TASKS[name].title for name in tasks)
        print(f"# Server CPU per request: {titles} ({what}), wrk -t2 -c32\n")
        print(f"{args.runs} run(s) of {args.duration} s each, medians.\n")
        print(
            "| task | server code | requests/run | user ms/req | system ms/req | total ms/req"
            " | of which the event loop's thread |"
        )
        print("|---|---|---:|---:|---:|---:|---:|")
        totals = {}
        for (label, name), found in samples.items():
            user = statistics.median(s.per_request[0] for s in found)
            system = statistics.median(s.per_request[1] for s in found)
            totals[label, name] = statistics.median(sum(s.per_request) for s in found)
            shown = label if label == "this checkout" else f"`{args.src}`"
            requests = statistics.median(s.requests for s in found)
            loop = statistics.median(s.loop_ms / s.requests for s in found)
            print(
                f"| {name} | {shown} | {requests:.0f} | {user:.3f} | {system:.3f}"
                f" | {totals[label, name]:.3f} | {loop:.3f} |"
            )
        for name in tasks:
            measured = totals["this checkout", name]
            emit(f"server CPU per {TASKS[name].title}", measured=f"{measured:.3f} ms/req")
        if task.baseline is not None and task.target is not None:
            measured = totals["this checkout", args.task]
            baseline = totals["this checkout", task.baseline]
            ratio = measured / baseline
            emit(
                f"server CPU per request: {task.title} / {TASKS[task.baseline].title}",
                measured=f"{measured:.3f} ms/req",
                baseline=f"{baseline:.3f} ms/req",
                ratio=ratio,
                target=f"<= {task.target:.1f}",
                passed=ratio <= task.target,
            )


if __name__ == "__main__":
    main()
