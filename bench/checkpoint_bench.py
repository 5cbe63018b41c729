"""The audit checkpoint's cost: audit appends per second through the group commit with the
checkpoint writer on (interval 1 s) and off, interleaved rounds; and one checkpoint write.

SQLite in a temporary directory under the current one (a real disk, synchronous=FULL), 8
threads appending reveal events. Run from the repository root:
``.venv/bin/python bench/checkpoint_bench.py [--rounds 6] [--seconds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from stacksafe.core.access import Principal
from stacksafe.core.audit import append, write_genesis
from stacksafe.core.installation import Installation, initialise
from stacksafe.settings import Settings

ACTOR = Principal.local("local:bench")


def appends_per_second(installation: Installation, seconds: float, threads: int = 8) -> float:
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def work(slot: int) -> None:
        while time.perf_counter() < stop:
            append(installation, ACTOR, "reveal", detail={"keys": {"K": 1}})
            counts[slot] += 1

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as directory:
        installation, _ = initialise(Settings.load({}, data_dir=Path(directory).absolute()))
        write_genesis(installation, ACTOR)
        writer = installation.audit_checkpoint
        assert writer is not None
        on, off = [], []
        for _ in range(args.rounds):
            installation.audit_checkpoint = writer
            on.append(appends_per_second(installation, args.seconds))
            installation.audit_checkpoint = None
            off.append(appends_per_second(installation, args.seconds))
        installation.audit_checkpoint = writer
        flushes = []
        for _ in range(100):
            append(installation, ACTOR, "reveal")
            started = time.perf_counter()
            writer.flush()
            flushes.append(time.perf_counter() - started)
        assert writer.problem is None, writer.problem
        installation.close()
    ratio = statistics.median(on) / statistics.median(off)
    on_rate, off_rate = statistics.median(on), statistics.median(off)
    print(f"appends/s with checkpoints {on_rate:.0f}, without {off_rate:.0f}: ratio {ratio:.3f}")
    print(f"rounds on {[round(x) for x in on]}, off {[round(x) for x in off]}")
    flush_ms = statistics.median(flushes) * 1e3
    print(f"one checkpoint write (head read, file replaced, 2 fsyncs): median {flush_ms:.2f} ms")


if __name__ == "__main__":
    main()
