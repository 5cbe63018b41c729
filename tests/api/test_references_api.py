"""References over HTTP: resolved when revealed, `?resolve=false` for the stored text, errors as
409 naming the problem, and never a value in an error."""

from __future__ import annotations

from tests.api.helpers import World, assert_error, set_local


def test_revealed_values_are_resolved_unless_asked_not_to(world: World) -> None:
    set_local(world.vault, world.account_target, {"HOST": "db.internal"})
    set_local(world.vault, world.stack_target, {"URL": "postgres://${HOST}:5432", "PW": "pw-1"})

    listed = world.client.get(world.stack_url(), params={"reveal": "true"})
    one = world.client.get(world.stack_url("URL"), params={"reveal": "true"})
    raw = world.client.get(world.stack_url("URL"), params={"reveal": "true", "resolve": "false"})
    hidden = world.client.get(world.stack_url("URL"))

    by_key = {s["key"]: s["raw_value"] for s in listed.json()["response"]}
    assert by_key["URL"] == "postgres://db.internal:5432"
    assert one.json()["response"]["raw_value"] == "postgres://db.internal:5432"
    assert raw.json()["response"]["raw_value"] == "postgres://${HOST}:5432"
    assert hidden.json()["response"]["raw_value"] is None


def test_a_broken_reference_is_a_409_that_names_it_and_shows_no_value(world: World) -> None:
    set_local(world.vault, world.stack_target, {"A": "secret-a ${B}", "B": "secret-b ${A}"})
    set_local(world.vault, world.stack_target, {"C": "${MISSING}"})

    cycle = world.client.get(world.stack_url("A"), params={"reveal": "true"})
    missing = world.client.get(world.stack_url("C"), params={"reveal": "true"})

    body = assert_error(cycle, 409, "conflict")
    assert "A -> B -> A" in body["error_description"]
    assert "secret-a" not in cycle.text
    assert "secret-b" not in cycle.text
    assert "${MISSING}" in assert_error(missing, 409, "conflict")["error_description"]
    listed = world.client.get(world.stack_url(), params={"reveal": "true", "resolve": "false"})
    assert listed.status_code == 200
