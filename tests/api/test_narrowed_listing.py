"""A token narrowed to stacks or environments lists only the stacks it is valid for (issue 17,
item 7): it may describe no other, so it must not learn their names from a list either."""

from __future__ import annotations

from stacksafe.core.tenancy import create_stack
from tests.actors import LOCAL
from tests.api.helpers import World, client_for, user_with_token


def names(answer: object) -> list[str]:
    return sorted(s["name"] for s in answer.json()["response"])  # type: ignore[attr-defined]


def test_a_narrowed_token_lists_only_the_stacks_it_may_describe(world: World) -> None:
    installation = world.installation
    dev = create_stack(installation, LOCAL, "acme", "dev", "development")
    create_stack(installation, LOCAL, "acme", "staging", "staging")
    to_one_stack = user_with_token(
        installation, "one@acme.test", "acme", "viewer", stacks=[dev.uid]
    )
    to_development = user_with_token(
        installation, "devonly@acme.test", "acme", "administrator", environments=["development"]
    )
    for token in (to_one_stack, to_development):
        with client_for(world.app, token.token) as client:
            assert names(client.get("/api/3/stacks")) == ["dev"]
            assert names(client.get("/api/3/stacks", params={"account_id": "acme"})) == ["dev"]
            production = {"filter_environment": "production"}
            assert names(client.get("/api/3/stacks", params=production)) == []
            # What it lists, it may describe.
            assert client.get(f"/api/3/stacks/{dev.uid}/secrets").status_code == 200
    # An unnarrowed token of the same role still lists every stack of the account.
    assert names(world.client.get("/api/3/stacks")) == ["dev", "staging", "web"]
