"""Rotation over HTTP: policies, rotate now, status, labels; bad input is a 400 that names it."""

from __future__ import annotations

import pytest

from tests.api.helpers import World, assert_error, set_local, snapshot

# SQLite only (tests/conftest.py, DATABASES): rotation's HTTP shapes and 400s; policies, their
# storage and rotating are core's, on both databases in tests/core/test_rotation*.py.
pytestmark = pytest.mark.databases("sqlite")


def test_a_policy_over_http_and_a_rotation(world: World) -> None:
    set_local(world.installation, world.stack_target, {"TOKEN": "first-value"})
    url = world.stack_url("TOKEN")
    put = world.client.put(
        f"{url}/rotation",
        json={
            "rotate_every": "30d",
            "expires_at": "2031-01-01T00:00:00Z",
            "rotator": "generate",
            "config": {"length": 12, "charset": "hex"},
        },
    )
    assert put.status_code == 200, put.text
    policy = put.json()["response"]
    assert policy["rotate_every"] == 30 * 86400
    assert policy["expires_at_iso"] == "2031-01-01T00:00:00Z"
    assert policy["config"] == {"length": 12, "charset": "hex"}
    assert world.client.get(f"{url}/rotation").json()["response"] == policy

    rotated = world.client.post(f"{url}/rotate").json()["response"]
    assert (rotated["outcome"], rotated["version"], rotated["error"]) == ("rotated", 2, None)
    current = world.client.get(url, params={"reveal": "true"}).json()["response"]["raw_value"]
    assert len(current) == 12
    previous = world.client.get(url, params={"reveal": "true", "label": "previous"})
    assert previous.json()["response"]["raw_value"] == "first-value"
    assert previous.headers["etag"] == '"1"'
    no_pending = world.client.get(url, params={"label": "pending"})
    assert (
        "no rotation of 'TOKEN' is in progress"
        in assert_error(no_pending, 404)["error_description"]
    )

    status = world.client.get(
        f"/api/3/accounts/{world.account.uid}/rotation_status", params={"all": "true"}
    )
    (entry,) = status.json()["response"]
    assert (entry["key"], entry["state"], entry["stack_uid"]) == ("TOKEN", "ok", world.stack.uid)
    assert status.json()["count"] == 1
    assert (
        world.client.get(f"/api/3/accounts/{world.account.uid}/rotation_status").json()["response"]
        == []
    )

    deleted = world.client.delete(f"{url}/rotation")
    assert deleted.json()["response"] == {"key": "TOKEN", "deleted": True}
    assert_error(world.client.get(f"{url}/rotation"), 404, "not_found")


def test_bad_policies_are_400s_that_name_the_problem_and_change_nothing(world: World) -> None:
    set_local(world.installation, world.stack_target, {"K": "v"})
    url = world.stack_url("K") + "/rotation"
    before = snapshot(world.installation)
    for body, message in [
        ({"rotate_every": "often"}, "duration 'often' is not valid"),
        ({"rotate_every": "10s"}, "at least one minute"),
        ({"rotator": "sometimes"}, "rotator 'sometimes' is not one of"),
        ({"rotator": "webhook", "config": {"url": "file:///etc/passwd"}}, "http:// or https://"),
        (
            {"rotator": "webhook", "config": {"url": "http://169.254.169.254/latest/meta-data"}},
            "169.254.169.254:80 is not a host stacksafe may connect to",
        ),
        (
            {"rotator": "webhook", "config": {"url": "http://127.0.0.1:99999/"}},
            "the webhook url's port must be a number 1-65535",
        ),
        (
            {"rotator": "webhook", "config": {"url": "http://example.invalid:99999/"}},
            "the webhook url's port must be a number 1-65535",
        ),
        (
            {"rotator": "webhook", "config": {"url": "http://example.invalid:0/"}},
            "the webhook url's port must be a number 1-65535",
        ),
        ({"rotator": "generate", "config": {"length": "long"}}, "length must be"),
        ({"expires_at": "2031-01-01T00:00:00"}, "needs a time zone"),
    ]:
        refused = world.client.put(url, json=body)
        assert message in assert_error(refused, 400)["error_description"], body
    unknown = world.client.put(url, json={"rotate": "30d"})
    assert_error(unknown, 400)
    assert snapshot(world.installation) == before
    bad_label = world.client.get(world.stack_url("K"), params={"label": "oldest"})
    assert "label 'oldest' is not one of" in assert_error(bad_label, 400)["error_description"]
    bad_window = world.client.get(
        f"/api/3/accounts/{world.account.uid}/rotation_status", params={"within": "-1d"}
    )
    assert_error(bad_window, 400)
