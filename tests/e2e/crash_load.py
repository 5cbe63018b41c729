"""A write load that a test can cut short with ``kill -9``, and what it knows afterwards.

``plan_writes`` lays out the writes: most to keys written once, the rest to a few hot keys
written over and over (so versions pile up), each with a value no other write has, so the
value stored says which write it came from. ``with_reveals`` slips reveals of a quiet stack in
between, each with its own ``Request-Id`` so that its audit event can be found afterwards.
``run_until_killed`` sends them from concurrent threads, each with its own keep-alive
connections (``Session``), and SIGKILLs the server from inside the bookkeeping lock at the
moment the chosen number of writes has been acknowledged. While the lock is held no thread can
start or settle an operation and the server is dead before it is released, so the ``Load`` it
returns splits every operation exactly: acknowledged (with what the server answered), in
flight at the kill (sent, not yet answered), or never sent.
"""

from __future__ import annotations

import os
import random
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from stacksafe.client import Client, error_from_response
from stacksafe.client.transport import KEEPALIVE_EXPIRY
from stacksafe.errors import ServerUnreachable

__all__ = [
    "Load",
    "Reveal",
    "Session",
    "Write",
    "is_cut_off",
    "plan_writes",
    "run_until_killed",
    "with_reveals",
]

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


@dataclass(frozen=True, slots=True)
class Reveal:
    """One planned reveal of the quiet stack: of ``key``, or of the whole list (None)."""

    index: int
    key: str | None
    request_id: str


Operation = Write | Reveal


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


def with_reveals(
    rng: random.Random, writes: Sequence[Write], share: float, keys: Sequence[str], tag: str
) -> list[Operation]:
    """``writes`` with a reveal before each one at chance ``share``: of one of ``keys`` or
    (one in three) of the whole list; request ids are ``tag``-r<index>."""
    operations: list[Operation] = []
    reveals = 0
    for write in writes:
        if rng.random() < share:
            key = None if rng.random() < 1 / 3 else rng.choice(keys)
            operations.append(Reveal(reveals, key, f"{tag}-r{reveals}"))
            reveals += 1
        operations.append(write)
    return operations


class Session:
    """One load thread's keep-alive connections: the SDK for writes, plain HTTP for reveals
    (which send their own ``Request-Id`` and are read back as the server answered them)."""

    def __init__(
        self,
        address: str,
        token: str,
        ca: Path,
        *,
        stack: str,
        account: str,
        quiet_stack: str,
        timeout: float,
    ) -> None:
        self._stack, self._account = stack, account
        self._quiet = f"/stacks/{quiet_stack}/secrets"
        self._client = Client(address, token, ca_bundle=str(ca), timeout=timeout)
        self._reveals = httpx.Client(
            base_url=f"{address}/api/3",
            headers={"Authorization": f"Bearer {token}"},
            verify=ssl.create_default_context(cafile=str(ca)),
            timeout=timeout,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),  # as the SDK's
        )

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._client.close()
        self._reveals.close()

    def write(self, write: Write) -> int:
        """The version the server acknowledged."""
        written = self._client.set_secret(
            write.key,
            write.value,
            stack=self._stack if write.on_stack else None,
            account=None if write.on_stack else self._account,
        )
        return written.version

    def reveal(self, reveal: Reveal) -> dict[str, str]:
        """Key -> value, as the server answered."""
        try:
            response = self._reveals.get(
                self._quiet if reveal.key is None else f"{self._quiet}/{reveal.key}",
                params={"reveal": "true"},
                headers={"Request-Id": reveal.request_id},
            )
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"no answer to a reveal: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise error_from_response(response)
        body = response.json()["response"]
        return {item["key"]: item["raw_value"] for item in (body if reveal.key is None else [body])}


@dataclass
class Load:
    """What the clients know once the load is over, by write and reveal index."""

    operations: Sequence[Operation]
    acked: dict[int, int] = field(default_factory=dict)  # write -> version the server answered
    revealed: dict[int, dict[str, str]] = field(default_factory=dict)  # reveal -> key -> value
    started: set[int] = field(default_factory=set)  # writes sent
    started_reveals: set[int] = field(default_factory=set)
    in_flight_at_kill: frozenset[int] = frozenset()  # writes
    failed: dict[str, str] = field(default_factory=dict)  # "write #3" -> what the client raised
    failed_before_kill: dict[str, str] = field(default_factory=dict)
    killed: bool = False
    exit_status: int | None = None  # the server's, as Popen reports it (-9: SIGKILL)
    writes: list[Write] = field(init=False)  # by index
    reveals: list[Reveal] = field(init=False)  # by index

    def __post_init__(self) -> None:
        self.writes = [op for op in self.operations if isinstance(op, Write)]
        self.reveals = [op for op in self.operations if isinstance(op, Reveal)]
        assert [w.index for w in self.writes] == list(range(len(self.writes)))
        assert [r.index for r in self.reveals] == list(range(len(self.reveals)))

    def __repr__(self) -> str:  # a summary: the full record is thousands of entries
        return (
            f"Load({len(self.started)} writes sent, {len(self.acked)} acknowledged, "
            f"{len(self.in_flight_at_kill)} in flight at the kill; {len(self.started_reveals)} "
            f"reveals sent, {len(self.revealed)} answered; {len(self.failed)} failed, "
            f"{len(self.failed_before_kill)} before the kill; exit status {self.exit_status})"
        )

    @property
    def unacknowledged(self) -> set[int]:
        """Writes sent but never answered: each may or may not have been written."""
        return self.started - set(self.acked)


def run_until_killed(
    server: subprocess.Popen[bytes],
    operations: Sequence[Operation],
    connect: Callable[[], Session],
    *,
    threads: int,
    kill_after: int,
    deadline: float,
) -> Load:
    """Send ``operations`` from ``threads`` sessions; SIGKILL ``server`` once ``kill_after``
    writes are acknowledged.

    Each thread stops at its first failure; after the kill, or past ``deadline`` (a
    ``time.monotonic()`` value), no thread starts another operation.
    """
    load = Load(operations)
    lock = threading.Lock()
    following = iter(operations)
    in_flight: set[int] = set()

    def kill() -> None:  # called with ``lock`` held
        load.in_flight_at_kill = frozenset(in_flight)
        os.kill(server.pid, signal.SIGKILL)
        load.exit_status = server.wait(KILL_WAIT)
        load.killed = True

    def fail(label: str, exc: BaseException) -> None:  # called with ``lock`` held
        failure = f"{type(exc).__name__}: {exc}"
        load.failed[label] = failure
        if not load.killed:
            load.failed_before_kill[label] = failure

    def send(session: Session, write: Write) -> bool:
        try:
            version = session.write(write)
        except BaseException as exc:  # recorded, whatever it is: none escapes the thread
            with lock:
                in_flight.discard(write.index)
                fail(f"write #{write.index}", exc)
            return False
        with lock:
            in_flight.discard(write.index)
            load.acked[write.index] = version
            if len(load.acked) == kill_after and not load.killed:
                kill()
        return True

    def read(session: Session, reveal: Reveal) -> bool:
        try:
            answered = session.reveal(reveal)
        except BaseException as exc:  # recorded, whatever it is: none escapes the thread
            with lock:
                fail(f"reveal #{reveal.index}", exc)
            return False
        with lock:
            load.revealed[reveal.index] = answered
        return True

    def client_thread() -> None:
        with connect() as session:
            while True:
                with lock:
                    late = time.monotonic() > deadline
                    operation = None if load.killed or late else next(following, None)
                    if operation is None:
                        return
                    if isinstance(operation, Write):
                        load.started.add(operation.index)
                        in_flight.add(operation.index)
                    else:
                        load.started_reveals.add(operation.index)
                done = (
                    send(session, operation)
                    if isinstance(operation, Write)
                    else read(session, operation)
                )
                if not done:
                    return

    workers = [threading.Thread(target=client_thread, name=f"load-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return load


def is_cut_off(failure: str) -> bool:
    """Whether an operation failed as one cut off by the server's death does."""
    return failure.startswith(f"{ServerUnreachable.__name__}: ")
