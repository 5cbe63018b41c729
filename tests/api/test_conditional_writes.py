"""Check-and-set over HTTP where a stack inherits: the ETag a read gives is what If-Match takes.

A stack's read of a key it only inherits answers the account's version as its ETag; sending
that back creates the override (a stale one is still 412). ``If-Match: *`` (RFC 9110) writes
only if the key has a current value as a read of that URL shows it, own or inherited.
"""

from __future__ import annotations

from typing import Any

from tests.api.helpers import World, assert_error, set_local, snapshot


def _value(world: World, url: str) -> tuple[str, bool, str]:
    response = world.client.get(url, params={"reveal": "true"})
    assert response.status_code == 200, response.text
    secret: dict[str, Any] = response.json()["response"]
    return secret["raw_value"], secret["inherited"], response.headers["etag"]


def test_an_inherited_keys_etag_creates_the_override(world: World) -> None:
    set_local(world.installation, world.account_target, {"DB_URL": "acct-url"})
    read = world.client.get(world.stack_url("DB_URL"))
    assert read.json()["response"]["inherited"] is True
    etag = read.headers["etag"]

    written = world.client.put(
        world.stack_url("DB_URL"), json={"raw_value": "stack-url"}, headers={"If-Match": etag}
    )

    assert written.status_code == 200, written.text
    assert written.json()["response"]["inherited"] is False
    assert _value(world, world.stack_url("DB_URL"))[:2] == ("stack-url", False)
    assert _value(world, world.account_url("DB_URL"))[0] == "acct-url"


def test_a_stale_inherited_etag_is_still_refused(world: World) -> None:
    set_local(world.installation, world.account_target, {"DB_URL": "acct-url"})
    stale = world.client.get(world.stack_url("DB_URL")).headers["etag"]
    # Someone rotates the account's value after the read: the write must not go through.
    set_local(world.installation, world.account_target, {"DB_URL": "acct-url-2"})
    before = snapshot(world.installation)

    answer = world.client.put(
        world.stack_url("DB_URL"), json={"raw_value": "lost-update"}, headers={"If-Match": stale}
    )

    body = assert_error(answer, 412, "precondition_failed")
    assert "version 2" in body["error_description"]
    assert "lost-update" not in answer.text
    assert snapshot(world.installation) == before
    # And once the stack has an override, the account's version no longer matches it.
    fresh = world.client.get(world.stack_url("DB_URL")).headers["etag"]
    assert fresh == '"2"'
    assert world.client.put(
        world.stack_url("DB_URL"), json={"raw_value": "mine"}, headers={"If-Match": fresh}
    ).is_success
    set_local(world.installation, world.account_target, {"DB_URL": "acct-url-3"})
    own = world.client.get(world.stack_url("DB_URL")).headers["etag"]
    assert own == '"1"'  # the stack's own version now, whatever the account's is
    assert_error(
        world.client.put(
            world.stack_url("DB_URL"), json={"raw_value": "x"}, headers={"If-Match": '"3"'}
        ),
        412,
        "precondition_failed",
    )


def test_if_match_zero_still_means_no_value_of_this_levels_own(world: World) -> None:
    set_local(world.installation, world.account_target, {"DB_URL": "acct-url"})
    created = world.client.put(
        world.stack_url("DB_URL"), json={"raw_value": "stack-url"}, headers={"If-Match": '"0"'}
    )
    assert created.status_code == 200, created.text
    again = world.client.put(
        world.stack_url("DB_URL"), json={"raw_value": "other"}, headers={"If-Match": '"0"'}
    )
    assert_error(again, 412, "precondition_failed")


def test_if_match_star_needs_a_current_value_own_or_inherited(world: World) -> None:
    set_local(world.installation, world.account_target, {"SHARED": "acct"})
    set_local(world.installation, world.stack_target, {"OWN": "stack-1"})
    star = {"If-Match": "*"}

    own = world.client.put(world.stack_url("OWN"), json={"raw_value": "stack-2"}, headers=star)
    assert own.status_code == 200, own.text
    assert own.headers["etag"] == '"2"'
    inherited = world.client.put(
        world.stack_url("SHARED"), json={"raw_value": "override"}, headers=star
    )
    assert inherited.status_code == 200, inherited.text
    assert _value(world, world.stack_url("SHARED"))[:2] == ("override", False)
    account = world.client.put(world.account_url("SHARED"), json={"raw_value": "a2"}, headers=star)
    assert account.status_code == 200, account.text

    before = snapshot(world.installation)
    missing = world.client.put(world.stack_url("NONE"), json={"raw_value": "new"}, headers=star)
    body = assert_error(missing, 412, "precondition_failed")
    assert "NONE" in body["error_description"]
    assert_error(world.client.delete(world.stack_url("NONE"), headers=star), 404)
    assert_error(
        world.client.put(world.account_url("OWN"), json={"raw_value": "new"}, headers=star), 412
    )
    assert snapshot(world.installation) == before

    deleted = world.client.delete(world.stack_url("OWN"), headers=star)
    assert deleted.status_code == 200, deleted.text
    gone = world.client.put(world.stack_url("OWN"), json={"raw_value": "back"}, headers=star)
    assert_error(gone, 412, "precondition_failed")


def test_if_match_star_ignores_an_account_value_this_environment_does_not_inherit(
    world: World,
) -> None:
    restricted = world.client.put(
        world.account_url("STAGING_ONLY"),
        json={"raw_value": "s", "environments": ["staging"]},
    )
    assert restricted.status_code == 200, restricted.text
    assert_error(world.client.get(world.stack_url("STAGING_ONLY")), 404)

    answer = world.client.put(
        world.stack_url("STAGING_ONLY"), json={"raw_value": "p"}, headers={"If-Match": "*"}
    )
    assert_error(answer, 412, "precondition_failed")
    versioned = world.client.put(
        world.stack_url("STAGING_ONLY"), json={"raw_value": "p"}, headers={"If-Match": '"1"'}
    )
    assert_error(versioned, 412, "precondition_failed")
