"""A socketserver (http.server's included) served by a thread of the test, for as long as a
``with`` block lasts; shut down and closed after it."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    # A short poll interval: shutdown() waits for the serving loop's next look at its flag.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
