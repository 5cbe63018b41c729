"""One deadline for a whole HTTP exchange: httpx's timeouts bound each read and each write, so a
receiver that drips its answer a byte at a time holds a POST for as long as it likes; this
transport clamps every read, write, connect and TLS handshake to what is left of the deadline
the sender set for the exchange (``Deadline.start``), and fails it once none is left.
"""

from __future__ import annotations

import ssl
import time
import typing

import httpcore
import httpx

__all__ = ["Deadline", "deadline_transport"]

_SocketOption = typing.Any  # httpcore's socket option tuples, passed through untouched


class Deadline:
    """When the exchange under way must end (``time.monotonic``); None: no exchange, each
    operation keeps its own timeout."""

    def __init__(self) -> None:
        self.until: float | None = None

    def start(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds

    def end(self) -> None:
        self.until = None

    def left(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` cut to what is left; ``error`` when nothing is."""
        if self.until is None:
            return timeout
        left = self.until - time.monotonic()
        if left <= 0:
            raise error("the exchange's deadline passed")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, deadline: Deadline) -> None:
        self._inner, self._deadline = httpcore.SyncBackend(), deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return _Stream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    def __init__(self, verify: ssl.SSLContext, deadline: Deadline) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx has no way to hand its pool a network backend: the pool is made again with
        # ours (httpx's defaults otherwise: no proxy, HTTP/1.1, its connection limits).
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=5.0,
            network_backend=_Backend(deadline),
        )


def deadline_transport(verify: ssl.SSLContext, deadline: Deadline) -> httpx.HTTPTransport:
    """An httpx transport (no proxy from the environment) whose every operation ends by
    ``deadline``."""
    return _Transport(verify, deadline)
