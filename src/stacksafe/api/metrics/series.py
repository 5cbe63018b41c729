"""The server's metrics: one registry per app, the series it counts, and the core's meter.

Each app (api.app) makes its own ``ApiMetrics``: a ``CollectorRegistry`` of its own, never
prometheus_client's global one, so two apps in one process (the tests) count apart. It is the
installation's meter too (core.metering): the core tells it of reveals, audit group commits
and logins. Counting must cost the hot read next to nothing: a labelled child is looked up once
per label set and kept (``labels()`` builds a tuple and takes a lock every time), so a request
costs a dict lookup and the child's own increment; the HTTP requests, counted for every
request, are plain numbers (api.metrics.requests). Every label value comes from a fixed set
(api.metrics.labels).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from stacksafe.api.metrics.collectors import (
    BuildInfo,
    CacheCollector,
    Caches,
    PoolCollector,
    SinkLag,
    SinkLagCollector,
    no_sink_lag,
)
from stacksafe.api.metrics.labels import check_label, login_method_label, purpose_label
from stacksafe.api.metrics.requests import RequestTally
from stacksafe.core.installation import Installation
from stacksafe.core.metering import Meter
from stacksafe.core.rotation import RotationOutcome
from stacksafe.core.rotators.kinds import ROTATORS

__all__ = ["FACE", "ApiMetrics"]

# Which face a request came in by (api, vault, web), for the reveals it makes: api.app sets it
# per request, and a thread the request hops to inherits it. "background": no request (the
# rotation scheduler).
FACE: ContextVar[str] = ContextVar("stacksafe_face", default="background")

COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_ROTATION_OUTCOMES = frozenset({"rotated", "failed", "skipped"})


class ApiMetrics(Meter):
    """The series of one app, in ``registry``; see docs/operations.md "Metrics"."""

    def __init__(self, installation: Installation, caches: Caches, version: str) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestTally()
        self._reveals = Counter(
            "stacksafe_reveals",
            "Reads of secret values answered, by face and purpose (one per request).",
            ("face", "purpose"),
            registry=registry,
        )
        self._commit_events = Histogram(
            "stacksafe_audit_commit_group_events",
            "Audit events written per group commit (one transaction, one fsync).",
            buckets=GROUP_BUCKETS,
            registry=registry,
        )
        self._commit_seconds = Histogram(
            "stacksafe_audit_commit_duration_seconds",
            "Time one audit group commit's transaction took, retries included.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self._commit_failures = Counter(
            "stacksafe_audit_commit_failures",
            "Audit group commits that failed (their reveals and refusals were answered 503).",
            registry=registry,
        )
        self._rotations = Counter(
            "stacksafe_rotations",
            "Rotations the server's scheduler ran, by rotator kind and outcome.",
            ("rotator", "outcome"),
            registry=registry,
        )
        self._refusals = Counter(
            "stacksafe_rate_limit_refusals",
            "Requests refused by a limit: per_token (a token's requests per hour) or "
            "bad_tokens (an address over its invalid-token limit).",
            ("limit",),
            registry=registry,
        )
        self._invalid_credentials = Counter(
            "stacksafe_invalid_credentials",
            "Requests refused for an unknown, expired or revoked token (not a missing one), "
            "or a refused workload login: what the bad_tokens limit counts per address.",
            registry=registry,
        )
        self._logins = Counter(
            "stacksafe_logins",
            "Workload (JWT) and single sign-on logins, issued or refused, by the check that "
            "refused them.",
            ("method", "outcome", "check"),
            registry=registry,
        )
        self.sink_lag = SinkLagCollector(no_sink_lag)
        for collector in (
            self.requests,
            CacheCollector(caches),
            PoolCollector(installation),
            BuildInfo(version, platform.python_version(), installation.store.dialect),
            self.sink_lag,
        ):
            registry.register(collector)
        # Children kept by their (bounded) labels; see the module.
        self._reveal_children: dict[tuple[str, str], Any] = {}
        self._per_token = self._refusals.labels("per_token")
        self._bad_tokens = self._refusals.labels("bad_tokens")
        for limit in (self._per_token, self._bad_tokens):
            limit.inc(0)  # present from the start, at 0: an alert's rate() has a series

    def revealed(self, purpose: str) -> None:
        key = (FACE.get(), purpose_label(purpose))
        child = self._reveal_children.get(key)
        if child is None:
            child = self._reveal_children[key] = self._reveals.labels(*key)
        child.inc()

    def audit_committed(self, size: int, seconds: float, ok: bool) -> None:
        self._commit_events.observe(size)
        self._commit_seconds.observe(seconds)
        if not ok:
            self._commit_failures.inc()

    def logged_in(self, method: str, refused: str | None) -> None:
        outcome = "issued" if refused is None else "refused"
        self._logins.labels(login_method_label(method), outcome, check_label(refused)).inc()

    def rotated(self, outcomes: list[RotationOutcome]) -> None:
        """The rotation scheduler's outcomes of one run (api.rotation_scheduler)."""
        for outcome in outcomes:
            rotator = outcome.rotator if outcome.rotator in ROTATORS else "other"
            result = outcome.outcome if outcome.outcome in _ROTATION_OUTCOMES else "other"
            self._rotations.labels(rotator, result).inc()

    def throttled(self, limit: str) -> None:
        """A request refused by ``limit``: ``per_token`` or ``bad_tokens``."""
        (self._per_token if limit == "per_token" else self._bad_tokens).inc()

    def invalid_credential(self) -> None:
        self._invalid_credentials.inc()

    def watch_sink_lag(self, lag: Callable[[], SinkLag]) -> None:
        """Report ``lag()`` (sink name -> events not yet delivered) at every scrape."""
        self.sink_lag.lag = lag
