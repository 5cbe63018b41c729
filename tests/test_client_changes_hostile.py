"""The SDK's change stream (client.changes) against a hostile server (or a proxy in front of a
real one): a TCP server in the test on 127.0.0.1 answers each connection with bytes the test
wrote. A ``retry:`` or ``Retry-After`` that ``isdigit`` takes and ``int`` refuses, a line longer
than the bound (sent without its end, and held open: the SDK must not wait for the end), and an
``end`` reason full of terminal controls: each is an interruption the stream rides through, or
text escaped, never an exception that kills the stream's thread. And the lines themselves split
as server-sent events end them (CRLF, LF, CR), across any chunk boundary."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from stacksafe.client import Client, StackChange, StreamInterrupted
from stacksafe.client.changes import FIRST_BACKOFF, MAX_LINE, _Broken, _lines, printable
from tests.test_client_changes import Consumer

WITHIN = 5.0
READY = b'event: ready\nid: s1\ndata: {"stack":"web","signature":"s1"}\n\n'
CHANGE = b'event: change\nid: s2\ndata: {"stack":"web","signature":"s2"}\n\n'


def _answer(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
    return (head + headers + "\r\n").encode() + body


class Hostile:
    """Answers the n-th connection with ``answers[n]`` and closes it; past the last answer, or
    for an answer in ``held``, it keeps the connection open (sending nothing) until ``close``."""

    def __init__(self, answers: list[bytes], held: frozenset[int] = frozenset()) -> None:
        self.answers, self.held = answers, held
        self.connections = 0
        self._stop = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.base = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        opened: list[socket.socket] = []
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            opened.append(conn)
            n, self.connections = self.connections, self.connections + 1
            request = b""
            while b"\r\n\r\n" not in request:  # the request's head; the SDK sends no body
                got = conn.recv(4096)
                if not got:  # the client went away first
                    break
                request += got
            if n < len(self.answers):
                conn.sendall(self.answers[n])
                if n not in self.held:
                    conn.close()
        for conn in opened:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WITHIN)
        self._socket.close()


class Notes(Consumer):
    """The stream of a client of ``server``, iterated on a thread of its own."""

    def __init__(self, server: Hostile) -> None:
        self.client = Client(server.base, "sk_test_token")
        super().__init__(self.client.stack_changes("web", max_backoff=2.0, read_timeout=30))

    def interrupted(self) -> StreamInterrupted:
        note = self.next_note()
        assert isinstance(note, StreamInterrupted), note
        return note

    def close(self) -> None:
        self.stream.close()
        self.thread.join(WITHIN)
        self.client.close()
        assert not self.thread.is_alive()


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[tuple[Hostile, Notes]]:
    answers, held = request.param
    server = Hostile(answers, held)
    notes = Notes(server)
    try:
        yield server, notes
    finally:
        notes.close()
        server.close()


def _serving(*answers: bytes, held: frozenset[int] = frozenset()) -> pytest.MarkDecorator:
    """The ``hostile`` fixture's server answering with ``answers``."""
    return pytest.mark.parametrize("hostile", [(list(answers), held)], indirect=True)


@_serving(
    _answer(b"retry: \xc2\xb2\n" + READY + b"retry: " + b"9" * 5000 + b"\n" + CHANGE),
    _answer(b"retry: 1500\n" + READY),
)
def test_a_retry_that_is_not_a_few_ascii_digits_is_ignored(
    hostile: tuple[Hostile, Notes],
) -> None:
    _, notes = hostile
    assert isinstance(notes.next_note(), StackChange)
    assert isinstance(notes.next_note(), StackChange)
    # "²" and 5,000 nines ignored: the wait is the SDK's own.
    assert notes.interrupted().retry_in == FIRST_BACKOFF
    assert isinstance(notes.next_note(), StackChange)  # connected again
    assert notes.interrupted().retry_in == 1.5  # a plain retry is still followed


@_serving(
    _answer(
        b'{"error":"throttled","error_description":"slow down"}',
        "429 Too Many",
        "Retry-After: \xc2\xb2\r\n",
    ),
    _answer(READY),
)
def test_a_retry_after_that_is_not_a_few_ascii_digits_is_ignored(
    hostile: tuple[Hostile, Notes],
) -> None:
    _, notes = hostile
    refused = notes.interrupted()
    assert refused.problem == "slow down"
    assert refused.retry_in == FIRST_BACKOFF
    assert isinstance(notes.next_note(), StackChange)


@_serving(
    _answer(READY + b"data: " + b"x" * MAX_LINE),  # no end, and the connection held open
    _answer(READY),
    held=frozenset({0}),
)
def test_a_line_past_the_bound_is_a_broken_stream_at_once(hostile: tuple[Hostile, Notes]) -> None:
    server, notes = hostile
    assert isinstance(notes.next_note(), StackChange)
    broken = notes.interrupted()  # not the read timeout (30 s): the bound, as it was passed
    assert f"longer than {MAX_LINE} bytes" in broken.problem
    assert isinstance(notes.next_note(), StackChange)  # connected again
    assert server.connections == 2


@_serving(
    _answer(
        READY
        + b'event: end\ndata: {"reason":"\\u001b[2J\\u001b[Hok\\r\\nstacksafe: forged\\u202e'
        + b"y" * 1000
        + b'"}\n\n'
    ),
    _answer(READY),
)
def test_an_end_reason_is_escaped_and_cut(hostile: tuple[Hostile, Notes]) -> None:
    _, notes = hostile
    assert isinstance(notes.next_note(), StackChange)
    ended = notes.interrupted().problem
    assert ended.startswith(
        "the server ended the stream: \\x1b[2J\\x1b[Hok\\r\\nstacksafe: forged\\u202eyyy"
    )
    assert ended.isprintable()
    assert ended.endswith("...")
    assert len(ended) < 400


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("plain 'text' é") == "plain 'text' é"
    assert (
        printable("a\x07\x1b]0;title\x07\tb\x85\u2028")
        == "a\\x07\\x1b]0;title\\x07\\tb\\x85\\u2028"
    )
    assert printable("z" * 20, limit=10) == "zzzzzzz..."


def _split(chunks: list[bytes], limit: int = MAX_LINE) -> list[str]:
    return list(_lines(iter(chunks), limit))


def test_lines_end_as_server_sent_events_end_them_across_chunks() -> None:
    assert _split([b"a\r\nb\nc\rd\n"]) == ["a", "b", "c", "d"]
    assert _split([b"a\r", b"\nb\r", b"", b"\n", b"c\n"]) == ["a", "b", "c"]  # CRLF split
    assert _split([b"a\r", b"\r\n"]) == ["a", ""]  # CR, then an empty line ended by CRLF
    assert _split([b"ev", b"ent: x", b"\n\n"]) == ["event: x", ""]
    assert _split([b"caf\xc3", b"\xa9\n\xff\n"]) == ["café", "\ufffd"]
    assert _split([b"no end"]) == []  # a last line cut off is no line


def test_a_line_of_the_bound_passes_and_one_byte_more_breaks() -> None:
    assert _split([b"x" * 4, b"\n"], limit=4) == ["xxxx"]
    with pytest.raises(_Broken, match="longer than 4 bytes"):
        _split([b"xx", b"xxx"], limit=4)
    with pytest.raises(_Broken, match="longer than 4 bytes"):
        _split([b"xxxxx\n"], limit=4)
