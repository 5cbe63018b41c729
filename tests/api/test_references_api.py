"""References over HTTP: resolved when revealed, `?resolve=false` for the stored text, errors as
409 naming the problem, and never a value in an error."""

from __future__ import annotations

import pytest

from tests.api.helpers import World, assert_error, set_local, table_rows
from tests.core.helpers_references import cycle as make_cycle
from tests.core.helpers_references import dangling

# SQLite only (tests/conftest.py, DATABASES): how the API words reference errors; resolving
# references is core's, on both databases in tests/core/test_references.py.
pytestmark = pytest.mark.databases("sqlite")


def test_revealed_values_are_resolved_unless_asked_not_to(world: World) -> None:
    set_local(world.installation, world.account_target, {"HOST": "db.internal"})
    set_local(
        world.installation, world.stack_target, {"URL": "postgres://${HOST}:5432", "PW": "pw-1"}
    )

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
    make_cycle(world.installation, world.account_target, world.stack_target, "A", "B")
    dangling(world.installation, world.stack_target, "C", "MISSING")

    cycle = world.client.get(world.stack_url("A"), params={"reveal": "true"})
    missing = world.client.get(world.stack_url("C"), params={"reveal": "true"})

    body = assert_error(cycle, 409, "conflict")
    assert "A -> B -> A" in body["error_description"]
    assert "secret-a" not in cycle.text
    assert "secret-b" not in cycle.text
    assert "${MISSING}" in assert_error(missing, 409, "conflict")["error_description"]
    listed = world.client.get(world.stack_url(), params={"reveal": "true", "resolve": "false"})
    assert listed.status_code == 200


def test_a_list_isolates_broken_keys_and_a_write_creating_one_is_a_409(world: World) -> None:
    set_local(world.installation, world.stack_target, {"OTHER": "fine"})
    dangling(world.installation, world.stack_target, "C", "MISSING")

    listed = world.client.get(world.stack_url(), params={"reveal": "true"})
    assert listed.status_code == 200, listed.text
    values = {s["key"]: s["raw_value"] for s in listed.json()["response"]}
    assert values == {"C": None, "OTHER": "fine"}  # C without a value, never its stored text

    before = table_rows(world.installation)
    refused = world.client.put(world.stack_url("D"), json={"raw_value": "${C}${NOPE}"})
    body = assert_error(refused, 409, "conflict")
    assert body["error_description"] == (
        "'D' in stack 'web' of account 'acme' references ${MISSING} (through D -> C), which does "
        "not exist there (for a literal ${, write $${); nothing was written"
    )
    assert table_rows(world.installation) == before


def test_a_write_whose_references_would_expand_too_far_is_a_422_naming_the_key(
    world: World,
) -> None:
    set_local(world.installation, world.stack_target, {"A": "x" * 8})
    # Each level 64 times the one before: B is 512 bytes, C 32 KiB, D would be 2 MiB.
    for key, below in (("B", "A"), ("C", "B")):
        put = world.client.put(world.stack_url(key), json={"raw_value": f"${{{below}}}" * 64})
        assert put.status_code == 200, put.text
    # 100 times an account value the stack inherits: 50,000 bytes.
    set_local(world.installation, world.account_target, {"UNIT": "u" * 500})
    set_local(world.installation, world.stack_target, {"USES": "${UNIT}" * 100})
    before = table_rows(world.installation)

    refused = world.client.put(world.stack_url("D"), json={"raw_value": "${C}" * 64})
    body = assert_error(refused, 422, "expansion_too_large")
    assert "'D' in stack 'web'" in body["error_description"]
    assert "xxxxxxxx" not in refused.text
    # An account write that would make the stack's value 70,000 bytes.
    grows = world.client.put(world.account_url("UNIT"), json={"raw_value": "u" * 700})
    body = assert_error(grows, 422, "expansion_too_large")
    assert "'USES' in stack 'web'" in body["error_description"]
    assert table_rows(world.installation) == before


def test_a_reveal_beyond_the_bounds_is_a_422_naming_the_key_on_every_read(world: World) -> None:
    set_local(world.installation, world.account_target, {"PART": "p" * 4096})
    set_local(world.installation, world.stack_target, {"BIG": "${account.PART}" * 8, "OK": "fine"})
    world.installation.max_value_bytes = (
        16 * 1024
    )  # lowered after BIG was written (32 KiB resolved)

    for params in ({"reveal": "true"}, {"reveal": "true", "per_page": "1"}):
        listed = world.client.get(world.stack_url(), params=params)
        body = assert_error(listed, 422, "expansion_too_large")
        assert "'BIG' in stack 'web'" in body["error_description"]
        assert "pppp" not in listed.text
    one = world.client.get(world.stack_url("BIG"), params={"reveal": "true"})
    assert "'BIG'" in assert_error(one, 422, "expansion_too_large")["error_description"]
    # The other key alone, and the stored text, are still served.
    assert world.client.get(world.stack_url("OK"), params={"reveal": "true"}).status_code == 200
    raw = world.client.get(world.stack_url(), params={"reveal": "true", "resolve": "false"})
    assert raw.status_code == 200

    world.installation.max_value_bytes = 64 * 1024
    world.installation.max_expanded_bytes = 16 * 1024  # now the read as a whole is too much
    listed = world.client.get(world.stack_url(), params={"reveal": "true"})
    body = assert_error(listed, 422, "expansion_too_large")
    assert "builds more than 16384 bytes" in body["error_description"]
