"""A stalled audit sink: reveal latency with a syslog receiver that accepts and never reads.

Issue 20's proof: "a stalled sink (accepts the connection, never reads) for 60 s: reveal p99
unchanged within noise, no memory growth beyond a bounded buffer, lag reported."

Setup (untimed): two installations made alike (api_bench.py's: an owner's token, an account
with 150 secrets, stack ``web`` with 50 own, 200 effective), each served by its own
``stacksafe serve`` (SQLite, one worker, ``--rate-limit`` raised, rotation off,
``STACKSAFE_OUTBOUND_ALLOW=127.0.0.1`` for both) on loopback:

* **no sink** (the baseline): no audit sink at all;
* **stalled**: one syslog sink over TCP (``audit sinks add stalled --type syslog --address
  127.0.0.1:PORT``, added before the server starts) whose receiver is a socket here that accepts
  every connection, keeps it open and never reads. The kernel takes a few MB per connection
  (the sink's send buffer and the receiver's receive buffer); then the sink's sends block, its
  batch times out (10 s) and it connects again after its back-off.

Both are warmed up with wrk; then, before anything is timed, the script loads the stalled
server until its sink has timed out once (its server log says "timed out") and the receiver
holds unread bytes.

Timed: ``--rounds`` rounds; in each, for each of the two reveals (the stack's 200 secrets,
``GET /api/3/stacks/{uid}/secrets?reveal=true&per_page=1000``, and one key,
``GET .../secrets/STACK_SECRET_000?reveal=true``), ``wrk -t2 -c8 -d{duration}s --latency``
against each server, in an order that alternates by round. Every request appends an audit event
(so the stalled server's sink falls further behind as it goes). The stalled server is under
load for rounds x 2 x duration seconds (60 s by default) while its sink stays stalled all along.

Reported: p50/p99 and requests/s per (reveal, server), medians over rounds, and
``ratio = p99 stalled / p99 no sink`` (median of per-round ratios; target <= 1.10, within
noise); the servers' RSS (``/proc``, process and children) at the start and end of the timed
phase (stalled: target within 5 %, the bound being one batch of at most 500 events / 1 MiB and
its encodings); the sink's lag from ``/readyz`` after every round and from
``stacksafe audit sinks status`` at the start and end (target: > 0 and growing with the events
appended), the receiver's connections and unread bytes, and how many batches timed out; for
context, each server's CPU over the phase (from ``/proc``).

Run: ``.venv/bin/python bench/stalled_sink.py`` (about 2.5 min); ``--quick`` (about 1 min:
2 rounds of 3 s, 12 s of load on the stalled sink); ``--rounds``, ``--duration``,
``--connections``; ``--control``: neither server has a sink (an A/A run: how far the ratios
stray on this machine with nothing to find; no result lines).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import api_bench
from proc_cpu import cpu_ms as _cpu_ms
from results import emit
from soak import _rss_kb, _sample_rss

HOST = api_bench.HOST
BIN = Path(sys.executable).parent
SINK = "stalled"
P99_TARGET = 1.10
RSS_TARGET = 0.05
STALL_WAIT = 90.0  # seconds for the first timeout to show (the sink's own timeout is 10 s)
SINGLE_KEY = "STACK_SECRET_000"
REVEALS = ("stack", "single")


class StalledReceiver:
    """A TCP port on 127.0.0.1 that accepts every connection, keeps it and never reads."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((HOST, 0))
        self._listener.listen()
        self.port: int = self._listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self._listener.accept()[0])
            except OSError:  # closed by stop()
                return

    def unread_bytes(self) -> int:
        """The bytes waiting in the held connections' receive buffers (FIONREAD: not read)."""
        total = 0
        for conn in list(self.held):
            try:
                raw = fcntl.ioctl(conn.fileno(), termios.FIONREAD, b"\0\0\0\0")
            except OSError:
                continue
            total += int(struct.unpack("i", raw)[0])
        return total

    def stop(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        for conn in self.held:
            conn.close()


@dataclass
class Side:
    """One server and what was measured against it."""

    label: str
    server: api_bench.Server
    data_dir: Path
    runs: dict[str, list[api_bench.WrkResult]] = field(default_factory=dict)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")}
    env["STACKSAFE_OUTBOUND_ALLOW"] = "127.0.0.1"  # the sink's receiver is on loopback
    return env


def _serve(label: str, data_dir: Path, work: Path) -> Side:
    argv = [
        *(str(BIN / "stacksafe"), "serve", "--host", HOST, "--data-dir", str(data_dir)),
        *("--rate-limit", str(10**9), "--rotation-interval", "0"),
    ]
    server = api_bench._start(label, argv, _env(), work / f"{label}.log", "/healthz")
    return Side(label, server, data_dir)


def _cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "stacksafe"), *args, "--data-dir", str(data_dir)],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"stacksafe {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _status(data_dir: Path) -> dict[str, object]:
    """The sink's row of ``stacksafe audit sinks status --format json``."""
    rows = json.loads(_cli(data_dir, "audit", "sinks", "status", "--format", "json"))
    found: dict[str, object] = next(r for r in rows if r["name"] == SINK)
    return found


def _readyz(side: Side) -> dict[str, object]:
    """The sink's entry in /readyz's body (its lag and state)."""
    _, body = api_bench._get(side.server.port, "/readyz", {})
    sink: dict[str, object] = json.loads(body)["audit_sinks"][SINK]
    return sink


def _timeouts(side: Side) -> int:
    """Batches the server logged as timed out (the sink's warning names no event)."""
    return sum("timed out" in line for line in side.server.log.read_text().splitlines())


def _path(reveal: str, stack_uid: str) -> str:
    base = f"/api/3/stacks/{stack_uid}/secrets"
    return (
        f"{base}?reveal=true&per_page=1000"
        if reveal == "stack"
        else f"{base}/{SINGLE_KEY}?reveal=true"
    )


def _check(side: Side, token: str, stack_uid: str, plaintexts: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    status, body = api_bench._get(side.server.port, _path("stack", stack_uid), auth)
    if status != 200 or body.count(b'"raw_value"') != api_bench.EFFECTIVE:
        sys.exit(f"{side.label}: the stack reveal answered {status}")
    status, body = api_bench._get(side.server.port, _path("single", stack_uid), auth)
    if status != 200 or json.loads(body)["response"].get("raw_value") != plaintexts[SINGLE_KEY]:
        sys.exit(f"{side.label}: the single-key reveal answered {status}")


def _wrk(side: Side, path: str, token: str, seconds: int, connections: int) -> api_bench.WrkResult:
    url = f"http://{HOST}:{side.server.port}{path}"
    return api_bench._wrk(url, seconds, token, threads=2, connections=connections)


def _wait_for_stall(stalled: Side, receiver: StalledReceiver, token: str, path: str) -> float:
    """Load the stalled server until its sink has timed out once; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < STALL_WAIT:
        if _timeouts(stalled) and receiver.unread_bytes() > 0:
            return time.monotonic() - started
        # More events, in case the first ones fitted in the kernel's buffers.
        _wrk(stalled, path, token, 2, 4)
    sys.exit(
        f"the sink did not time out within {STALL_WAIT:.0f} s (state {_readyz(stalled)}); "
        f"server log:\n{stalled.server.log.read_text()[-2000:]}"
    )


# poll(2) and ppoll(2) by architecture: what a thread blocked in select.poll shows in
# /proc/PID/task/TID/syscall.
_POLL_SYSCALLS = {"x86_64": {"7", "271"}, "aarch64": {"73"}}.get(platform.machine(), set())


def _sink_thread(pid: int) -> int | None:
    """The server's thread blocked in poll(2): the sink's, waiting for the receiver to take its
    bytes (core.streams.deadline_io). No other thread of the server polls: uvicorn's loop waits
    in epoll, the worker threads and the other background ones on futexes. Looked for over a
    few seconds (between timeouts the sink sleeps on a futex too); None if not found."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                number = (task / "syscall").read_text().split()[0]
            except (OSError, IndexError):
                continue
            if number in _POLL_SYSCALLS:
                found.append(int(task.name))
        if len(found) == 1:
            return found[0]
        time.sleep(0.2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s (12 s stalled)")
    parser.add_argument("--rounds", type=int, help="rounds (default 6)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    parser.add_argument(
        "--control",
        action="store_true",
        help="no sink on either server (an A/A run: the ratios' noise on this machine)",
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 6)
    args.duration = args.duration or (3 if args.quick else 5)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)")
    started = time.perf_counter()
    receiver = StalledReceiver()
    with tempfile.TemporaryDirectory(prefix="stacksafe-stalled-sink-") as tmp:
        work = Path(tmp)
        base_inst = api_bench._install(work / "base")
        stalled_inst = api_bench._install(work / "stalled")
        address = f"{HOST}:{receiver.port}"
        add = ("audit", "sinks", "add", SINK, "--type", "syslog", "--address", address)
        if not args.control:
            _cli(work / "stalled", *add)
        sides: list[Side] = []
        samples: list[tuple[float, int]] = []
        sampling = threading.Event()
        try:
            sides.append(_serve("no sink", work / "base", work))
            sides.append(_serve("stalled", work / "stalled", work))
            base, stalled = sides
            tokens = {"no sink": base_inst.token, "stalled": stalled_inst.token}
            uids = {"no sink": base_inst.stack_uid, "stalled": stalled_inst.stack_uid}
            _check(base, base_inst.token, base_inst.stack_uid, base_inst.plaintexts)
            _check(stalled, stalled_inst.token, stalled_inst.stack_uid, stalled_inst.plaintexts)
            rss_up = {s.label: _rss_kb(s.server.process.pid) for s in sides}
            for side in sides:  # warm-up: caches, and events for the sink to choke on
                _wrk(
                    side, _path("stack", uids[side.label]), tokens[side.label], 3, args.connections
                )
            waited = 0.0
            if not args.control:
                stall_path = _path("stack", stalled_inst.stack_uid)
                waited = _wait_for_stall(stalled, receiver, stalled_inst.token, stall_path)
            at_start = {} if args.control else _status(stalled.data_dir)
            sink_thread = None if args.control else _sink_thread(stalled.server.process.pid)
            pid = stalled.server.process.pid
            thread_start = 0.0 if sink_thread is None else sum(_cpu_ms(pid, sink_thread))
            cpu_start = {s.label: sum(_cpu_ms(s.server.process.pid)) for s in sides}
            rss_start = {s.label: _rss_kb(s.server.process.pid) for s in sides}
            sampler = threading.Thread(
                target=_sample_rss, args=(stalled.server.process.pid, sampling, samples)
            )
            sampler.start()
            timeouts_start = _timeouts(stalled)
            phase_started = time.monotonic()
            lags: list[tuple[int, object, object]] = []
            for round_no in range(args.rounds):
                order = sides if round_no % 2 == 0 else sides[::-1]
                for reveal in REVEALS:
                    for side in order:
                        path = _path(reveal, uids[side.label])
                        done = _wrk(side, path, tokens[side.label], args.duration, args.connections)
                        side.runs.setdefault(reveal, []).append(done)
                if not args.control:
                    sink = _readyz(stalled)
                    lags.append((round_no + 1, sink["lag"], sink["state"]))
            phase = time.monotonic() - phase_started
            cpu_end = {s.label: sum(_cpu_ms(s.server.process.pid)) for s in sides}
            thread_cpu = (
                None if sink_thread is None else sum(_cpu_ms(pid, sink_thread)) - thread_start
            )
            rss_end = {s.label: _rss_kb(s.server.process.pid) for s in sides}
            sampling.set()
            sampler.join()
            at_end = {} if args.control else _status(stalled.data_dir)
            readyz_end = {} if args.control else _readyz(stalled)
            timeouts = _timeouts(stalled) - timeouts_start
        finally:
            sampling.set()  # the sampler thread ends (if it was started)
            for side in sides:
                api_bench._stop(side.server)
            connections, unread = len(receiver.held), receiver.unread_bytes()
            receiver.stop()
    if args.control:
        print("# A stalled audit sink: CONTROL run, no sink on either server (A/A)\n")
        print("(The rows named `stalled` are the second server, without a sink here.)\n")
    else:
        print("# A stalled audit sink: reveal latency, memory, lag\n")
    print(
        "Two `stacksafe serve` (SQLite, one worker), one without any sink, "
        + (
            "the other without one either (control)"
            if args.control
            else "one streaming to a syslog receiver (TCP, 127.0.0.1) that accepts and never "
            f"reads (the sink first timed out {waited:.0f} s after the warm-up)"
        )
        + f"; `wrk -t2 -c{args.connections} -d{args.duration}s --latency`, {args.rounds} rounds, "
        "servers in alternating order, every request one audit event. The timed phase lasted "
        f"{phase:.0f} s ({args.rounds * len(REVEALS) * args.duration} s of load on each "
        "server).\n"
    )
    _report_latency(base, stalled, emitting=not args.control)
    _report_cpu(base, stalled, cpu_start, cpu_end)
    if not args.control:
        print(
            "The sink's thread (the one blocked in poll(2)): "
            + (
                "not identified"
                if thread_cpu is None
                else f"{thread_cpu:.0f} ms of CPU over the phase "
                f"({thread_cpu / (phase * 1000) * 100:.2f} % of one core)"
            )
            + "."
        )
    if args.control:
        return
    _report_memory(rss_up, rss_start, rss_end, max(kb for _, kb in samples))
    _report_lag(lags, at_start, at_end, readyz_end, timeouts, connections, unread)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")


def _report_latency(base: Side, stalled: Side, *, emitting: bool) -> None:
    med = statistics.median
    print("| reveal | server | req/s | p50 | p99 | errors |")
    print("|---|---|---:|---:|---:|---|")
    for reveal in REVEALS:
        for side in (base, stalled):
            runs = side.runs[reveal]
            errors = sum(r.non_2xx for r in runs)
            sockets = sorted({r.socket_errors for r in runs} - {"none"})
            print(
                f"| {reveal} | {side.label} | {med(r.rps for r in runs):,.0f} "
                f"| {med(r.p50_ms for r in runs):.1f} ms | {med(r.p99_ms for r in runs):.1f} ms "
                f"| {errors} non-2xx{'; ' + '; '.join(sockets) if sockets else ''} |"
            )
    print()
    for reveal in REVEALS:
        pairs = list(zip(stalled.runs[reveal], base.runs[reveal], strict=True))
        per_round = [s.p99_ms / b.p99_ms for s, b in pairs]
        ratio = med(per_round)
        print(
            f"p99 stalled / no sink, {reveal} reveal: {ratio:.2f} (rounds: "
            f"{', '.join(f'{r:.2f}' for r in per_round)})"
        )
        errors = sum(r.non_2xx for s, b in pairs for r in (s, b))
        if not emitting:
            continue
        emit(
            f"stalled sink: {'stack (200 secrets)' if reveal == 'stack' else 'single-key'} "
            "reveal p99, stalled / no sink",
            measured=f"p99 {med(s.p99_ms for s, _ in pairs):.1f} ms, "
            f"{med(s.rps for s, _ in pairs):,.0f} req/s",
            baseline=f"no sink: p99 {med(b.p99_ms for _, b in pairs):.1f} ms, "
            f"{med(b.rps for _, b in pairs):,.0f} req/s",
            ratio=ratio,
            target=f"<= {P99_TARGET:.2f} (within noise), no errors",
            passed=ratio <= P99_TARGET and errors == 0,
        )


def _report_cpu(base: Side, stalled: Side, start: dict[str, float], end: dict[str, float]) -> None:
    """The servers' CPU over the phase (loaded and idle alike): the difference is about what
    the sink's thread spent, reconnecting and encoding the batches the kernel took."""
    parts = []
    for side in (base, stalled):
        requests = sum(r.requests for runs in side.runs.values() for r in runs)
        used = end[side.label] - start[side.label]
        parts.append(f"{side.label} {used / 1000:.1f} s for {requests:,} requests")
    print(f"\nServer CPU (user + system) over the phase: {'; '.join(parts)}.")


def _report_memory(
    up: dict[str, int], start: dict[str, int], end: dict[str, int], peak: int
) -> None:
    print("\n| server | RSS once up | at the phase's start | at its end | growth in the phase |")
    print("|---|---:|---:|---:|---:|")
    for label in start:
        grew = end[label] - start[label]
        print(
            f"| {label} | {up[label] / 1024:.1f} MiB | {start[label] / 1024:.1f} MiB "
            f"| {end[label] / 1024:.1f} MiB "
            f"| {grew / 1024:+.1f} MiB ({grew / start[label] * 100:+.1f} %) |"
        )
    print(
        "\nThe stalled server's RSS, sampled every second in the phase: "
        f"at most {peak / 1024:.1f} MiB."
    )
    ratio = end["stalled"] / start["stalled"]
    emit(
        "stalled sink: server RSS over the stalled phase",
        measured=f"{start['stalled'] / 1024:.1f} -> {end['stalled'] / 1024:.1f} MiB "
        f"({(end['stalled'] - start['stalled']) / 1024:+.1f} MiB; {up['stalled'] / 1024:.1f} "
        "once up)",
        baseline=f"no sink: {(end['no sink'] - start['no sink']) / 1024:+.1f} MiB",
        ratio=ratio,
        target=f"within {RSS_TARGET * 100:.0f} % (one bounded batch)",
        passed=ratio <= 1 + RSS_TARGET,
    )


def _report_lag(
    lags: list[tuple[int, object, object]],
    at_start: dict[str, object],
    at_end: dict[str, object],
    readyz_end: dict[str, object],
    timeouts: int,
    connections: int,
    unread: int,
) -> None:
    print("\n| after round | lag (/readyz) | state |")
    print("|---:|---:|---|")
    for round_no, lag, state in lags:
        print(f"| {round_no} | {lag} | {state} |")
    lag_start, lag_end = int(str(at_start["lag"])), int(str(at_end["lag"]))
    appended = int(str(at_end["head"])) - int(str(at_start["head"]))
    delivered = int(str(at_end["cursor"])) - int(str(at_start["cursor"]))
    print(
        f"\n`audit sinks status`: at the start of the timed phase cursor {at_start['cursor']}, "
        f"head {at_start['head']}, lag {lag_start}; at the end cursor {at_end['cursor']}, head "
        f"{at_end['head']}, lag {lag_end} ({at_end['state']}; last error: "
        f"{at_end['last_error'] or '-'}). /readyz at the end: lag {readyz_end['lag']}, "
        f"{readyz_end['state']}. Events appended meanwhile {appended}, counted as delivered "
        f"{delivered} (syslog has no acknowledgement: what the kernel took before each stall). "
        f"The lag grew by {lag_end - lag_start} events. "
        f"Batches timed out during the phase: {timeouts}. The receiver held {connections} "
        f"connection(s) with {unread / 1024 / 1024:.1f} MiB unread."
    )
    growing = lag_end > lag_start > 0
    emit(
        "stalled sink: lag reported (audit sinks status, /readyz)",
        measured=f"lag {lag_start} -> {lag_end} events",
        baseline=f"{appended} events appended, {delivered} taken by the kernel",
        target="> 0 and growing; the sends time out",
        passed=growing and timeouts > 0 and int(str(readyz_end["lag"])) > 0,
    )


if __name__ == "__main__":
    main()
