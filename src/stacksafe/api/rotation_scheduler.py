"""The rotation scheduler of a serving process: a thread that runs what is due, again and again.

What one run does is core's (``core.rotation.run_scheduled``); this is only the loop, started and
stopped with the API app (api.app's lifespan).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from stacksafe.api.background import Background
from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.rotation import RotationOutcome, run_scheduled

__all__ = ["RotationScheduler"]

log = logging.getLogger(__name__)


class RotationScheduler(Background):
    """A daemon thread of `stacksafe serve` that runs ``core.rotation.run_scheduled`` every
    ``interval``. Several servers may run one each: claims in the database keep them from
    rotating a secret twice."""

    def __init__(
        self,
        installation: Installation,
        interval: timedelta,
        actor: Principal | None = None,
        on_outcomes: Callable[[list[RotationOutcome]], None] | None = None,
    ) -> None:
        self.installation, self.interval = installation, interval
        self.actor = actor or Principal.local("rotation-scheduler")
        self.on_outcomes = on_outcomes
        super().__init__("rotation-scheduler", self._loop)

    def run_once(self) -> list[RotationOutcome]:
        outcomes = run_scheduled(self.installation, self.actor)
        if self.on_outcomes is not None:
            self.on_outcomes(outcomes)
        return outcomes

    def _loop(self) -> None:
        while not self._stop.wait(self.interval.total_seconds()):
            try:
                self.run_once()
            except Exception as exc:  # the scheduler must outlive one bad run
                # The type only: an unexpected exception's text or traceback may quote data
                # (a driver echoing a statement), and logs must never hold a value.
                log.error(
                    "the rotation scheduler's run failed (%s); it will try again",
                    type(exc).__name__,
                )
