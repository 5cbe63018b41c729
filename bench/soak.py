"""Soak: a real `stacksafe serve` under a fixed, mixed request rate for 60 s; errors and memory.

Setup (untimed): a fresh SQLite installation, an owner with an API token, an account with 150
secrets and a stack with 50 own (200 effective), then ``stacksafe serve`` (one worker, default
threads, ``--rate-limit`` raised so the limiter does not answer 429 by design).

Load: an open-loop client (asyncio + httpx, up to 64 connections) sends requests on a fixed
schedule, ``--rate`` per second, whether or not earlier ones have finished (a slow server gets
a queue, not a politer client), in a repeating pattern of 10: 6 reveals of the stack
(``GET /api/3/stacks/{uid}/secrets?reveal=true&per_page=1000``), 3 single revealed keys
(``GET .../secrets/{key}?reveal=true``) and 1 write (``PUT .../secrets/SOAK_nn``, 20 keys in
turn, each write a new version). ``--warmup`` seconds first (caches fill; counted for errors,
not for latency or memory), then ``--duration`` seconds measured.

Reported: errors (non-2xx, timeouts, connection failures; target zero), the achieved rate,
p50/p99 latency from each request's scheduled time (so a stall counts for every request it
delays), the server's RSS sampled every second from /proc (its process and children), and the
growth of the second half's mean RSS over the first half's (target: within 5 %, "flat").
Afterwards the server stops and ``stacksafe audit verify`` walks the chain; every successful
request must have added one event.

Run: ``.venv/bin/python bench/soak.py`` (about 80 s); ``--rate``, ``--duration``, ``--warmup``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import api_bench
from results import emit

HOST = api_bench.HOST
PATTERN = ("reveal",) * 6 + ("get",) * 3 + ("write",)
WRITE_KEYS = 20
MAX_CONNECTIONS = 64
TIMEOUT = 30.0
GROWTH_TARGET = 0.05
BIN = Path(sys.executable).parent


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    ok: int = 0
    sent: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def _rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its children (uvicorn may fork workers)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(found.group(1)) if found else 0
    return total


def _sample_rss(pid: int, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    while not stop.is_set():
        out.append((time.monotonic(), _rss_kb(pid)))
        stop.wait(1.0)


async def _one(
    client: httpx.AsyncClient,
    kind: str,
    path: str,
    body: dict[str, str] | None,
    scheduled: float,
    tally: Tally,
    measured: bool,
) -> None:
    try:
        if kind == "write":
            response = await client.put(path, json=body)
        else:
            response = await client.get(path)
        if response.status_code >= 300:
            tally.error(f"{kind} {response.status_code}")
            return
    except httpx.TimeoutException:
        tally.error(f"{kind} timeout")
        return
    except httpx.HTTPError as exc:
        tally.error(f"{kind} {type(exc).__name__}")
        return
    tally.ok += 1
    if measured:
        tally.latencies.setdefault(kind, []).append(time.monotonic() - scheduled)


async def _drive(
    base: str,
    token: str,
    stack_uid: str,
    keys: list[str],
    rate: float,
    warmup: float,
    duration: float,
) -> tuple[Tally, float, float]:
    """Send on schedule; returns the tally and the monotonic start and end of the measured part."""
    tally = Tally()
    secrets_path = f"/api/3/stacks/{stack_uid}/secrets"
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=TIMEOUT
    ) as client:
        started = time.monotonic()
        measured_from = started + warmup
        end = measured_from + duration
        tasks = set()
        n = 0
        while True:
            scheduled = started + n / rate
            if scheduled >= end:
                break
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            kind = PATTERN[n % len(PATTERN)]
            body = None
            if kind == "reveal":
                path = f"{secrets_path}?reveal=true&per_page=1000"
            elif kind == "get":
                path = f"{secrets_path}/{keys[n % len(keys)]}?reveal=true"
            else:
                path = f"{secrets_path}/SOAK_{(n // len(PATTERN)) % WRITE_KEYS:02d}"
                body = {"raw_value": f"soak-value-{n}-{random.random()}"}
            task = asyncio.create_task(
                _one(client, kind, path, body, scheduled, tally, scheduled >= measured_from)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            tally.sent += 1
            n += 1
        if tasks:
            await asyncio.gather(*tasks)
    return tally, measured_from, end


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _audit_events(database: Path) -> int:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM audit_events").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    args = parser.parse_args()
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")}
    with tempfile.TemporaryDirectory(prefix="stacksafe-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        # api_bench.py's installation: 150 account and 50 stack secrets, an owner's token.
        inst = api_bench._install(data_dir)
        token, stack_uid = inst.token, inst.stack_uid
        keys = sorted(k for k in inst.plaintexts if k.startswith("STACK_SECRET"))
        database = data_dir / "stacksafe.db"
        events_before = _audit_events(database)
        port = api_bench._free_port()
        log = Path(tmp) / "server.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [
                    *(str(BIN / "stacksafe"), "serve", "--host", HOST, "--port", str(port)),
                    *("--data-dir", str(data_dir), "--rate-limit", str(10**9)),
                    *("--rotation-interval", "0"),
                ],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        base = f"http://{HOST}:{port}"
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        try:
            deadline = time.monotonic() + 30
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the server did not start:\n{log.read_text()[-2000:]}")
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            sampler = threading.Thread(target=_sample_rss, args=(server.pid, stop, samples))
            sampler.start()
            tally, measured_from, end = asyncio.run(
                _drive(base, token, stack_uid, keys, args.rate, args.warmup, args.duration)
            )
            finished = time.monotonic()
            stop.set()
            sampler.join()
        finally:
            stop.set()
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        events_added = _audit_events(database) - events_before
        verify = subprocess.run(
            [str(BIN / "stacksafe"), "audit", "verify", "--data-dir", str(data_dir)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    _report(args, tally, samples, measured_from, end, finished, events_added, verify, started)


def _report(
    args: argparse.Namespace,
    tally: Tally,
    samples: list[tuple[float, int]],
    measured_from: float,
    end: float,
    finished: float,
    events_added: int,
    verify: subprocess.CompletedProcess[str],
    started: float,
) -> None:
    measured = [kb for at, kb in samples if measured_from <= at <= end]
    half = len(measured) // 2
    first, second = measured[:half], measured[half:]
    growth = (statistics.mean(second) - statistics.mean(first)) / statistics.mean(first)
    errors = sum(tally.errors.values())
    done = sum(len(v) for v in tally.latencies.values())
    achieved = done / args.duration
    print("# stacksafe soak\n")
    print(
        f"`stacksafe serve` (SQLite, one worker), open-loop client at {args.rate:.0f} requests/s "
        f"for {args.warmup:.0f} s of warm-up then {args.duration:.0f} s measured; pattern per 10 "
        "requests: 6 reveals of 200 secrets, 3 single revealed keys, 1 write.\n"
    )
    print("| request | measured | p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    everything: list[float] = []
    for kind in ("reveal", "get", "write"):
        values = tally.latencies.get(kind, [])
        everything += values
        print(
            f"| {kind} | {len(values)} | {_percentile(values, 0.5) * 1000:.1f} ms "
            f"| {_percentile(values, 0.99) * 1000:.1f} ms "
            f"| {max(values, default=0) * 1000:.1f} ms |"
        )
    p50, p99 = _percentile(everything, 0.5) * 1000, _percentile(everything, 0.99) * 1000
    print(f"| all | {len(everything)} | {p50:.1f} ms | {p99:.1f} ms | |")
    print(
        f"\nsent {tally.sent}, succeeded {tally.ok}, errors {errors}"
        + (
            f" ({', '.join(f'{k}: {v}' for k, v in sorted(tally.errors.items()))})"
            if errors
            else ""
        )
        + f"; achieved {achieved:.1f} requests/s in the measured part (scheduled {args.rate:.0f}); "
        f"the last response came {finished - end:.2f} s after the schedule ended."
    )
    first_mib, second_mib = statistics.mean(first) / 1024, statistics.mean(second) / 1024
    print(
        f"\nServer RSS, sampled every second ({len(measured)} samples measured): start "
        f"{measured[0] / 1024:.1f} MiB, end {measured[-1] / 1024:.1f} MiB, max "
        f"{max(measured) / 1024:.1f} MiB; mean of the first half {first_mib:.1f} MiB, of the "
        f"second {second_mib:.1f} MiB: growth {growth * 100:+.1f} % (target within "
        f"{GROWTH_TARGET * 100:.0f} %)."
    )
    print(
        "\nRSS per 5 s (MiB): "
        + ", ".join(f"{kb / 1024:.1f}" for kb in [kb for _, kb in samples][::5])
    )
    chain_ok = verify.returncode == 0
    print(
        f"\n`stacksafe audit verify`: exit {verify.returncode}, "
        f"{verify.stdout.strip() or verify.stderr.strip()}; "
        f"events added during the soak: {events_added} for {tally.ok} successful requests "
        f"({'OK' if events_added == tally.ok else 'UNEXPECTED'})."
    )
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    emit(
        f"soak: errors in {args.warmup + args.duration:.0f} s at {args.rate:.0f} req/s",
        measured=f"{errors} errors of {tally.sent}",
        baseline=f"achieved {achieved:.1f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        target="0 errors, audit chain intact",
        passed=errors == 0 and chain_ok and events_added == tally.ok,
    )
    emit(
        "soak: server RSS growth, second half vs first",
        measured=f"{growth * 100:+.1f} % ({statistics.mean(second) / 1024:.1f} MiB)",
        baseline=f"first half {statistics.mean(first) / 1024:.1f} MiB",
        ratio=statistics.mean(second) / statistics.mean(first),
        target=f"within {GROWTH_TARGET * 100:.0f} %",
        passed=abs(growth) <= GROWTH_TARGET,
    )


if __name__ == "__main__":
    main()
