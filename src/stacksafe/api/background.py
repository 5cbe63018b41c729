"""A daemon thread of the serving process, started and stopped with the API app's lifespan
(the rotation scheduler, the audit streams)."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Background"]


class Background:
    """Runs ``target`` in a daemon thread named ``name``; ``_stop`` is set when it should end."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=target, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
