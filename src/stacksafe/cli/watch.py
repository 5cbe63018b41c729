"""Watching a stack's secrets for changes (`run --watch`, `materialize --watch`).

A poll asks for the effective set without values (keys, versions, where each comes from): no
reveal, so nothing is audited until something changed and the values are fetched again. A
change of a referenced key shows as that key's new version, since it is in the set too.
"""

from __future__ import annotations

import sys
import threading

from stacksafe.cli.backend import SecretsBackend
from stacksafe.errors import StacksafeError

__all__ = ["Watcher"]


class Watcher:
    def __init__(self, target: SecretsBackend, interval: float) -> None:
        self.target, self.interval = target, interval
        self.stopped = threading.Event()
        self._seen = self._signature()

    def _signature(self) -> tuple[tuple[str, int, bool], ...]:
        return tuple(sorted((s.key, s.version, s.inherited) for s in self.target.list(False)))

    def wait_for_change(self) -> bool:
        """Poll every ``interval`` seconds until the set changes (True) or ``stop`` (False).

        A poll that fails (the server restarting, the database busy) is reported on stderr and
        the watching goes on: a watcher outlives the outages it is meant to ride through."""
        while not self.stopped.wait(self.interval):
            try:
                now = self._signature()
            except StacksafeError as exc:
                sys.stderr.write(f"stacksafe: watching: {exc.message}; trying again\n")
                sys.stderr.flush()
                continue
            if now != self._seen:
                self._seen = now
                return True
        return False

    def retry(self) -> None:
        """The last change could not be acted on: report it again at the next poll."""
        self._seen = ()

    def stop(self) -> None:
        self.stopped.set()
