"""Spare PostgreSQL databases: made before the tests that take them, dropped after, off their path.

``CREATE DATABASE`` (its copy of the template's files and the checkpoints around it) and ``DROP
DATABASE ... WITH (FORCE)`` were most of a PostgreSQL test's wait (bench/README.md, "Measured
outside these scripts"). A ``Spares`` runs both on a thread of its own: it keeps a few databases
of each kind a test has asked for ready (empty, or a copy of a template) and drops the
ones tests hand back while the next tests run. Every test still gets a database nobody else
touched: each spare is made for the one test that takes it and dropped after, never reused.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from tests.postgres import Admin, Cluster


@dataclass(frozen=True)
class _Make:
    name: str
    template: str | None


@dataclass(frozen=True)
class _Drop:
    name: str


class Spares:
    """Databases of one cluster for one test session (one pytest-xdist worker)."""

    def __init__(self, cluster: Cluster, prefix: str = "stacksafe_test", depth: int = 2) -> None:
        self.cluster = cluster
        self._prefix = prefix
        self._depth = depth
        self._numbers = itertools.count(1)
        # Per kind the thread has made (a template's name, None: empty), the databases made and
        # not yet taken; it keeps ``depth`` of each ready.
        self._ready: dict[str | None, deque[str]] = {}
        self._waiting: set[str | None] = set()
        self._handed_back: deque[str] = deque()
        # Every database made here and not dropped yet, taken or not: what closing drops.
        self._made: set[str] = set()
        self._stalled = False  # the last job failed: a take makes its own database
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="pg-spares", daemon=True)
        self._thread.start()

    def take(self, template: str | None = None) -> str:
        """The name of a new database, empty or a copy of ``template``, for the caller alone.

        Waits only when none is ready yet (the kind's first request, or tests outrunning the
        thread). If the thread cannot make one (the cluster refused it), it is made here, so the
        error fails the test that asked."""
        with self._changed:
            self._waiting.add(template)
            self._changed.notify_all()
            while not self._ready.get(template) and not self._stalled and not self._closing:
                self._changed.wait()
            self._waiting.discard(template)
            ready = self._ready.get(template)
            if ready:
                name = ready.popleft()
                self._changed.notify_all()  # one more of this kind to make
                return name
            name = self._name()
        self.cluster.create_database(name, template)
        return name

    @contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        """The URL of a database ``take`` gives, handed back when the block ends."""
        name = self.take(template)
        try:
            yield self.cluster.url(name)
        finally:
            self.hand_back(name)

    def hand_back(self, name: str) -> None:
        """A database its test is done with: dropped on the thread, connections and all."""
        with self._changed:
            self._handed_back.append(name)
            self._changed.notify_all()

    def close(self) -> None:
        """Stop the thread, then drop every database made here and not dropped yet, taken or
        not (session end)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        for name in sorted(self._made):
            self.cluster.drop_database(name)
        self._made.clear()

    def _name(self) -> str:
        """A new database's name, dropped at close if nothing dropped it before (hold the lock)."""
        name = f"{self._prefix}_{next(self._numbers)}"
        self._made.add(name)
        return name

    def _next(self) -> _Make | _Drop | None:
        """What to do first: a database a test waits for, then a drop, then a spare to keep up
        ``depth`` of each kind. Called holding the lock."""
        for template in self._waiting:
            if not self._ready.get(template):
                return _Make(self._name(), template)
        if self._handed_back:
            return _Drop(self._handed_back.popleft())
        for template, ready in self._ready.items():
            if len(ready) < self._depth:
                return _Make(self._name(), template)
        return None

    def _work(self) -> None:
        admin: Admin | None = None
        try:
            while (job := self._next_job()) is not None:
                try:
                    if admin is None or admin.closed:
                        admin = self.cluster.admin()
                    if isinstance(job, _Make):
                        self.cluster.create_database(job.name, job.template, admin)
                    else:
                        self.cluster.drop_database(job.name, admin)
                except psycopg.Error:
                    self._failed(job)
                else:
                    self._done(job)
        finally:
            if admin is not None:
                admin.close()

    def _next_job(self) -> _Make | _Drop | None:
        """The next job, waiting for one; None once closing."""
        with self._changed:
            while not self._closing:
                job = self._next()
                if job is not None:
                    return job
                self._changed.wait()
            return None

    def _done(self, job: _Make | _Drop) -> None:
        with self._changed:
            if isinstance(job, _Make):
                self._ready.setdefault(job.template, deque()).append(job.name)
            else:
                self._made.discard(job.name)
            self._changed.notify_all()

    def _failed(self, job: _Make | _Drop) -> None:
        """A waiting ``take`` makes its database itself; the thread tries again once a test
        asks or hands back (a test may have stopped the cluster for a while)."""
        with self._changed:
            if isinstance(job, _Drop):
                self._handed_back.append(job.name)
            elif not self._ready.get(job.template):
                self._ready.pop(job.template, None)  # kept up again once one is made
            self._stalled = True
            self._changed.notify_all()
            self._changed.wait()
            self._stalled = False
