"""Checkpoints of the audit log's head, kept outside the database, so a cut tail is seen.

A hash chain inside the database cannot see its own tail being cut: whoever can write to the
database can delete the newest events and put back an earlier copy of the head row, and what
remains is a valid chain. A checkpoint is the head (sequence and hash) at some moment, MAC'd
with the audit-chain key (wrapped by the master key, so the database's owner cannot forge one)
and written to a file outside the database (``<data dir>/audit.checkpoint`` by default,
``STACKSAFE_AUDIT_CHECKPOINT_FILE``). ``audit verify`` then requires the log to reach the
checkpoint's sequence with the event the checkpoint names.

The writer is monotonic: it never rewinds the file. A database head below the file's sequence,
or a different event at the file's sequence, is a detected rollback: the file is left as it is
(the evidence) and the problem is logged and reported by readiness. Checkpoints are written by
a thread of their own, at most once per interval, from the head as committed (never from an
append still in flight, which may roll back): the per-append cost is one integer comparison.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stacksafe.crypto import KeyedHash
from stacksafe.errors import IntegrityError, InvalidInput
from stacksafe.store import Connection, Store
from stacksafe.store import audit as queries

__all__ = [
    "Anchor",
    "CheckpointWriter",
    "head_mac",
    "head_matches",
    "parse_expected_head",
    "read_checkpoint",
    "set_aside",
]

log = logging.getLogger("stacksafe.audit")

FORMAT = "stacksafe-audit-checkpoint-1"
HASH_BYTES = 32

# What readiness shows of a problem (unauthenticated callers): its kind, never the file's path
# nor event numbers; the whole problem is in the server log.
ROLLED_BACK = "rolled back: see the server log"
FORGED = "forged or damaged: see the server log"
UNWRITABLE = "cannot be written: see the server log"


@dataclass(frozen=True, slots=True)
class Anchor:
    """An event the log must still hold: its sequence and hash, and where that came from."""

    seq: int
    hash: bytes
    source: str

    @property
    def text(self) -> str:
        """``SEQ:HASH``, as ``audit verify --expect-head`` takes it."""
        return f"{self.seq}:{self.hash.hex()}"


def head_mac(chain: KeyedHash, seq: int, digest: bytes) -> bytes:
    """The MAC of the head row in the database (seq, hash)."""
    return chain.digest(b"head", str(seq).encode(), digest)


def head_matches(chain: KeyedHash, seq: int, digest: bytes, mac: bytes) -> bool:
    return chain.matches(mac, b"head", str(seq).encode(), digest)


def _checkpoint_mac(chain: KeyedHash, seq: int, digest: bytes) -> bytes:
    # Its own label: a head row's MAC copied out of the database is no checkpoint.
    return chain.digest(FORMAT.encode(), str(seq).encode(), digest)


def parse_expected_head(text: str) -> Anchor:
    """An anchor an operator kept (``SEQ:HASH``, printed by ``audit verify``)."""
    seq_text, _, hash_text = text.strip().partition(":")
    try:
        seq = int(seq_text) if seq_text.isascii() and seq_text.isdigit() else 0
        digest = bytes.fromhex(hash_text)
    except ValueError:
        digest = b""
    if seq < 1 or len(digest) != HASH_BYTES:
        raise InvalidInput(
            "--expect-head must be SEQ:HASH, an event number and its 64-hex-digit hash as "
            f"`audit verify` prints them, not {text[:80]!r}"
        )
    return Anchor(seq, digest, f"--expect-head {seq}")


def read_checkpoint(path: Path, chain: KeyedHash) -> Anchor | None:
    """The checkpoint in ``path``, its MAC checked; None when there is no such file.

    A file that is not a checkpoint, or whose MAC does not match, is an ``IntegrityError``:
    someone without the master key wrote it, or it was damaged.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IntegrityError(f"cannot read the audit checkpoint {path}: {exc.strerror}") from None
    try:
        found = json.loads(raw)
        seq, digest, mac = found["seq"], bytes.fromhex(found["hash"]), bytes.fromhex(found["mac"])
        valid = found["format"] == FORMAT and type(seq) is int and seq >= 1
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise IntegrityError(f"the audit checkpoint {path} is damaged: it is not a checkpoint")
    if not chain.matches(mac, FORMAT.encode(), str(seq).encode(), digest):
        raise IntegrityError(
            f"the audit checkpoint {path} is forged or damaged: its MAC does not match "
            "(it was not written with this installation's keys)"
        )
    return Anchor(seq, digest, f"the checkpoint {path}")


def set_aside(path: Path, now: datetime) -> Path | None:
    """Rename the checkpoint at ``path`` (kept, as a record) so the next append starts a new
    one: for a restore, which rolls the log back on purpose. The new name, or None."""
    kept = path.with_name(f"{path.name}.before-restore-{now.strftime('%Y%m%dT%H%M%S.%fZ')}")
    with _exclusive(path) if path.parent.is_dir() else contextlib.nullcontext():
        try:
            os.replace(path, kept)
        except FileNotFoundError:
            return None
    return kept


def _render(chain: KeyedHash, seq: int, digest: bytes, at: datetime) -> bytes:
    mac = _checkpoint_mac(chain, seq, digest)
    return (
        json.dumps(
            {
                "format": FORMAT,
                "seq": seq,
                "hash": digest.hex(),
                "mac": mac.hex(),
                # When it was written: for people; not covered by the MAC.
                "written_at": at.isoformat(),
            }
        )
        + "\n"
    ).encode()


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """The checkpoint's lock file, held: several processes (workers, servers sharing a volume)
    read, compare and replace one file, and two writers interleaved could rewind it."""
    lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # releases the lock


def _replace(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or what it held before, never a part (tmp, fsync, rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself durable
    finally:
        os.close(directory)


class CheckpointWriter:
    """Writes the committed head to ``path``, at most every ``interval`` seconds while events
    are appended, and once more on ``close``. ``problem``: why the last attempt wrote nothing
    (a rollback it detected, a file it cannot write), or None; ``summary``: its kind only
    (``ROLLED_BACK``, ``FORGED``, ``UNWRITABLE``), for readiness."""

    def __init__(self, store: Store, chain: KeyedHash, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self.problem: str | None = None
        self.summary: str | None = None
        self._store = store
        self._chain = chain
        # The highest sequence this process appended, and the newest one anchored. Appends
        # hold the database's head lock when they set ``_appended``, so they do not race.
        self._appended = 0
        self._anchored = 0
        # The newest (sequence, hash) this process anchored: kept in memory, so a checkpoint
        # file deleted while it runs does not let it anchor a log cut behind it.
        self._last: tuple[int, bytes] | None = None
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def appended(self, seq: int) -> None:
        """An append reached ``seq`` (not committed yet): anchor it within the interval."""
        if seq > self._appended:
            self._appended = seq
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._starting:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="audit checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._appended > self._anchored:
                self.flush()

    def close(self) -> None:
        """Stop the thread; anchor what this process appended since the last checkpoint."""
        with self._starting:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join()
        if self._appended > self._anchored:
            self.flush()

    def flush(self, *, write: bool = True) -> None:
        """Anchor the committed head now (tests, ``close``); never raises: what went wrong
        is in ``problem`` and the log. ``write=False``: only compare the head with the file
        (readiness: a rollback is seen without waiting for the next append)."""
        with self._flushing:
            try:
                found = self._write(write)
            except Exception as exc:  # a database or file error: tried again next interval
                found = (
                    UNWRITABLE,
                    f"cannot write the audit checkpoint {self.path}: "
                    + (
                        exc.strerror
                        if isinstance(exc, OSError) and exc.strerror
                        else getattr(exc, "message", type(exc).__name__)
                    ),
                )
            summary, problem = found if found is not None else (None, None)
            if problem is not None and problem != self.problem:
                log.error("%s", problem)
            self.summary, self.problem = summary, problem

    def _write(self, write: bool) -> tuple[str, str] | None:
        """``(summary, problem)``, or None when the file holds the head (now)."""
        if not write and not self.path.parent.is_dir():
            return None  # no checkpoint yet: nothing to compare
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _exclusive(self.path), self._store.read() as conn:
            head = queries.read_head(conn)
            seq = 0 if head is None else head[0]
            if head is not None and seq > 0 and not head_matches(self._chain, *head):
                return FORGED, (
                    f"the audit head in the database (event {seq}) is forged: "
                    f"the checkpoint {self.path} was not moved to it"
                )
            try:
                current = read_checkpoint(self.path, self._chain)
            except IntegrityError as exc:
                return FORGED, (
                    f"{exc.message}; it is kept as it is until an operator moves it aside"
                )
            if current is None and self._last is not None:
                problem = self._behind_memory(conn, seq, self._last)
                if problem is not None:
                    return ROLLED_BACK, problem
            if current is not None:
                if current.seq > seq:
                    return ROLLED_BACK, (
                        "the audit log was rolled back: the database's head is "
                        + (f"event {seq}" if seq else "missing (every event deleted)")
                        + f", but the checkpoint {self.path} records event {current.seq}"
                    )
                if queries.event_hash(conn, current.seq) != current.hash:
                    return ROLLED_BACK, (
                        f"the audit log was rolled back and rewritten: event {current.seq} "
                        f"is not the one the checkpoint {self.path} records"
                    )
                if current.seq == seq:
                    self._anchored = max(self._anchored, seq)
                    self._last = (seq, current.hash)
                    return None
            if head is None or seq == 0 or not write:
                return None  # nothing committed yet, or only comparing
            _replace(self.path, _render(self._chain, seq, head[1], datetime.now(UTC)))
        self._anchored = max(self._anchored, seq)
        self._last = (seq, head[1])
        return None

    def _behind_memory(self, conn: Connection, seq: int, last: tuple[int, bytes]) -> str | None:
        """With the file gone: whether the log still holds what this process last anchored
        (a restart, which forgets it, is the way to accept a log cut on purpose)."""
        last_seq, last_hash = last
        if seq < last_seq:
            return (
                f"the audit log was rolled back: the checkpoint {self.path} is gone and the "
                "database's head is "
                + (f"event {seq}" if seq else "missing (every event deleted)")
                + f", below event {last_seq} this server anchored"
            )
        if queries.event_hash(conn, last_seq) != last_hash:
            return (
                f"the audit log was rolled back and rewritten: the checkpoint {self.path} is "
                f"gone and event {last_seq} is not the one this server anchored"
            )
        return None
