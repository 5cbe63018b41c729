"""What the core tells a server's metrics: reveals, audit group commits, logins; and the pool.

The core counts nothing itself and knows no metrics library: it calls the ``Meter`` of its
installation, which does nothing (a CLI process has no metrics to serve) until a server's app
puts its own in its place (api.metrics). Every call is made where the thing happened, after
it happened, and must be cheap and never raise: it runs on the hot read, on the event loop.
Nothing given here is a key name, a value or a token: purposes and refusal checks are handed
on as they come and bounded by the meter (api.metrics.labels) before they become labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacksafe.core.installation import Installation
    from stacksafe.store.engine import PoolUsage

__all__ = ["Meter", "pool_usage"]


class Meter:
    """Told what happened; this one forgets it (the default of every installation)."""

    def revealed(self, purpose: str) -> None:
        """A read of values was answered (one per request, however many keys), for
        ``purpose`` as the client stated it."""

    def audit_committed(self, size: int, seconds: float, ok: bool) -> None:
        """One audit group commit of ``size`` events took ``seconds`` (``ok``: committed)."""

    def logged_in(self, method: str, refused: str | None) -> None:
        """A login by ``method`` (``jwt``, ``kubernetes``, ``sso``) issued its token or
        session (``refused`` None), or was refused by the check ``refused`` names."""


def pool_usage(installation: Installation) -> PoolUsage:
    """The database connection pool's use now: read by a metrics collector at scrape time."""
    return installation.store.pool_usage()
