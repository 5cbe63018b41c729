"""Which class delivers a sink of each type: a factory from its ``SinkConfig``.

A type without a factory here (a transport not built into this server) is stored and listed,
and ``audit sinks status`` says "transport not available" for it; nothing delivers it, so its
cursor stays where it is and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.streams.config import SinkConfig, http_config, syslog_config
from stacksafe.core.streams.file_sink import FileSink
from stacksafe.core.streams.sink import Sink
from stacksafe.core.streams.syslog_sink import SyslogSink

__all__ = ["FACTORIES", "NOT_AVAILABLE", "SinkFactory"]

# A sink from its configuration; the network ones connect only where the outbound rule allows
# (core.outbound: the owner chooses the address, as a rotation policy's author does).
SinkFactory = Callable[[SinkConfig, OutboundPolicy], Sink]


def _file(config: SinkConfig, _outbound: OutboundPolicy) -> Sink:
    return FileSink.from_config(config)


def _syslog(config: SinkConfig, outbound: OutboundPolicy) -> Sink:
    return SyslogSink(syslog_config(config.options), outbound)


def _http(config: SinkConfig, outbound: OutboundPolicy) -> Sink:
    # Imported here: httpx, for a server that delivers to an HTTPS sink only.
    from stacksafe.core.streams.http_sink import HttpSink

    return HttpSink(http_config(config.options, config.credentials), outbound)


FACTORIES: dict[str, SinkFactory] = {"file": _file, "syslog": _syslog, "http": _http}

NOT_AVAILABLE = "transport not available"
