"""Which class delivers a sink of each type: a factory from its ``SinkConfig``.

A type without a factory here (a transport not built into this server) is stored and listed,
and ``audit sinks status`` says "transport not available" for it; nothing delivers it, so its
cursor stays where it is and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.streams.config import SinkConfig
from stacksafe.core.streams.file_sink import FileSink
from stacksafe.core.streams.http_sink import HttpConfig, HttpSink
from stacksafe.core.streams.sink import Sink
from stacksafe.core.streams.syslog_sink import SyslogConfig, SyslogSink, Transport
from stacksafe.model import SecretValue

__all__ = ["FACTORIES", "NOT_AVAILABLE", "SinkFactory"]

# A sink from its configuration; the network ones connect only where the outbound rule allows
# (core.outbound: the owner chooses the address, as a rotation policy's author does).
SinkFactory = Callable[[SinkConfig, OutboundPolicy], Sink]


def _file(config: SinkConfig, _outbound: OutboundPolicy) -> Sink:
    return FileSink.from_config(config)


def _syslog(config: SinkConfig, outbound: OutboundPolicy) -> Sink:
    options = config.options
    transport: Transport = "udp" if options["udp"] else "tls" if options["tls"] else "tcp"
    ca = options.get("ca")
    return SyslogSink(
        SyslogConfig(
            host=str(options["host"]),
            port=int(options["port"]),
            transport=transport,
            ca_file=None if ca is None else Path(ca),
        ),
        outbound,
    )


def _http(config: SinkConfig, outbound: OutboundPolicy) -> Sink:
    secret = config.credentials.get("hmac_secret")
    ca = config.options.get("ca")
    return HttpSink(
        HttpConfig(
            url=str(config.credentials["url"]),
            headers=tuple((str(n), str(v)) for n, v in config.credentials.get("headers", ())),
            hmac_secret=None if secret is None else SecretValue(str(secret)),
            ca_file=None if ca is None else Path(ca),
        ),
        outbound,
    )


FACTORIES: dict[str, SinkFactory] = {"file": _file, "syslog": _syslog, "http": _http}

NOT_AVAILABLE = "transport not available"
