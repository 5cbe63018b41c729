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

What the server (or a proxy in front of it) sends is bounded before it is believed: a line
longer than ``MAX_LINE`` bytes is a broken stream (nothing buffers a line of any length), a
``retry:`` is read only as up to nine ASCII digits, and an ``end`` event's reason is shown with
its control characters escaped and its length cut (``printable``): it reaches a terminal.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType

import httpx

from stacksafe.client.models.changes import ChangeNote, StackChange, StreamInterrupted
from stacksafe.client.transport import Transport, error_from_response, path_segment
from stacksafe.client.wire import bearer_header, printable
from stacksafe.errors import StacksafeError, Throttled

__all__ = [
    "MAX_LINE",
    "ChangeNote",
    "ChangeStream",
    "Changes",
    "StackChange",
    "StreamInterrupted",
    "printable",
]

# Seconds without a byte before the connection counts as broken: the server sends a heartbeat
# every 15 s, so this is three missed in a row.
READ_TIMEOUT = 45.0
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
# Statuses worth waiting out: the server busy, restarting, or at its bound of streams.
RETRYABLE = frozenset({429, 500, 502, 503, 504})
# The longest line of the stream read (bytes, without its end): the server's are under 200.
MAX_LINE = 64 * 1024
# The fields of an event this SDK reads; any other is dropped as it comes (a hostile stream of
# new names in one endless event would grow the event without bound otherwise).
_FIELDS = frozenset({"event", "data", "id", "retry"})
# The stream's milliseconds to wait before connecting again: ASCII digits only (``isdigit``
# takes "²", which ``int`` refuses), and few enough that ``int`` needs no big number.
_RETRY = re.compile(r"[0-9]{1,9}")
# A line ends with CRLF, LF or CR (server-sent events allow each).
_LINE_END = re.compile(rb"\r\n|\r|\n")


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
            headers = {
                "Accept": "text/event-stream",
                "Authorization": bearer_header(self._bearer()),
            }
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
        for line in _lines(response.iter_bytes()):
            if line.startswith(":"):
                continue  # a comment: the heartbeat
            if line:
                name, _, value = line.partition(":")
                if name in _FIELDS:
                    fields[name] = value.removeprefix(" ")
                continue
            kind, data = fields.get("event", "message"), fields.get("data")
            retry = fields.get("retry")
            if retry is not None and _RETRY.fullmatch(retry):
                self._retry = int(retry) / 1000
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


def _lines(chunks: Iterable[bytes], limit: int = MAX_LINE) -> Iterator[str]:
    """The stream's lines, decoded (UTF-8, an undecodable byte replaced), without their ends;
    ``_Broken`` at a line longer than ``limit`` bytes. A last line without its end is dropped
    (an event cut off is no event)."""
    pending = bytearray()
    after_cr = False  # the last chunk ended with CR: an LF opening this one ends no new line
    for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk, after_cr = chunk[1:], False
        if not chunk:
            continue
        after_cr = chunk.endswith(b"\r")
        start = 0
        for end in _LINE_END.finditer(chunk):
            pending += chunk[start : end.start()]
            _bounded(pending, limit)
            yield pending.decode("utf-8", "replace")
            pending.clear()
            start = end.end()
        pending += chunk[start:]
        _bounded(pending, limit)


def _bounded(line: bytearray, limit: int) -> None:
    if len(line) > limit:
        raise _Broken(f"the server sent a line longer than {limit} bytes (a broken stream)")


def _reason(data: str | None) -> str:
    """What an ``end`` event says (its ``reason``, made ``printable``), as the problem."""
    try:
        reason = json.loads(data or "{}").get("reason")
    except (ValueError, AttributeError):
        reason = None
    if not isinstance(reason, str):
        return "the server ended the stream"
    return f"the server ended the stream: {printable(reason)}"


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
