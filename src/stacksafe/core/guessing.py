"""Failed guesses, counted per target in the database so that limits hold across servers.

A target is what is being guessed, or who is guessing: the email of a sign-in, the address
that sends bad tokens. Each kind of target has a ``Limit``: so many failures per window, as a
sliding-window estimate over two fixed windows (the previous window's count weighed by how much
of it the sliding window still covers, as api.ratelimit). The counts are rows of ``failures``
(migration 0012) keyed by a keyed hash of the kind and the target, so every server on the
database sees the same counts, and the database holds no email or address in clear.

Only failures are counted: a valid credential costs nothing here and is never refused by these
counts. A target found over its limit is remembered in the process until it may try again, so a
flood of failures costs no database write per request after the first ones.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

from stacksafe.core.access import Principal
from stacksafe.core.audit import record_denied
from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.errors import TooManyFailures
from stacksafe.store import Connection
from stacksafe.store import failures as queries

__all__ = ["BAD_TOKENS", "BadTokens", "Counted", "FailureCounts", "Limit", "address_counted"]

MEMO_TARGETS = 10_000  # targets remembered as throttled per process (least recent forgotten)
# Invalid tokens per source address: tokens are 256-bit random, so this limit is not what
# keeps them from being guessed; it tells a broken or hostile client to back off, and keeps
# what its failures cost (a write each) bounded.
BAD_TOKENS = 20, 60


def address_counted(address: str) -> str:
    """What failures from ``address`` are counted by: the address, or for IPv6 its /64 (one
    host usually has a whole /64 to send from: counted per address, it would have 2**64
    fresh budgets, and each would cost a database write)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown", a test client's name
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` per ``seconds`` for each target of ``kind``."""

    kind: str
    failures: int
    seconds: int

    def __post_init__(self) -> None:
        if self.failures < 1 or self.seconds < 1:
            raise ValueError(f"{self.kind}: a limit needs at least one failure and one second")


@dataclass(frozen=True, slots=True)
class Counted:
    """What a target's count says now."""

    throttled: bool  # over its limit: refuse (or answer "slow down") without checking
    failures: int  # the sliding estimate, rounded up, this failure included when counted
    retry_after: int  # seconds until the target may fail once more without being throttled
    started: bool = False  # this failure put the target over its limit (worth one audit event)
    in_window: int = 0  # failures counted in the current fixed window, this one included


class FailureCounts:
    """Failures per target of one ``Limit``, in the database."""

    def __init__(self, installation: Installation, limit: Limit) -> None:
        self.installation = installation
        self.limit = limit
        self._throttled: OrderedDict[bytes, float] = OrderedDict()  # key -> until (epoch s)
        self._pruned = -1  # the last period this process pruned old counts in
        self._lock = threading.Lock()

    def _key(self, target: str) -> bytes:
        return keyed_hash(self.installation, TOKEN_HASH).digest(
            b"failures", self.limit.kind.encode(), target.encode()
        )

    def _now(self) -> float:
        return self.installation.clock().timestamp()

    # --- without a transaction of the caller's --------------------------------------------

    def failed(self, target: str) -> Counted:
        """Count a failure of ``target`` (after the check failed): whether it is now over
        its limit. Once over, it is remembered here until it may try again, and further
        failures are not written (they would only extend what is already refused)."""
        key, now = self._key(target), self._now()
        remembered = self._remembered(key, now)
        if remembered is not None:
            return remembered
        counted = self.installation.store.transact(
            lambda conn: self._count(conn, key, now, keep_over=True), "counting a failure"
        )
        self._remember(key, now, counted)
        return counted

    def check(self, target: str) -> Counted:
        """Whether ``target`` is over its limit now, counting nothing (a read)."""
        key, now = self._key(target), self._now()
        remembered = self._remembered(key, now)
        if remembered is not None:
            return remembered
        with self.installation.store.read() as conn:
            previous, current = self._counts(conn, key, now)
        return self._judge(previous, current, now, counted=False)

    # --- inside the caller's transaction ----------------------------------------------------

    def attempt_in(self, conn: Connection, target: str) -> Counted:
        """Count an attempt *before* it is checked, so that concurrent attempts (on any
        server) cannot each slip past the limit; over the limit, nothing is counted and the
        answer is throttled. ``forgive_in`` takes the attempt back when it was right."""
        key, now = self._key(target), self._now()
        remembered = self._remembered(key, now)
        if remembered is not None:
            return remembered
        counted = self._count(conn, key, now, keep_over=False)
        self._remember(key, now, counted)
        return counted

    def forgive_in(self, conn: Connection, target: str) -> None:
        queries.take_back_failure(conn, self._key(target), self._period(self._now()))

    # --- the arithmetic ---------------------------------------------------------------------

    def _period(self, now: float) -> int:
        return math.floor(now / self.limit.seconds)

    def _counts(self, conn: Connection, key: bytes, now: float) -> tuple[int, int]:
        period = self._period(now)
        found = queries.failure_counts(conn, key, (period - 1, period))
        return found.get(period - 1, 0), found.get(period, 0)

    def _count(self, conn: Connection, key: bytes, now: float, *, keep_over: bool) -> Counted:
        period, seconds = self._period(now), self.limit.seconds
        if period != self._pruned:
            # About once per window per process (two threads may both prune: harmless): rows
            # older than the previous window weigh nothing.
            self._pruned = period
            queries.prune_failures(conn, math.floor(now))
        # The upsert's own count: what this transaction made it, whatever others do meanwhile.
        current = queries.add_failure(conn, key, period, (period + 2) * seconds)
        previous, _ = self._counts(conn, key, now)
        before = self._judge(previous, current - 1, now, counted=False)
        if not keep_over:  # an attempt: refused (and not counted) when already at the limit
            if before.throttled:
                queries.take_back_failure(conn, key, period)
                return before
            return Counted(False, before.failures + 1, 0)
        after = self._judge(previous, current, now, counted=True)
        # Started: this failure is over the limit, the one before it was not.
        was = self._judge(previous, current - 1, now, counted=True)
        return replace(after, started=after.throttled and not was.throttled, in_window=current)

    def _judge(self, previous: int, current: int, now: float, *, counted: bool) -> Counted:
        """``counted``: ``current`` includes a failure just counted, which is over the limit
        when the estimate exceeds it; else the next failure would be, when it reaches it."""
        limit, seconds = self.limit.failures, self.limit.seconds
        start = self._period(now) * seconds
        estimate = previous * (seconds - (now - start)) / seconds + current
        throttled = estimate > limit if counted else estimate >= limit
        # Seconds until one more failure fits: the previous window must fade until
        # ``previous * (1 - elapsed / seconds) <= room``; when the current window alone is
        # full, that is the next window, in which the current one is the previous.
        room = limit - 1 - current
        if room < 0:
            start, room, previous = start + seconds, limit - 1, current
        if previous <= room:
            wait = start - now if start > now else 0.0
        else:
            wait = start + seconds * (1.0 - room / previous) - now
        return Counted(throttled, math.ceil(estimate), max(1, math.ceil(wait)) if throttled else 0)

    # --- the memo of targets over their limit -----------------------------------------------

    def _remembered(self, key: bytes, now: float) -> Counted | None:
        with self._lock:
            until = self._throttled.get(key)
            if until is None:
                return None
            if until <= now:
                del self._throttled[key]
                return None
        return Counted(True, self.limit.failures, max(1, math.ceil(until - now)))

    def _remember(self, key: bytes, now: float, counted: Counted) -> None:
        if not counted.throttled:
            return
        with self._lock:
            self._throttled[key] = now + counted.retry_after
            self._throttled.move_to_end(key)
            while len(self._throttled) > MEMO_TARGETS:
                self._throttled.popitem(last=False)


class BadTokens:
    """Invalid bearer tokens per source address.

    A bearer token is not aimed at one account (any token of any user would do), so there is
    no guessed target to count by; the address is what is counted, and only its *failures*:
    every token is checked first, and a valid one is answered whatever its address sent
    before (behind a load balancer every client has its address). Past the limit, further
    invalid tokens from the address are answered 429 with Retry-After instead of 401, written
    nowhere, and recorded once: the failure that crossed the limit is one audit event with
    the count, not one per request."""

    def __init__(
        self,
        installation: Installation,
        failures: int = BAD_TOKENS[0],
        seconds: int = BAD_TOKENS[1],
    ):
        self.counts = FailureCounts(installation, Limit("bad-token-address", failures, seconds))

    def failed(self, address: str, request_id: str | None) -> None:
        """Count an invalid token from ``address``; ``TooManyFailures`` when that is over the
        limit (the caller answers it instead of the token's own refusal)."""
        counted = self.counts.failed(address_counted(address))
        if not counted.throttled:
            return
        refused = TooManyFailures(
            f"too many invalid tokens from this address; retry in {counted.retry_after} s "
            "(valid tokens are still accepted)",
            retry_after=counted.retry_after,
        )
        if counted.started:
            anonymous = Principal(name="api:token", source_ip=address, request_id=request_id)
            record_denied(
                self.counts.installation,
                anonymous,
                "token.throttled",
                refused.message,
                detail={
                    "failures": counted.failures,
                    "window_seconds": self.counts.limit.seconds,
                },
            )
        raise refused

    def check(self, address: str) -> None:
        """``TooManyFailures`` when ``address`` is over its limit now, counting nothing: for
        attempts that cost more than a token check (a workload login checks a signature and
        records its refusal), refused before they are made."""
        counted = self.counts.check(address_counted(address))
        if counted.throttled:
            raise TooManyFailures(
                f"too many failed attempts from this address; retry in {counted.retry_after} s",
                retry_after=counted.retry_after,
            )
