"""The Vault-compatible KV read once a stack is deleted or a user removed: the path's uid kept
by its names (core.kv.paths), the level and its page kept, and the token's principal kept are
not used; a new stack of the same name is a new path."""

from __future__ import annotations

from stacksafe.core.principals import remove_user
from stacksafe.core.tenancy import Target, create_stack
from tests.actors import LOCAL
from tests.api.helpers import set_local, user_with_token
from tests.api.vault.conftest import Kv, errors_of, vault_client


def test_a_deleted_stack_is_not_served_by_the_kv_hot_read_and_its_name_is_new_again(
    kv: Kv,
) -> None:
    world = kv.world
    set_local(kv.installation, world.stack_target, {"OLD": "old-plain-value"})
    for _ in range(3):  # the path's uid kept by its names, the level and its page kept
        assert kv.data("acme/web") == {"OLD": "old-plain-value"}
    deleted = world.client.delete(f"/api/3/stacks/{world.stack.uid}", params={"force": "true"})
    assert deleted.status_code == 200, deleted.text
    assert kv.get("acme/web").status_code == 404
    assert "old-plain-value" not in kv.get("acme/web").text
    fresh = create_stack(kv.installation, LOCAL, "acme", "web", "production")
    set_local(kv.installation, Target(world.account, fresh), {"NEW": "new"})
    assert kv.data("acme/web") == {"NEW": "new"}
    assert kv.data("acme/web") == {"NEW": "new"}


def test_a_removed_users_vault_token_is_refused_after_kept_reads(kv: Kv) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    ci = user_with_token(kv.installation, "ci@acme.test", "acme", "administrator")
    with vault_client(kv.world, ci.token) as client:
        assert client.get("/v1/secret/data/acme/web").status_code == 200
        assert client.get("/v1/secret/data/acme/web").status_code == 200
        remove_user(kv.installation, LOCAL, "ci@acme.test")
        assert errors_of(client.get("/v1/secret/data/acme/web"), 403) == ["permission denied"]
