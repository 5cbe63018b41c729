"""Socket I/O that ends by a deadline: connect, TLS handshake and send, each step waiting at
most until the deadline, however the peer paces itself.

A socket timeout alone bounds each read or write, not the sum: a receiver that reads a byte
every few seconds (or dribbles a TLS handshake) would keep a blocking ``sendall`` on an
``SSLSocket`` going for ever. Non-blocking sockets and ``poll`` against one monotonic deadline
bound the whole batch. POSIX ``poll``, not ``select``: a server with many open files may hand
out descriptors above select's 1024.
"""

from __future__ import annotations

import select
import socket
import ssl
import time

__all__ = ["connect", "handshake", "peer_closed", "send_all", "settle"]

_CHUNK = 256 * 1024  # per send call; the kernel takes what fits in its buffer


def _wait(sock: socket.socket, deadline: float, *, write: bool) -> None:
    """Until ``sock`` is writable (or readable), or ``TimeoutError`` at ``deadline``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline reached")
    poller = select.poll()
    poller.register(sock, select.POLLOUT if write else select.POLLIN)
    if not poller.poll(remaining * 1000):
        raise TimeoutError("deadline reached")


def connect(address: tuple[str, int], kind: socket.SocketKind, deadline: float) -> socket.socket:
    """A non-blocking socket connected to ``address`` (an IP address, never a name: the caller
    connects to the address it checked)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline reached")
        sock.settimeout(remaining)  # connect() is a single wait: the timeout bounds all of it
        sock.connect(address)
        sock.setblocking(False)
        if kind == socket.SOCK_STREAM:
            # A receiver that vanishes without a word (a host powered off) is noticed by the
            # kernel eventually even while nothing is sent.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def handshake(
    sock: socket.socket, context: ssl.SSLContext, server_hostname: str, deadline: float
) -> ssl.SSLSocket:
    """``sock`` wrapped in TLS, the handshake (certificate and name checked by ``context``)
    finished by ``deadline``."""
    wrapped = context.wrap_socket(
        sock, server_hostname=server_hostname, do_handshake_on_connect=False
    )
    try:
        while True:
            try:
                wrapped.do_handshake()
                return wrapped
            except ssl.SSLWantReadError:
                _wait(wrapped, deadline, write=False)
            except ssl.SSLWantWriteError:
                _wait(wrapped, deadline, write=True)
    except BaseException:
        wrapped.close()
        raise


def send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
    """All of ``data`` handed to the kernel by ``deadline``, else ``TimeoutError`` (some of it
    may have gone: the caller drops the connection and sends the whole batch again)."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view[:_CHUNK])
        except (BlockingIOError, ssl.SSLWantWriteError):
            _wait(sock, deadline, write=True)
            continue
        except ssl.SSLWantReadError:  # a TLS renegotiation or key update in the way
            _wait(sock, deadline, write=False)
            continue
        view = view[sent:]


def _tls_alive(sock: ssl.SSLSocket) -> bool:
    """Whether reading what a TLS peer sent leaves the connection open: TLS 1.3 session tickets
    (and key updates) are readable without being data, and are consumed here."""
    try:
        sock.recv(1)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return True  # records that were no data
    except OSError:
        return False  # an alert (certificate refused), a reset
    return False  # EOF (b""), or data a syslog receiver has no business sending


def settle(sock: ssl.SSLSocket, deadline: float, wait: float) -> None:
    """Raise ``ConnectionError`` if the server refuses the connection right after the
    handshake, waiting up to ``wait`` seconds for its first records.

    In TLS 1.3 the client's handshake is over before the server has checked the client's
    certificate: a refusal arrives as an alert afterwards, and a batch written at once would
    count as delivered while the server drops it, batch after batch. Servers send session
    tickets right after the handshake, so a working connection answers within a round trip.
    """
    if sock.version() != "TLSv1.3":
        return  # up to TLS 1.2 the handshake itself fails on a refused certificate
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    until = min(deadline, time.monotonic() + wait)
    while (remaining := until - time.monotonic()) > 0 and poller.poll(remaining * 1000):
        if not _tls_alive(sock):
            raise ConnectionError("the receiver closed the connection after the TLS handshake")
        if not sock.pending() and not poller.poll(0):
            return  # the tickets read, nothing else waiting


def peer_closed(sock: socket.socket) -> bool:
    """Whether a connection we only ever write to has been ended by its peer: for a syslog
    receiver, which never sends data, anything readable but TLS housekeeping is its end (EOF,
    a reset, a TLS alert or close_notify).

    Checked before each batch so that a receiver which restarted since the last one gets the
    batch on a new connection; without it the first write after the restart succeeds locally
    and is lost with the reset that answers it.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0) and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
        return False
    return not (isinstance(sock, ssl.SSLSocket) and _tls_alive(sock))
