"""The SDK's change stream: a stack's changes pushed by the server (`GET /stacks/{uid}/changes`,
server-sent events; docs/api.md), as an iterator of typed notifications.

>>> with client.stack_changes(stack_uid) as changes:           # doctest: +SKIP
...     for note in changes:
...         if isinstance(note, StackChange):
...             refetch()

A broken connection (the server restarting, a proxy's timeout, an ``end`` event) is not the end:
the stream says so (``StreamInterrupted``, with the wait before the next attempt), connects
again with ``Last-Event-ID`` and its first event says whether the stack changed meanwhile
(``change``) or not (``ready``). What cannot get better by waiting is raised as the server said
it: the token refused (401, 403), the stack or the endpoint missing (404, 405: an older server;
poll instead).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from types import TracebackType

import httpx

from stacksafe.client.models.changes import ChangeNote, StackChange, StreamInterrupted
from stacksafe.client.transport import Transport, error_from_response, path_segment
from stacksafe.errors import StacksafeError, Throttled

__all__ = ["ChangeNote", "ChangeStream", "Changes", "StackChange", "StreamInterrupted"]

# Seconds without a byte before the connection counts as broken: the server sends a heartbeat
# every 15 s, so this is three missed in a row.
READ_TIMEOUT = 45.0
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
# Statuses worth waiting out: the server busy, restarting, or at its bound of streams.
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class ChangeStream:
    """An iterator of a stack's ``ChangeNote``s, connecting again until ``close``d (which may be
    called from another thread: it ends the wait or the read under way)."""

    def __init__(
        self,
        transport: Transport,
        stack: str,
        *,
        last_event_id: str | None = None,
        read_timeout: float = READ_TIMEOUT,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self._transport, self.stack = transport, stack
        self.last_event_id = last_event_id
        self._timeout = httpx.Timeout(10.0, read=read_timeout)
        self._max_backoff = max_backoff
        self._closed = threading.Event()
        self._response: httpx.Response | None = None
        self._retry = FIRST_BACKOFF

    def __repr__(self) -> str:
        return f"ChangeStream(stack={self.stack!r})"

    def __enter__(self) -> ChangeStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        response = self._response
        if response is not None:
            response.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __iter__(self) -> Iterator[ChangeNote]:
        backoff = FIRST_BACKOFF
        while not self.closed:
            delivered = False
            try:
                for note in self._connection():
                    delivered = True
                    backoff = FIRST_BACKOFF  # a stream that worked starts its waits over
                    yield note
                problem = "the server ended the stream"
            except Throttled as refused:
                problem = refused.message
                if refused.retry_after is not None:
                    backoff = max(backoff, float(refused.retry_after))
            except _Broken as broken:
                problem = broken.problem
            if self.closed:
                return
            wait = min(max(backoff, self._retry), self._max_backoff)
            yield StreamInterrupted(problem, wait)
            if self._closed.wait(wait):
                return
            backoff = backoff if delivered else min(backoff * 2, self._max_backoff)

    def _connection(self) -> Iterator[StackChange]:
        """One connection's changes; returns when the server ends it, raises ``_Broken`` when
        the connection fails, and the server's error when it refuses."""
        path = f"/stacks/{path_segment(self.stack)}/changes"
        resumed = self.last_event_id
        for attempt in range(2):
            headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {self._bearer()}"}
            if resumed is not None:
                headers["Last-Event-ID"] = resumed
            try:
                with self._transport.http.stream(
                    "GET", path, headers=headers, timeout=self._timeout
                ) as response:
                    if (
                        response.status_code == 401
                        and attempt == 0
                        and self._transport.credential.rejected()
                    ):
                        continue  # a login's token that expired early: log in once more
                    if response.status_code >= 400:
                        response.read()
                        refused = error_from_response(response)
                        if response.status_code in RETRYABLE and not isinstance(refused, Throttled):
                            raise _Broken(refused.message)
                        raise refused
                    self._response = response
                    try:
                        yield from self._changes(response)
                    finally:
                        self._response = None
                return
            except Exception as exc:
                if self.closed:
                    return  # ``close`` from another thread cut the read: whatever it raised
                if isinstance(exc, httpx.HTTPError | httpx.StreamError | OSError):
                    raise _Broken(f"the connection failed ({type(exc).__name__})") from None
                raise

    def _bearer(self) -> str:
        try:
            return self._transport.bearer()
        except StacksafeError as exc:  # a JWT login that cannot log in now: try again later
            raise _Broken(exc.message) from None

    def _changes(self, response: httpx.Response) -> Iterator[StackChange]:
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                continue  # a comment: the heartbeat
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            kind, data = fields.get("event", "message"), fields.get("data")
            if "retry" in fields and fields["retry"].isdigit():
                self._retry = int(fields["retry"]) / 1000
            fields = {}
            if kind == "end":
                raise _Broken(_reason(data))
            if kind not in ("ready", "change") or data is None:
                continue  # an event this SDK does not know: a newer server's
            change = StackChange.from_event(kind, data)
            self.last_event_id = change.signature
            yield change


class _Broken(Exception):
    """A connection that ended or failed, worth trying again (``problem``: why, no secret)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _reason(data: str | None) -> str:
    """What an ``end`` event says (its ``reason``), as the interruption's problem."""
    try:
        reason = json.loads(data or "{}").get("reason")
    except (ValueError, AttributeError):
        reason = None
    if not isinstance(reason, str):
        return "the server ended the stream"
    return f"the server ended the stream: {reason}"


class Changes:
    """Mixed into ``Client``, which has the transport."""

    _transport: Transport

    def stack_changes(
        self,
        stack: str,
        *,
        last_event_id: str | None = None,
        read_timeout: float = READ_TIMEOUT,
        max_backoff: float = MAX_BACKOFF,
    ) -> ChangeStream:
        """The changes of ``stack`` (a uid) as the server pushes them: ``StackChange`` when its
        effective set changed (never a value), ``StreamInterrupted`` while it reconnects
        (at most ``max_backoff`` seconds apart). Nothing is sent until it is iterated;
        ``close`` it (or use it in ``with``) to stop."""
        return ChangeStream(
            self._transport,
            stack,
            last_event_id=last_event_id,
            read_timeout=read_timeout,
            max_backoff=max_backoff,
        )
