"""The metrics on a listener of their own, without a token (`serve --metrics-address`).

For a Prometheus inside a private network that should hold no stacksafe token: the address
is loopback or private (settings.parsing.private_listener), and whoever reaches it reads the
series, which hold no key name, value or token (api.metrics.labels). prometheus_client's own
small HTTP server, in a daemon thread of the serving process: it answers every path with the
metrics and touches nothing else of the server.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["MetricsListener"]


class MetricsListener:
    """``registry`` served on ``host``:``port`` from ``start`` to ``stop``."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry, self._host, self._port = registry, host, port
        self._served: tuple[WSGIServer, threading.Thread] | None = None

    def start(self) -> None:
        self._served = start_http_server(self._port, addr=self._host, registry=self._registry)

    def stop(self) -> None:
        if self._served is None:
            return
        server, thread = self._served
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        self._served = None
