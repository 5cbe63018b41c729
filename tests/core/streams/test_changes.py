"""core.streams.changes: a stack's signature changes exactly when its effective set as a
describe shows it changes (keys, versions, provenance), whoever wrote; a poll reads the
revisions that tell a watcher to compute it again; a stream's token is checked again.
Both databases: the revisions are the database's triggers' (migrations 0007, 0008, 0010)."""

from __future__ import annotations

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.principals import authenticate, create_token, create_user, revoke_token
from stacksafe.core.secrets import list_secrets, restrict_secret, set_secret, unset_secret
from stacksafe.core.streams.changes import open_watch, poll, signature_of, still_watching
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.core.versions import destroy_version, rollback_key
from stacksafe.errors import Forbidden, NotFound
from stacksafe.model import SecretValue
from tests.actors import LOCAL


def _now(installation: Installation, target: Target) -> tuple[str, str]:
    """(the stack's revision as polled, its signature)."""
    assert target.stack is not None
    state = poll(installation, [target.stack.id]).stacks[target.stack.id]
    return state.revision, signature_of(installation, target.stack.id, state)


def _put(installation: Installation, target: Target, key: str, value: str) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value))


def test_the_signature_follows_the_described_set(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    seen = {_now(installation, stack_target)[1]}

    def changed() -> None:
        signature = _now(installation, stack_target)[1]
        assert signature not in seen
        seen.add(signature)

    _put(installation, stack_target, "OWN", "1")
    changed()
    _put(installation, account_target, "SHARED", "a")
    changed()
    _put(installation, stack_target, "SHARED", "override")  # the same key, now the stack's own
    changed()
    _put(installation, stack_target, "OWN", "2")
    changed()
    rollback_key(installation, LOCAL, stack_target, "OWN", 1)
    changed()
    unset_secret(installation, LOCAL, stack_target, "SHARED")  # inherited again
    changed()
    restrict_secret(installation, LOCAL, account_target, "SHARED", ["staging"])
    changed()
    described = list_secrets(installation, LOCAL, stack_target)
    assert [s.key for s in described] == ["OWN"]


def test_writes_the_stack_does_not_see_move_the_revision_not_the_signature(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    _put(installation, stack_target, "OWN", "1")
    _put(installation, stack_target, "OWN", "2")
    revision, signature = _now(installation, stack_target)
    destroy_version(installation, LOCAL, stack_target, "OWN", 1)  # history only
    after_destroy = _now(installation, stack_target)
    assert after_destroy[0] != revision
    assert after_destroy[1] == signature
    set_secret(
        installation, LOCAL, account_target, "STAGING", SecretValue("s"), environments=["staging"]
    )
    other = create_stack(installation, LOCAL, "acme", "api", "production")
    _put(installation, Target(account_target.account, other), "THEIRS", "x")
    assert _now(installation, stack_target)[1] == signature


def test_a_poll_tells_the_principals_revision_and_which_stacks_are_gone(
    installation: Installation, stack_target: Target
) -> None:
    assert stack_target.stack is not None
    before = poll(installation, [stack_target.stack.id, 999_999])
    assert set(before.stacks) == {stack_target.stack.id}
    create_user(installation, LOCAL, "v@acme.test", "acme", "viewer", None)
    after = poll(installation, [stack_target.stack.id])
    assert after.principals != before.principals
    assert poll(installation, []).stacks == {}


def test_a_stream_is_allowed_as_a_describe_and_checked_again(
    installation: Installation, stack_target: Target
) -> None:
    assert stack_target.stack is not None
    uid = stack_target.stack.uid
    create_user(installation, LOCAL, "v@acme.test", "acme", "viewer", None)
    viewer = create_token(installation, LOCAL, "v@acme.test", scopes=["public"])
    narrowed = create_token(
        installation, LOCAL, "v@acme.test", scopes=["public"], environments=["staging"]
    )
    assert still_watching(installation, viewer.token, uid) is None
    reason = still_watching(installation, narrowed.token, uid)
    assert reason is not None
    assert "environment" in reason
    actor = authenticate(installation, narrowed.token)
    with pytest.raises(Forbidden, match="environment"):
        open_watch(installation, actor, uid)
    with pytest.raises(NotFound):
        open_watch(installation, actor, "no-such-stack")
    revoke_token(installation, LOCAL, viewer.uid)
    gone = still_watching(installation, viewer.token, uid)
    assert gone is not None
    assert "revoked" in gone
    assert viewer.token not in gone
