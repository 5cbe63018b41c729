"""The serving process's one watcher of stack changes, shared by every push stream it serves
(`GET /api/3/stacks/{uid}/changes`, api.routes.changes).

One thread polls, not one per subscriber: every ``poll_seconds`` (while any stream is open) it
reads the watched stacks' secrets revisions and the principals revision in one small query
(core.streams.changes.poll). Because the database's triggers replace those revisions on every
write, a change written by another server on the same PostgreSQL shows here as surely as one of
this server's. Only a stack whose revisions moved has its signature computed again; only when
the signature changed are that stack's streams woken (asyncio events set on the event loop).
A moved principals revision (a token revoked, a role removed) wakes every stream, each of which
checks its token again at once.

Bounded: at most ``per_token`` streams per token and ``total`` in all (``TooManyStreams``, 429,
beyond). ``close`` (the server shutting down) ends every stream at once: uvicorn waits for open
responses before it stops, and an event stream never ends by itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from stacksafe.core.installation import Installation
from stacksafe.core.streams.changes import StackState, poll, signature_of
from stacksafe.errors import TooManyStreams
from stacksafe.settings import DEFAULT_CHANGE_STREAMS, DEFAULT_CHANGE_STREAMS_PER_TOKEN

__all__ = [
    "DEFAULT_PER_TOKEN",
    "DEFAULT_TOTAL",
    "HEARTBEAT_SECONDS",
    "POLL_SECONDS",
    "ChangeHub",
    "StreamLimits",
    "Subscription",
]

log = logging.getLogger(__name__)

# Under a second from a write to its event, at four small queries a second per process.
POLL_SECONDS = 0.25
# A comment sent this often on a quiet stream: proxies close idle connections (nginx: 60 s).
HEARTBEAT_SECONDS = 15.0
# Each open stream holds a connection and, now and then, a token check on a request thread
# (`stacksafe serve`: STACKSAFE_CHANGE_STREAMS, STACKSAFE_CHANGE_STREAMS_PER_TOKEN).
DEFAULT_PER_TOKEN = DEFAULT_CHANGE_STREAMS_PER_TOKEN
DEFAULT_TOTAL = DEFAULT_CHANGE_STREAMS


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How many change streams one serving process keeps open: per token, and in all."""

    per_token: int = DEFAULT_PER_TOKEN
    total: int = DEFAULT_TOTAL
    poll_seconds: float = POLL_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS


@dataclass(eq=False)
class Subscription:
    """One open stream: the stack it watches and who opened it (the token, to check it again;
    never shown). ``woken`` is set on the event loop when the stream has something to look at:
    its stack's signature changed, the stack is gone, the principals changed, or the hub closed.
    """

    stack_id: int
    stack_uid: str
    holder: str  # the token's id: what the per-token bound counts
    token: str = field(repr=False)
    source_ip: str | None
    request_id: str | None
    woken: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class ChangeHub:
    """The watched stacks, their last known state and signature, and the streams on each."""

    def __init__(self, installation: Installation, limits: StreamLimits | None = None) -> None:
        self.installation = installation
        self.limits = limits or StreamLimits()
        self.closing = False
        self._lock = threading.Lock()
        self._streams: dict[int, set[Subscription]] = {}
        self._holders: Counter[str] = Counter()
        self._count = 0
        # By stack id: the state and signature last seen; a stack deleted maps to None.
        self._known: dict[int, tuple[StackState, str] | None] = {}
        self._principals: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"ChangeHub(streams={self._count}, stacks={len(self._streams)})"

    @property
    def open_streams(self) -> int:
        return self._count

    def subscribe(
        self, subscription: Subscription, state: StackState, signature: str, principals: str
    ) -> Subscription:
        """Count ``subscription`` in (``TooManyStreams`` past a bound), watching its stack from
        ``state`` and ``signature`` (and the principals from ``principals``) unless they are
        watched already. On the event loop."""
        loop = asyncio.get_running_loop()
        limits = self.limits
        with self._lock:
            if self.closing:
                raise TooManyStreams("the server is shutting down; connect again", retry_after=1)
            if self._holders[subscription.holder] >= limits.per_token:
                raise TooManyStreams(
                    f"this token has {limits.per_token} change streams open, the most one token "
                    "may; close one (or poll the secret list instead)",
                    retry_after=15,
                )
            if limits.total == 0:
                raise TooManyStreams(
                    "this server serves no change streams (STACKSAFE_CHANGE_STREAMS=0); poll the "
                    "secret list instead",
                    retry_after=3600,
                )
            if self._count >= limits.total:
                raise TooManyStreams(
                    f"the server has {limits.total} change streams open, its limit; connect "
                    "again later (or poll the secret list instead)",
                    retry_after=15,
                )
            self._holders[subscription.holder] += 1
            self._count += 1
            self._streams.setdefault(subscription.stack_id, set()).add(subscription)
            if self._known.get(subscription.stack_id) is None:
                self._known[subscription.stack_id] = (state, signature)
            if self._principals is None:
                self._principals = principals
            self._loop = loop
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="change-watcher", daemon=True
                )
                self._thread.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            watching = self._streams.get(subscription.stack_id)
            if watching is None or subscription not in watching:
                return
            watching.discard(subscription)
            self._count -= 1
            self._holders[subscription.holder] -= 1
            if self._holders[subscription.holder] <= 0:
                del self._holders[subscription.holder]
            if not watching:
                del self._streams[subscription.stack_id]
                self._known.pop(subscription.stack_id, None)

    def signature(self, stack_id: int) -> str | None:
        """The stack's signature as last polled; None once the stack is gone."""
        with self._lock:
            known = self._known.get(stack_id)
        return None if known is None else known[1]

    def close(self) -> None:
        """End every stream (each is woken and sees ``closing``) and the polling thread."""
        with self._lock:
            self.closing = True
            everyone = [s for watching in self._streams.values() for s in watching]
        self._stop.set()
        self._wake(everyone)

    # -- the polling thread ------------------------------------------------------------------

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.limits.poll_seconds):
            try:
                self._poll_once()
            except Exception as exc:  # the watcher must outlive an outage of the database
                if not failing:
                    # The type only: a driver's message may quote a statement's parameters.
                    log.warning(
                        "watching for changes failed (%s); trying again", type(exc).__name__
                    )
                failing = True
            else:
                failing = False

    def _poll_once(self) -> None:
        with self._lock:
            known = dict(self._known)
        if not known:
            return
        watched = poll(self.installation, list(known))
        woken: list[int] = []
        updates: dict[int, tuple[StackState, str] | None] = {}
        for stack_id, before in known.items():
            now = watched.stacks.get(stack_id)
            if now is None:
                if before is not None:
                    updates[stack_id] = None
                    woken.append(stack_id)
                continue
            if before is not None and before[0] == now:
                continue
            signature = signature_of(self.installation, stack_id, now)
            updates[stack_id] = (now, signature)
            if before is None or before[1] != signature:
                woken.append(stack_id)
        with self._lock:
            for stack_id, update in updates.items():
                if stack_id in self._streams:  # not dropped meanwhile by its last unsubscribe
                    self._known[stack_id] = update
            moved = self._principals is not None and self._principals != watched.principals
            self._principals = watched.principals
            if moved:
                targets = [s for watching in self._streams.values() for s in watching]
            else:
                targets = [s for i in woken for s in self._streams.get(i, ())]
        self._wake(targets)

    def _wake(self, subscriptions: Iterable[Subscription]) -> None:
        chosen = list(subscriptions)
        loop = self._loop
        if not chosen or loop is None:
            return

        def wake() -> None:
            for subscription in chosen:
                subscription.woken.set()

        try:
            loop.call_soon_threadsafe(wake)
        except RuntimeError:  # the loop is closed: the streams ended with it
            return
