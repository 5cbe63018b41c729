"""Series read at scrape time, not counted: the caches, the database pool, sink lag, the build.

Each is a prometheus_client custom collector: ``collect`` reads what the server already
keeps (a cache's hit counts, the pool's checked-out connections) when Prometheus asks, so
nothing is added to the requests that change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stacksafe.core.installation import Installation
from stacksafe.core.metering import pool_usage

__all__ = [
    "BuildInfo",
    "CacheCollector",
    "Caches",
    "Counting",
    "PoolCollector",
    "SinkLag",
    "SinkLagCollector",
    "no_sink_lag",
]


class Counting(Protocol):
    """A cache that counts its lookups (core.read_cache, core.known_tokens, api.pages)."""

    hits: int
    misses: int


@dataclass(frozen=True)
class Caches:
    """The caches to report, by the name their series carry (None: the cache is off)."""

    counting: Mapping[str, Counting | None]
    # Bytes kept, for those bounded in bytes.
    kept_bytes: Mapping[str, Callable[[], int]]


class CacheCollector(Collector):
    def __init__(self, caches: Caches) -> None:
        self._caches = caches

    def describe(self) -> list[Metric]:
        return []  # names checked at scrape, not registration (nothing to read then)

    def collect(self) -> Iterator[Metric]:
        lookups = CounterMetricFamily(
            "stacksafe_cache_lookups",
            "Lookups of the read caches: read_cache (opened levels), pages (rendered list "
            "bodies), tokens (authenticated principals), by result (hit or miss).",
            labels=("cache", "result"),
        )
        for name, cache in self._caches.counting.items():
            if cache is not None:
                lookups.add_metric((name, "hit"), cache.hits)
                lookups.add_metric((name, "miss"), cache.misses)
        yield lookups
        kept = GaugeMetricFamily(
            "stacksafe_cache_bytes", "Bytes a cache keeps now, of its bound.", labels=("cache",)
        )
        for name, read in self._caches.kept_bytes.items():
            kept.add_metric((name,), read())
        yield kept


class PoolCollector(Collector):
    """The SQLAlchemy connection pool of the installation's database, as it is at scrape."""

    def __init__(self, installation: Installation) -> None:
        self._installation = installation

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        usage = pool_usage(self._installation)
        yield GaugeMetricFamily(
            "stacksafe_db_pool_checked_out_connections",
            "Database connections lent to transactions now.",
            value=usage.checked_out,
        )
        yield GaugeMetricFamily(
            "stacksafe_db_pool_size_connections",
            "Database connections the pool keeps open between transactions.",
            value=usage.size,
        )
        yield GaugeMetricFamily(
            "stacksafe_db_pool_max_connections",
            "The most connections the pool opens at once (its size and overflow); a "
            "transaction that finds none free waits, then fails with 503.",
            value=usage.limit,
        )


class BuildInfo(Collector):
    def __init__(self, version: str, python: str, database: str) -> None:
        self._labels = (version, python, database)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "stacksafe_build_info",
            "Always 1: the server's version, its Python, and its database's dialect.",
            labels=("version", "python", "database"),
        )
        info.add_metric(self._labels, 1)
        yield info


# Sink name -> events appended to the audit log and not yet delivered to that sink.
SinkLag = Mapping[str, int]


def no_sink_lag() -> SinkLag:
    """No sinks (until the audit stream's delivery reports its own: api.app wires it)."""
    return {}


class SinkLagCollector(Collector):
    """Per audit sink, how far its delivery is behind the log: ``lag()`` at every scrape."""

    def __init__(self, lag: Callable[[], SinkLag]) -> None:
        self.lag = lag

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "stacksafe_audit_sink_lag_events",
            "Audit events appended and not yet delivered to each sink (its name as the owner "
            "gave it).",
            labels=("sink",),
        )
        for name, events in sorted(self.lag().items()):
            family.add_metric((name,), events)
        yield family
