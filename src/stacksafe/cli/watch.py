"""Watching a stack's secrets for changes (`run --watch`, `materialize --watch`).

What is compared is the effective set without values (keys, versions, where each comes from): no
reveal, so nothing is audited until something changed and the values are fetched again. A
change of a referenced key shows as that key's new version, since it is in the set too.

When to compare: in remote mode, when the server pushes a change (`GET /stacks/{uid}/changes`,
read by a thread of its own through the SDK's ``ChangeStream``); an event only prompts the
comparison, so a spurious one restarts nothing. While the stream is down (the server
restarting, a proxy cutting it) the watcher polls every ``interval`` seconds and the stream
connects again with backoff, telling on its return whether it missed a change; a server
without the endpoint (404, 405) is polled for good. Locally, and for an account's own level,
it polls every ``interval`` seconds: there is no server to push (a local database's revision
could be watched, but a poll of the local installation is as cheap as that would be).
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from stacksafe.cli.backend import SecretsBackend
from stacksafe.errors import StacksafeError

if TYPE_CHECKING:
    from stacksafe.client import ChangeStream

__all__ = ["Watcher"]

# The longest line said (characters): the server's part of it is cut shorter still.
MAX_SAID = 1000


def _say(line: str) -> None:
    """One line on stderr. What it says may be the server's (an ``end`` event's reason, an
    error's description): its control characters are escaped, so that a hostile server or
    proxy cannot move the cursor, clear the screen or forge a line of its own."""
    from stacksafe.client.wire import printable

    sys.stderr.write(f"stacksafe: watching: {printable(line, MAX_SAID)}\n")
    sys.stderr.flush()


class Watcher:
    def __init__(self, target: SecretsBackend, interval: float) -> None:
        self.target, self.interval = target, interval
        self.stopped = threading.Event()
        # Set when the set may have changed (a pushed event, the stream lost): compare now.
        self._nudged = threading.Event()
        # Whether the server is pushing right now; while not, the watcher polls.
        self._pushing = False
        # The next wait is a poll's, pushed or not: a change could not be acted on.
        self._recheck = False
        # Compared first, then streamed: a change in between shows in the stream's first event.
        self._seen = self._signature()
        self._stream: ChangeStream | None = target.change_stream()
        if self._stream is not None:
            threading.Thread(target=self._listen, name="change-stream", daemon=True).start()

    @property
    def pushing(self) -> bool:
        return self._pushing

    def _signature(self) -> tuple[tuple[str, int, bool], ...]:
        return tuple(sorted((s.key, s.version, s.inherited) for s in self.target.list(False)))

    def _listen(self) -> None:
        """The stream's thread: each note nudges the waiter; a lost stream makes it poll."""
        from stacksafe.client import StackChange

        stream = self._stream
        assert stream is not None  # noqa: S101 - started only with a stream
        lost, connected_before = False, False
        try:
            for note in stream:
                if isinstance(note, StackChange):
                    if lost:
                        _say("the server pushes changes again")
                    # The first ``ready`` closes the gap between the first comparison and the
                    # stream's start; a later one says nothing was missed while it was away.
                    nudge = note.kind == "change" or not connected_before
                    lost, connected_before, self._pushing = False, True, True
                else:
                    nudge = not lost  # compare once now; then poll until it is back
                    if not lost:
                        _say(
                            f"{note.problem}; polling every {self.interval:g} s until the "
                            "server pushes again"
                        )
                    lost, self._pushing = True, False
                if nudge:
                    self._nudged.set()
        except StacksafeError as exc:
            # Refused for good: no such endpoint (an older server: 404, 405), or the token or
            # the stack refused, which the polls will report as they find it.
            if not self.stopped.is_set():
                _say(f"no push from the server ({exc.message}); polling every {self.interval:g} s")
        finally:
            self._pushing = False
            self._nudged.set()

    def wait_for_change(self) -> bool:
        """Wait until the set changes (True) or ``stop`` (False): a comparison at each pushed
        event, or every ``interval`` seconds while nothing pushes.

        A comparison that fails (the server restarting, the database busy) is reported on stderr
        and the watching goes on: a watcher outlives the outages it is meant to ride through."""
        while not self.stopped.is_set():
            polling = self._recheck or not self._pushing
            self._nudged.wait(self.interval if polling else None)
            self._nudged.clear()
            if self.stopped.is_set():
                break
            self._recheck = False
            try:
                now = self._signature()
            except StacksafeError as exc:
                _say(f"{exc.message}; trying again")
                self._recheck = True
                continue
            if now != self._seen:
                self._seen = now
                return True
        return False

    def retry(self) -> None:
        """The last change could not be acted on: report it again at the next poll."""
        self._seen = ()
        self._recheck = True

    def stop(self) -> None:
        self.stopped.set()
        self._nudged.set()
        if self._stream is not None:
            self._stream.close()
