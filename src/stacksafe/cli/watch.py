"""Watching a stack's secrets for changes (`run --watch`, `materialize --watch`).

A poll asks for the effective set without values (keys, versions, where each comes from): no
reveal, so nothing is audited until something changed and the values are fetched again. A
change of a referenced key shows as that key's new version, since it is in the set too.
"""

from __future__ import annotations

import threading

from stacksafe.cli.backend import SecretsBackend

__all__ = ["Watcher"]


class Watcher:
    def __init__(self, target: SecretsBackend, interval: float) -> None:
        self.target, self.interval = target, interval
        self.stopped = threading.Event()
        self._seen = self._signature()

    def _signature(self) -> tuple[tuple[str, int, bool], ...]:
        return tuple(sorted((s.key, s.version, s.inherited) for s in self.target.list(False)))

    def wait_for_change(self) -> bool:
        """Poll every ``interval`` seconds until the set changes (True) or ``stop`` (False)."""
        while not self.stopped.wait(self.interval):
            now = self._signature()
            if now != self._seen:
                self._seen = now
                return True
        return False

    def stop(self) -> None:
        self.stopped.set()
