"""The serving process's one watcher of stack changes, shared by every push stream it serves
(`GET /api/3/stacks/{uid}/changes`, api.routes.changes).

One thread polls, not one per subscriber: every ``poll_seconds`` (while any stream is open) it
reads the watched stacks' secrets revisions and the principals revision in one small query
(core.streams.changes.poll). Because the database's triggers replace those revisions on every
write, a change written by another server on the same PostgreSQL shows here as surely as one of
this server's. Only a stack whose revisions moved has its signature computed again; only when
the signature changed are that stack's streams woken (asyncio events set on the event loop).

The streams' tokens are checked again by this thread too, never by the streams: one check per
distinct token and stack (a ``_Check``, shared by every stream opened with that token on that
stack), and only when it was last passed at another principals revision than the one polled
(a token created or revoked, a role changed), when its stack's environment moved, or when it
was never passed here. A stream is woken only when its check failed (``Subscription.ended``).
So a principals change costs one check per distinct token, not one request thread per stream;
and a new stream's check is never taken as done at a revision polled before the stream was
counted in (its token might have been revoked in between): it is checked at the next poll.

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
from stacksafe.core.streams.changes import StackState, poll, signature_of, still_watching
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
    its stack's signature changed, the stack is gone, its token's check failed (``ended`` says
    why, set before the wake), or the hub closed.
    """

    stack_id: int
    stack_uid: str
    holder: str  # the token's id: what the per-token bound counts
    token: str = field(repr=False)
    source_ip: str | None
    request_id: str | None
    woken: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    ended: str | None = None

    @property
    def check_key(self) -> tuple[str, str]:
        """What one check of the token answers for: the token on this stack."""
        return self.token, self.stack_uid

    def check(self, installation: Installation) -> str | None:
        """Why the stream must end now (core.streams.changes.still_watching), or None; a
        refusal recorded as from the stream's address and request. Reads the database."""
        return still_watching(
            installation,
            self.token,
            self.stack_uid,
            source_ip=self.source_ip,
            request_id=self.request_id,
        )


@dataclass(eq=False)
class _Check:
    """The check of one token on one stack, shared by the streams opened with both: passed at
    principals revision ``passed`` (None: not yet passed here), or ``refused`` for good. A
    refusal is recorded as from the first stream's address and request."""

    stack_id: int
    subscriptions: set[Subscription] = field(default_factory=set, repr=False)
    passed: str | None = None
    refused: str | None = None

    def due(self, principals: str) -> bool:
        return self.refused is None and self.passed != principals


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
        self._checks: dict[tuple[str, str], _Check] = {}
        # The principals revision last polled (for a look in a debugger: the checks keep theirs).
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
        self, subscription: Subscription, state: StackState, signature: str
    ) -> Subscription:
        """Count ``subscription`` in (``TooManyStreams`` past a bound), watching its stack from
        ``state`` and ``signature`` unless it is watched already; its token is checked again at
        the next poll, unless a stream with the same token on the same stack is counted in
        already (whose check then answers for both). On the event loop."""
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
            check = self._checks.get(subscription.check_key)
            if check is None:
                check = self._checks[subscription.check_key] = _Check(subscription.stack_id)
            elif check.refused is not None:
                # Refused before this stream's own check passed: a role given back meanwhile
                # may have mended it, so the refusal is found again (or not) at the next poll.
                check.passed = check.refused = None
            check.subscriptions.add(subscription)
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
            check = self._checks.get(subscription.check_key)
            if check is not None:
                check.subscriptions.discard(subscription)
                if not check.subscriptions:
                    del self._checks[subscription.check_key]

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
        moved: set[int] = set()  # stacks whose environment changed: who may see them may too
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
            if before is not None and before[0].environment != now.environment:
                moved.add(stack_id)
        with self._lock:
            for stack_id, update in updates.items():
                if stack_id in self._streams:  # not dropped meanwhile by its last unsubscribe
                    self._known[stack_id] = update
            self._principals = watched.principals
            targets = [s for i in woken for s in self._streams.get(i, ())]
            for check in self._checks.values():
                if check.stack_id in moved and check.refused is None:
                    check.passed = None
            due = {
                key: next(iter(check.subscriptions))
                for key, check in self._checks.items()
                if check.due(watched.principals)
            }
        self._wake(targets)
        if due:
            self._check_tokens(due, watched.principals)

    def _check_tokens(self, due: dict[tuple[str, str], Subscription], principals: str) -> None:
        """Check each of the ``due`` tokens on its stack (one stream of each says from where),
        after ``principals`` was read: a token revoked since shows as a revision moved at the
        next poll. Then end every stream whose check failed."""
        verdicts = {key: first.check(self.installation) for key, first in due.items()}
        ended: list[Subscription] = []
        with self._lock:
            for key, reason in verdicts.items():
                check = self._checks.get(key)
                if check is None:  # its streams ended meanwhile
                    continue
                if reason is None:
                    if check.refused is None:  # not re-refused meanwhile
                        check.passed = principals
                    continue
                check.refused = reason
                for subscription in check.subscriptions:
                    if subscription.ended is None:
                        subscription.ended = reason
                        ended.append(subscription)
        self._wake(ended)

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
