"""A fake PostgreSQL server that records what clients send it: the startup parameters and the
password (cleartext, or the MD5 response) it asks for, then refuses with "password
authentication failed" (SQLSTATE 28P01) as a real server would.

It speaks just enough of the protocol (v3 startup, SSL/GSS encryption requests answered "N",
AuthenticationCleartextPassword or AuthenticationMD5Password, PasswordMessage, ErrorResponse)
for libpq to hand over whatever password it has: the tests prove that is only the configured one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.serving import serving

__all__ = ["Attempt", "FakePostgres", "fake_postgres", "md5_response"]

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5


def md5_response(password: str, user: str, salt: bytes) -> str:
    """What libpq sends for AuthenticationMD5Password: md5(md5(password + user) + salt)."""
    inner = hashlib.md5((password + user).encode()).hexdigest()  # noqa: S324 - the protocol's
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()  # noqa: S324


@dataclass
class Attempt:
    """One connection: its startup parameters, and the password message, if one came."""

    startup: dict[str, str]
    salt: bytes = b""
    response: str | None = None  # cleartext password, or "md5..." for MD5

    def sent(self, password: str) -> bool:
        """Whether this attempt handed over ``password`` (in clear or as its MD5 response)."""
        if self.response is None:
            return False
        if self.salt:
            return self.response == md5_response(password, self.startup.get("user", ""), self.salt)
        return self.response == password


@dataclass
class FakePostgres:
    host: str
    port: int
    method: str  # "cleartext", "md5" or "trust" (AuthenticationOk at once: no password asked)
    attempts: list[Attempt] = field(default_factory=list)

    def sent(self, password: str) -> bool:
        return any(a.sent(password) for a in self.attempts)

    def responses(self) -> list[str | None]:
        return [a.response for a in self.attempts]


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def _serve_one(conn: socket.socket, fake: FakePostgres, lock: threading.Lock) -> None:
    while True:
        length, code = struct.unpack("!ii", _read(conn, 8))
        body = _read(conn, length - 8)
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            conn.sendall(b"N")  # no encryption: go on in the clear
            continue
        if code == CANCEL_REQUEST:
            return
        break
    words = body.split(b"\0")
    startup = {
        words[i].decode(): words[i + 1].decode() for i in range(0, len(words) - 1, 2) if words[i]
    }
    attempt = Attempt(startup)
    with lock:
        fake.attempts.append(attempt)
    if fake.method == "trust":
        # AuthenticationOk and ReadyForQuery: a client that accepts logging in without a
        # password is in; its first message is read and the connection closed.
        conn.sendall(_message(b"R", struct.pack("!i", AUTH_OK)) + _message(b"Z", b"I"))
        _read(conn, 5)
        return
    if fake.method == "md5":
        attempt.salt = os.urandom(4)
        conn.sendall(_message(b"R", struct.pack("!i", AUTH_MD5) + attempt.salt))
    else:
        conn.sendall(_message(b"R", struct.pack("!i", AUTH_CLEARTEXT)))
    kind = _read(conn, 1)
    (size,) = struct.unpack("!i", _read(conn, 4))
    payload = _read(conn, size - 4)
    if kind == b"p":
        with lock:
            attempt.response = payload.rstrip(b"\0").decode("utf-8", "replace")
    user = startup.get("user", "")
    error = (
        b"SFATAL\0VFATAL\0C28P01\0M"
        + f'password authentication failed for user "{user}"'.encode()
        + b"\0\0"
    )
    conn.sendall(_message(b"E", error))


@contextmanager
def fake_postgres(host: str = "127.0.0.1", method: str = "cleartext") -> Iterator[FakePostgres]:
    """A fake server on ``host`` and a free port, serving until the block ends."""
    lock = threading.Lock()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            # A client may give up at any point (e.g. refusing the authentication asked for).
            with contextlib.suppress(ConnectionError, struct.error):
                _serve_one(self.request, fake, lock)

    server = socketserver.ThreadingTCPServer((host, 0), Handler)
    server.daemon_threads = True
    fake = FakePostgres(host, server.server_address[1], method)
    with serving(server):
        yield fake
