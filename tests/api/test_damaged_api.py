"""Damaged stored rows through the API: a 500 with the stable ``integrity_error`` code and the
usual three-field body (no traceback, no value), on the lane (warm: its page was kept before
the damage; cold: never read) and the route, for lists, single keys and history; every failed
request is one audit event. SQLite and PostgreSQL (``world``)."""

from __future__ import annotations

import pytest
from httpx import Response

from stacksafe.api.app import create_app
from stacksafe.core.audit_events import list_events
from stacksafe.core.guard import INTEGRITY_OUTCOME
from tests.api.helpers import World, assert_error, client_for, set_local
from tests.damage import INHERITED, KINDS, OTHER, OVERRIDE, damage, values_seeded


def _seed(world: World) -> None:
    seeded = values_seeded()
    set_local(world.installation, world.account_target, seeded["account"])
    set_local(world.installation, world.stack_target, seeded["stack"])


def _integrity_failure(response: Response) -> None:
    body = assert_error(response, 500, "integrity_error")
    text = response.text
    assert "Traceback" not in text
    for value in (INHERITED, OVERRIDE, OTHER):
        assert value not in text
    assert body["error_description"].count("\n") == 0


def _integrity_events(world: World) -> int:
    return sum(e.outcome == INTEGRITY_OUTCOME for e in list_events(world.installation, limit=1000))


@pytest.mark.parametrize("kind", KINDS)
def test_damage_is_an_integrity_error_on_every_api_read(world: World, kind: str) -> None:
    _seed(world)
    warm = world.stack_url() + "?reveal=true"
    assert world.client.get(warm).status_code == 200  # kept: the lane's warm page
    damage(world.installation.store.engine, world.stack.id, kind)
    route = client_for(create_app(world.installation, fast_path=False), world.admin_token.token)
    with route:
        answers = {
            "lane, warm": world.client.get(warm),
            "lane, cold": world.client.get(world.stack_url() + "?reveal=true&per_page=5"),
            "lane, described": world.client.get(world.stack_url()),
            "route": route.get(warm),
            "get": world.client.get(world.stack_url("K") + "?reveal=true"),
            "history": world.client.get(world.stack_url("K") + "/versions"),
        }
    for name, response in answers.items():
        try:
            _integrity_failure(response)
        except AssertionError as failed:
            raise AssertionError(f"{name}: {failed}") from None
    assert _integrity_events(world) == len(answers)


def test_an_undamaged_account_level_still_reads(world: World) -> None:
    _seed(world)
    damage(world.installation.store.engine, world.stack.id, "missing_version")
    _integrity_failure(world.client.get(world.stack_url() + "?reveal=true"))
    answer = world.client.get(world.account_url("K") + "?reveal=true")
    assert answer.status_code == 200
    assert answer.json()["response"]["raw_value"] == INHERITED
