"""The hot read in-process: CPU per 200-secret reveal through the ASGI app, with no HTTP server.

Drives ``create_app(installation)`` directly (ASGI scope, receive and send in one process) with
``--concurrency`` requests in flight (default 32, as api_bench.py's wrk) on api_bench.py's
installation, and reports the process's CPU time per request (``time.process_time``: every
thread, so the thread pool and the audit writer count). Without uvicorn, sockets and wrk sharing
the CPUs, what the application itself costs per request shows steadily, and a change to it can
be measured in seconds. ``--profile FILE`` writes a yappi CPU profile of the timed requests
(functions by own time) for finding where that cost goes.

Run: ``.venv/bin/python bench/app_cpu.py [--requests 100] [--concurrency 32] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import api_bench
from anyio import to_thread
from results import emit

from stacksafe.api.app import create_app, default_threads
from stacksafe.core.installation import open_installation


def _scope(app: Any, path: str, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"reveal=true&per_page=1000",
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
        "state": {},
        "app": app,
    }


async def _drive(app: Any, path: str, token: str, concurrency: int, each: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def one() -> None:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_scope(app, path, token), receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"the app answered {sent[0]['status']}: {sent[1:]!r}"[:500])

    async def worker() -> None:
        for _ in range(each):
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="per concurrent client")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="write a yappi profile of the last round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stacksafe-app-cpu-") as tmp:
        inst = api_bench._install(Path(tmp) / "data")
        installation = open_installation(inst.settings)
        app = create_app(installation, rate_limit=10**9)
        path = f"/api/3/stacks/{inst.stack_uid}/secrets"

        async def run() -> list[float]:
            # What the app's lifespan sets when serving.
            to_thread.current_default_thread_limiter().total_tokens = default_threads(installation)
            await _drive(app, path, inst.token, args.concurrency, 10)  # warm: kept level, token
            per_request = []
            for round_no in range(args.rounds):
                last = round_no == args.rounds - 1
                if last and args.profile is not None:
                    import yappi

                    yappi.set_clock_type("cpu")
                    yappi.start()
                started = time.process_time()
                await _drive(app, path, inst.token, args.concurrency, args.requests)
                spent = time.process_time() - started
                if last and args.profile is not None:
                    yappi.stop()
                    stats = yappi.get_func_stats()
                    stats.sort("tsub")
                    with args.profile.open("w") as out:
                        stats.print_all(
                            out=out,
                            columns={
                                0: ("name", 100),
                                1: ("ncall", 9),
                                2: ("tsub", 9),
                                3: ("ttot", 9),
                            },
                        )
                per_request.append(1000 * spent / (args.concurrency * args.requests))
            return per_request

        try:
            per_request = asyncio.run(run())
        finally:
            installation.close()
    median = statistics.median(per_request)
    print("# The hot read in-process: CPU per 200-secret reveal through the ASGI app\n")
    print(
        f"{args.concurrency} concurrent clients x {args.requests} requests, {args.rounds} rounds: "
        + ", ".join(f"{x:.3f}" for x in per_request)
        + f" ms of CPU per request (median {median:.3f})"
        + (" (the profiled round is slower)" if args.profile else "")
    )
    emit("app CPU per 200-secret reveal, in-process", measured=f"{median:.3f} ms/req")


if __name__ == "__main__":
    main()
