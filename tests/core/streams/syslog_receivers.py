"""Syslog receivers on 127.0.0.1 for the sink tests, written from the RFCs rather than from the
sink: octet-counted frames (RFC 6587 3.4.1) over TCP or TLS, datagrams over UDP, each parsed
as an RFC 5424 message; and a receiver that accepts and never reads."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

# RFC 5424 6: HEADER (PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID)
# SP STRUCTURED-DATA [SP MSG]; here STRUCTURED-DATA is the NILVALUE or one or more elements.
_RFC5424 = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    rb"(?P<msgid>\S+) (?P<sd>-|(?:\[[^\]]*\])+)(?: (?P<msg>.*))?\Z",
    re.DOTALL,
)
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Message:
    priority: int
    timestamp: str
    hostname: str
    app: str
    procid: str
    msgid: str
    structured_data: str
    msg: bytes  # as sent, BOM included


def parse(frame: bytes) -> Message:
    found = _RFC5424.match(frame)
    assert found is not None, frame[:200]
    return Message(
        int(found["pri"]),
        found["time"].decode(),
        found["host"].decode(),
        found["app"].decode(),
        found["procid"].decode(),
        found["msgid"].decode(),
        found["sd"].decode(),
        found["msg"] or b"",
    )


def wait_until(condition: object, timeout: float = 5.0) -> None:
    """A bounded poll of ``condition()``."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def _read_exactly(stream: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class StreamReceiver:
    """TCP (or, with ``tls``, TLS) on 127.0.0.1: ``port`` 0 for a free one, or a given one to
    come back on after ``stop``."""

    def __init__(self, tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self.listener.getsockname()[1]
        self.messages: list[Message] = []
        self.errors: list[str] = []
        self.peer_names: list[str] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # stopped
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        stream: socket.socket = connection
        try:
            if self.tls is not None:
                stream = self.tls.wrap_socket(connection, server_side=True)
                peer = stream.getpeercert()
                if peer:
                    self.peer_names.append(str(peer["subject"]))
            while True:
                length = b""
                while not length.endswith(b" "):
                    length += _read_exactly(stream, 1)
                    assert len(length) < 12, length
                frame = _read_exactly(stream, int(length[:-1]))
                with self._lock:
                    self.messages.append(parse(frame))
        except EOFError:
            pass
        except (OSError, ValueError) as exc:
            self.errors.append(type(exc).__name__)
        finally:
            stream.close()

    def lines(self) -> list[bytes]:
        with self._lock:
            return [m.msg.removeprefix(BOM) for m in self.messages]

    def stop(self) -> None:
        """Close the listener and every connection (a receiver going down); again: nothing."""
        if self.listener.fileno() == -1:
            return
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (Linux)
        self.listener.close()
        with self._lock:
            for connection in self._connections:
                with suppress(OSError):  # already closed by its peer
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()


@contextmanager
def stream_receiver(tls: ssl.SSLContext | None = None) -> Iterator[StreamReceiver]:
    receiver = StreamReceiver(tls)
    try:
        yield receiver
    finally:
        receiver.stop()


class DatagramReceiver:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.messages: list[Message] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        while True:
            datagram = self.sock.recv(70000)
            if self.stopping:
                return
            self.messages.append(parse(datagram))

    def stop(self) -> None:
        # A recv() blocked in another thread does not wake when the socket closes: wake it
        # with a datagram of our own.
        self.stopping = True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(b"", ("127.0.0.1", self.port))
        self.thread.join(5)
        self.sock.close()

    def lines(self) -> list[bytes]:
        return [m.msg.removeprefix(BOM) for m in self.messages]


@contextmanager
def datagram_receiver() -> Iterator[DatagramReceiver]:
    receiver = DatagramReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextmanager
def stalled_receiver() -> Iterator[int]:
    """A port that accepts connections and never reads from them (its receive buffer small, so
    that the sender's fills soon)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accepted ones
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for connection in held:
            connection.close()
