"""A write load that a test can cut short with ``kill -9``, and what it knows afterwards.

``plan_writes`` lays out the writes: most to keys written once, the rest to a few hot keys
written over and over (so versions pile up), each with a value no other write has, so the
value stored says which write it came from. ``run_until_killed`` sends them from concurrent
threads, one keep-alive connection each, and SIGKILLs the server from inside the bookkeeping
lock at the moment the chosen number of writes has been acknowledged. While the lock is held
no thread can start or settle a write and the server is dead before it is released, so the
``Load`` it returns splits every write exactly: acknowledged (with the version the server
answered), in flight at the kill (sent, not yet answered), or never sent.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stacksafe.client import Client
from stacksafe.errors import ServerUnreachable

__all__ = ["Load", "Write", "plan_writes", "run_until_killed"]

KILL_WAIT = 10.0  # seconds for the kernel to reap a SIGKILLed server


@dataclass(frozen=True, slots=True)
class Write:
    """One planned PUT: ``key`` at the stack (``on_stack``) or at its account."""

    index: int
    on_stack: bool
    key: str
    value: str

    @property
    def where(self) -> tuple[bool, str]:
        """The secret this write is to: (on the stack?, key)."""
        return self.on_stack, self.key

    def __repr__(self) -> str:  # the value stays out of assertion messages
        level = "stack" if self.on_stack else "account"
        return f"Write(#{self.index} {level} {self.key})"


def plan_writes(rng: random.Random, total: int, hot_keys: int, hot_share: float) -> list[Write]:
    """``total`` writes in sending order, ``hot_share`` of them to ``hot_keys`` hot keys.

    Levels alternate between the stack and its account; values are unique (the write's index
    is in them) and 7 to 1,506 characters long.
    """
    hot = [(n % 2 == 0, f"HOT_{n}") for n in range(hot_keys)]
    writes = []
    for index in range(total):
        if rng.random() < hot_share:
            on_stack, key = rng.choice(hot)
        else:
            on_stack, key = index % 2 == 0, f"KEY_{index:05d}"
        length = rng.randrange(0, 1500)
        filler = rng.randbytes(length // 2 + 1).hex()[:length]
        writes.append(Write(index, on_stack, key, f"w{index:05d}:{filler}"))
    return writes


@dataclass
class Load:
    """What the clients know once the load is over; write indexes throughout."""

    writes: Sequence[Write]
    acked: dict[int, int] = field(default_factory=dict)  # index -> version the server answered
    in_flight_at_kill: frozenset[int] = frozenset()
    failed: dict[int, str] = field(default_factory=dict)  # index -> what the client raised
    failed_before_kill: dict[int, str] = field(default_factory=dict)
    killed: bool = False
    exit_status: int | None = None  # the server's, as Popen reports it (-9: SIGKILL)

    def __repr__(self) -> str:  # a summary: the full record is thousands of entries
        return (
            f"Load({len(self.writes)} planned, {len(self.acked)} acknowledged, "
            f"{len(self.in_flight_at_kill)} in flight at the kill, {len(self.failed)} failed, "
            f"{len(self.failed_before_kill)} before the kill, exit status {self.exit_status})"
        )

    @property
    def sent(self) -> set[int]:
        return set(self.acked) | set(self.in_flight_at_kill) | set(self.failed)

    @property
    def unacknowledged(self) -> set[int]:
        """Sent but never answered: each may or may not have been written."""
        return self.sent - set(self.acked)


def run_until_killed(
    server: subprocess.Popen[bytes],
    writes: Sequence[Write],
    connect: Callable[[], Client],
    *,
    stack: str,
    account: str,
    threads: int,
    kill_after: int,
    deadline: float,
) -> Load:
    """Send ``writes`` from ``threads`` clients; SIGKILL ``server`` at ``kill_after`` acks.

    Each thread stops at its first failure; after the kill, or past ``deadline`` (a
    ``time.monotonic()`` value), no thread starts another write.
    """
    load = Load(writes)
    lock = threading.Lock()
    following = iter(writes)
    in_flight: set[int] = set()

    def kill() -> None:  # called with ``lock`` held
        load.in_flight_at_kill = frozenset(in_flight)
        os.kill(server.pid, signal.SIGKILL)
        load.exit_status = server.wait(KILL_WAIT)
        load.killed = True

    def client_thread() -> None:
        with connect() as client:
            while True:
                with lock:
                    late = time.monotonic() > deadline
                    write = None if load.killed or late else next(following, None)
                    if write is None:
                        return
                    in_flight.add(write.index)
                try:
                    written = client.set_secret(
                        write.key,
                        write.value,
                        stack=stack if write.on_stack else None,
                        account=None if write.on_stack else account,
                    )
                except BaseException as exc:  # recorded, whatever it is: none escapes the thread
                    with lock:
                        in_flight.discard(write.index)
                        failure = f"{type(exc).__name__}: {exc}"
                        load.failed[write.index] = failure
                        if not load.killed:
                            load.failed_before_kill[write.index] = failure
                    return
                with lock:
                    in_flight.discard(write.index)
                    load.acked[write.index] = written.version
                    if len(load.acked) == kill_after and not load.killed:
                        kill()

    workers = [threading.Thread(target=client_thread, name=f"load-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return load


def is_cut_off(failure: str) -> bool:
    """Whether a write failed as a write cut off by the server's death does."""
    return failure.startswith(f"{ServerUnreachable.__name__}: ")
