"""The syslog sink: each audit line one RFC 5424 message, over TCP (octet counting, RFC 6587),
TLS (RFC 5425) or UDP (RFC 5426, one datagram a message).

**What "delivered" means.** Syslog has no acknowledgement: a batch counts as delivered once the
kernel accepted every byte of it for the connection. A receiver that dies with bytes in its
socket buffer loses them, and stacksafe cannot know. Two things narrow the gap: before each
batch the connection is checked for the receiver having closed it (a syslog receiver never
writes, so anything readable is its end), and any error drops the connection and fails the whole
batch, which is then sent again on a new one (receivers de-duplicate by ``seq``). Over UDP
nothing is known at all: a datagram lost on the way is lost.

**UDP and large messages.** A message longer than ``max_datagram`` (2048 bytes by default: what
RFC 5426 says every IPv4 receiver should take) is not sent, and not truncated (half a JSON line
is worse than none): the server log warns with its ``seq`` and size, ``dropped`` counts it, and
the receiver sees a gap in ``seq`` there. Use TCP or TLS where every event must arrive.

Every connection goes only where ``core.outbound`` allows, to the address that was checked; TLS
still checks the certificate against the configured name. Connect, handshake and the sending of
a batch together end within ``timeout`` seconds (a receiver that accepts and never reads fails
the batch, it does not hang the sink's thread); resolving the name is left to the system
resolver's own timeouts.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from stacksafe.core.outbound import OutboundPolicy, OutboundRefused, Unresolvable
from stacksafe.core.rotators.failure import refusal_text
from stacksafe.core.streams import deadline_io
from stacksafe.core.streams.sink import SinkUnavailable
from stacksafe.core.streams.syslog_format import (
    FACILITIES,
    header_name,
    octet_frame,
    syslog_message,
)
from stacksafe.errors import InvalidInput

__all__ = ["MAX_UDP_DATAGRAM", "SyslogConfig", "SyslogSink", "Transport"]

log = logging.getLogger(__name__)

Transport = Literal["tcp", "tls", "udp"]
MAX_UDP_DATAGRAM = 65507  # IPv4's largest UDP payload
# How long a new TLS 1.3 connection waits for the server's first records (its session tickets,
# or the alert refusing our certificate): a round trip; only a server that sends no tickets
# makes each new connection wait all of it.
_SETTLE_SECONDS = 1.0


@dataclass(frozen=True)
class SyslogConfig:
    """Where and how to send. ``ca_file``: trust only this CA (PEM) for the receiver's
    certificate instead of the system's; ``client_cert``/``client_key``: PEM files presented
    to a receiver that asks for a client certificate (the key unencrypted, readable only by
    the server's user; ``client_key`` may be left out when the certificate file holds it)."""

    host: str
    port: int
    transport: Transport = "tcp"
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    facility: int = FACILITIES["local0"]
    severity: int = 6  # informational: an audit event is a record, not an alarm
    timeout: float = 10.0
    max_datagram: int = 2048

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() or c in "/[]" for c in self.host):
            raise InvalidInput("the syslog sink needs a host name or IP address")
        if isinstance(self.port, bool) or not 0 < self.port < 65536:
            raise InvalidInput("the syslog sink's port must be a number 1-65535")
        if self.transport not in ("tcp", "tls", "udp"):
            raise InvalidInput("the syslog sink's transport is tcp, tls or udp")
        tls_files = (self.ca_file, self.client_cert, self.client_key)
        if self.transport != "tls" and any(tls_files):
            raise InvalidInput("a CA file or client certificate is for a syslog sink over TLS")
        if self.client_key and not self.client_cert:
            raise InvalidInput("the syslog sink's client key needs its client certificate")
        if not 0 <= self.facility <= 23 or not 0 <= self.severity <= 7:
            raise InvalidInput("the syslog facility is 0-23 and the severity 0-7")
        if not 0 < self.timeout <= 300:
            raise InvalidInput("the syslog sink's timeout must be 0-300 seconds")
        if not 480 <= self.max_datagram <= MAX_UDP_DATAGRAM:
            raise InvalidInput(f"the largest UDP datagram must be 480-{MAX_UDP_DATAGRAM} bytes")

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port} ({self.transport})"


def _no_password() -> bytes:
    # An encrypted key would otherwise make OpenSSL prompt on the server's terminal and wait.
    raise ValueError("the client key must not be encrypted")


def _reason(exc: BaseException) -> str:
    """A fixed phrase for what went wrong (never text the receiver sent)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate was not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS connection failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, ConnectionError):
        return "the receiver closed the connection"
    return f"a network error ({type(exc).__name__})"


class SyslogSink:
    """``Sink`` over syslog; one connection (or UDP socket) kept across batches, opened again
    after an error. ``dropped``: UDP messages not sent for being too large."""

    def __init__(
        self, config: SyslogConfig, outbound: OutboundPolicy, *, hostname: str | None = None
    ) -> None:
        self.config = config
        self._outbound = outbound
        self._hostname = header_name(hostname or socket.gethostname(), 255)
        self._procid = header_name(str(os.getpid()), 128)
        self._priority = config.facility * 8 + config.severity
        self._sock: socket.socket | None = None
        self.dropped = 0
        if config.transport == "udp":
            log.warning(
                "the syslog sink %s sends over UDP: no acknowledgement and no retry of a lost "
                "datagram, and messages over %d bytes are dropped",
                config.where,
                config.max_datagram,
            )

    def __repr__(self) -> str:
        return f"SyslogSink({self.config.where})"

    def deliver(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        deadline = time.monotonic() + self.config.timeout
        at = datetime.datetime.now(datetime.UTC)
        messages = [
            syslog_message(
                line, priority=self._priority, hostname=self._hostname, procid=self._procid, at=at
            )
            for line in lines
        ]
        try:
            if self.config.transport == "udp":
                self._send_datagrams(messages, lines, deadline)
            else:
                sock = self._stream(deadline)
                deadline_io.send_all(sock, b"".join(map(octet_frame, messages)), deadline)
        except SinkUnavailable:
            self.close()
            raise
        except (OSError, ValueError) as exc:
            self.close()
            raise SinkUnavailable(f"syslog receiver {self.config.where}: {_reason(exc)}") from None

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            if isinstance(sock, ssl.SSLSocket):
                # close_notify, so that the receiver sees an orderly end rather than a cut
                # (rsyslog logs one as an error); best effort, never a wait.
                with contextlib.suppress(OSError, ValueError):
                    sock.unwrap()
            sock.close()

    def _address(self) -> tuple[str, int]:
        """The checked address to connect to (the name resolved afresh for each connection)."""
        config = self.config
        try:
            return str(self._outbound.resolve(config.host, config.port)), config.port
        except OutboundRefused:
            raise SinkUnavailable(
                f"syslog receiver {refusal_text(config.host, config.port)}"
            ) from None
        except Unresolvable:
            raise SinkUnavailable(
                f"syslog receiver {config.where}: its name could not be resolved"
            ) from None

    def _tls_context(self) -> ssl.SSLContext:
        """Made for each connection, so that a renewed CA or client certificate is read."""
        config = self.config
        try:
            context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
            context.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 9662 (updating RFC 5425)
            if config.client_cert:
                context.load_cert_chain(
                    config.client_cert,
                    config.client_key,
                    password=_no_password,
                )
        except (OSError, ValueError) as exc:
            # The files are named, their content never (ssl's own messages hold none of it).
            files = ", ".join(str(p) for p in (config.ca_file, config.client_cert) if p)
            raise SinkUnavailable(
                f"syslog receiver {config.where}: the TLS files ({files}) could not be "
                f"loaded ({type(exc).__name__})"
            ) from None
        return context

    def _stream(self, deadline: float) -> socket.socket:
        if self._sock is not None and deadline_io.peer_closed(self._sock):
            self.close()
        if self._sock is None:
            context = self._tls_context() if self.config.transport == "tls" else None
            sock = deadline_io.connect(self._address(), socket.SOCK_STREAM, deadline)
            if context is not None:
                tls = deadline_io.handshake(sock, context, self.config.host, deadline)
                sock = tls
                try:
                    deadline_io.settle(tls, deadline, _SETTLE_SECONDS)
                except BaseException:
                    tls.close()
                    raise
            self._sock = sock
        return self._sock

    def _send_datagrams(
        self, messages: list[bytes], lines: Sequence[bytes], deadline: float
    ) -> None:
        if self._sock is None:
            self._sock = deadline_io.connect(self._address(), socket.SOCK_DGRAM, deadline)
        for message, line in zip(messages, lines, strict=True):
            if len(message) > self.config.max_datagram:
                self.dropped += 1
                log.warning(
                    "the syslog sink %s dropped the event seq=%s: %d bytes, over the UDP limit "
                    "of %d",
                    self.config.where,
                    _seq_of(line),
                    len(message),
                    self.config.max_datagram,
                )
                continue
            # One datagram: send() takes it whole or not at all (EAGAIN: wait for room).
            deadline_io.send_all(self._sock, message, deadline)


def _seq_of(line: bytes) -> object:
    """The line's ``seq`` for a log line (``?`` if it has none): never the rest of it."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "?"
    seq = event.get("seq") if isinstance(event, dict) else None
    return seq if isinstance(seq, int) else "?"
