"""The cyclic collector in a serving app (api.app's lifespan): what was loaded frozen, the young
generation's threshold raised while it serves and put back when it stops, and so fewer young
passes over the warm reveals; counted, not timed."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from stacksafe.api.app import SERVING_YOUNG_THRESHOLD, create_app
from stacksafe.core.installation import Installation
from tests.api.helpers import World, build_world, client_for, set_local

REVEALS = 400


@pytest.fixture
def collector_restored() -> Iterator[tuple[int, int, int]]:
    """This test process's collector as it was, whatever the lifespan did to it."""
    thresholds = gc.get_threshold()
    try:
        yield thresholds
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _young_passes_over_warm_reveals(world: World, *, serving: bool) -> int:
    """Young passes of the collector while ``REVEALS`` warm 50-secret reveals are answered."""
    app = create_app(world.installation, serving=serving, rate_limit=10**9)
    passes = [0]

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 0:
            passes[0] += 1

    with client_for(app, world.admin_token.token) as client:
        url = world.stack_url() + "?reveal=true"
        assert client.get(url).status_code == 200  # warm: the level and the token kept
        gc.collect()
        gc.callbacks.append(count)
        try:
            for _ in range(REVEALS):
                assert client.get(url).status_code == 200
        finally:
            gc.callbacks.remove(count)
    return passes[0]


@pytest.mark.databases("sqlite")
def test_a_serving_app_raises_the_young_threshold_while_it_serves(
    installation: Installation, collector_restored: tuple[int, int, int]
) -> None:
    before = collector_restored
    with client_for(create_app(installation, serving=True), None) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == (SERVING_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before


@pytest.mark.databases("sqlite")
def test_an_app_that_is_not_serving_leaves_the_collector_alone(
    installation: Installation, collector_restored: tuple[int, int, int]
) -> None:
    with client_for(create_app(installation), None) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == collector_restored


@pytest.mark.databases("sqlite")
@pytest.mark.usefixtures("collector_restored")
def test_warm_reveals_while_serving_make_a_tenth_of_the_young_passes(
    installation: Installation,
) -> None:
    world = build_world(installation)
    set_local(installation, world.stack_target, {f"KEY_{n:02d}": f"value-{n}" for n in range(50)})
    gc.set_threshold(700, *gc.get_threshold()[1:])  # CPython's default, whatever the runner set
    serving = _young_passes_over_warm_reveals(world, serving=True)
    assert gc.get_threshold()[0] == 700  # put back when the app stopped
    not_serving = _young_passes_over_warm_reveals(world, serving=False)
    assert not_serving >= 10  # the same requests at the default threshold
    assert serving * 5 <= not_serving
