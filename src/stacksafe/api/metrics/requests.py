"""HTTP requests by route template, method and status: counted as plain numbers, shown at scrape.

Every request of the server passes here (api.app), the hot read included, so this is counted
without prometheus_client's per-sample locks: a request is counted on the event loop's thread,
once its answer is sent (an ASGI app's code between its awaits runs there, even for a route
whose work ran in a thread), and one thread needs no lock against itself. A scrape, from any
thread, reads the numbers as they are (a request counted in the count and not yet in a bucket
is off by one for one scrape) and turns them into a counter and a histogram.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from stacksafe.api.metrics.labels import method_label, status_label

__all__ = ["HTTP_BUCKETS", "RequestTally"]

# Request latency: from the fast read kept in memory (under a millisecond) to a write waiting
# for PostgreSQL or a rotation's webhook (seconds).
HTTP_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_LE = (*(repr(b) for b in HTTP_BUCKETS), "+Inf")  # as Prometheus writes them: 0.5, 1.0


class _Tally:
    """One (route, method, status): requests, their seconds in all, and per bucket."""

    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(HTTP_BUCKETS) + 1)  # not cumulative; the last: +Inf


class RequestTally(Collector):
    """``stacksafe_http_requests_total`` and ``stacksafe_http_request_duration_seconds``."""

    def __init__(self) -> None:
        # By the labels as shown (bounded), and by what ``counted`` is given (a method off the
        # list is not kept under its own name: a client could fill memory with made-up ones).
        self._tallies: dict[tuple[str, str, str], _Tally] = {}
        self._given: dict[tuple[str, str, int], _Tally] = {}
        self._adding = threading.Lock()  # only to add a label set, never to count

    def describe(self) -> list[Metric]:
        return []

    def counted(self, route: str, method: str, status: int, seconds: float) -> None:
        """One request answered (on the event loop's thread: see the module)."""
        tally = self._given.get((route, method, status))
        if tally is None:
            tally = self._added(route, method, status)
        tally.count += 1
        tally.seconds += seconds
        tally.buckets[bisect_left(HTTP_BUCKETS, seconds)] += 1

    def _added(self, route: str, method: str, status: int) -> _Tally:
        shown = (route, method_label(method), status_label(status))
        with self._adding:
            tally = self._tallies.setdefault(shown, _Tally())
            if shown[1] == method:
                self._given[(route, method, status)] = tally
        return tally

    def collect(self) -> Iterator[Metric]:
        with self._adding:
            tallies = list(self._tallies.items())
        requests = CounterMetricFamily(
            "stacksafe_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            labels=("route", "method", "status"),
        )
        # The histogram by status class: 14 buckets per route and method, not per code.
        classes: dict[tuple[str, str, str], tuple[list[int], float]] = {}
        for (route, method, status), tally in tallies:
            requests.add_metric((route, method, status), tally.count)
            group = f"{status[0]}xx" if status[0].isdigit() else status
            buckets, seconds = classes.get((route, method, group), ([0] * len(_LE), 0.0))
            classes[(route, method, group)] = (
                [a + b for a, b in zip(buckets, tally.buckets, strict=True)],
                seconds + tally.seconds,
            )
        yield requests
        duration = HistogramMetricFamily(
            "stacksafe_http_request_duration_seconds",
            "Time from a request's arrival to its answer's last byte, by route template, "
            "method and status class.",
            labels=("route", "method", "status_class"),
        )
        for labels, (buckets, seconds) in classes.items():
            cumulative, running = [], 0
            for le, count in zip(_LE, buckets, strict=True):
                running += count
                cumulative.append((le, float(running)))
            duration.add_metric(labels, cumulative, seconds)
        yield duration
