"""The reveal service (core.reveal): one entry for every face, its variants, its receipt."""

from __future__ import annotations

import asyncio

import pytest

from stacksafe.core.access import Principal
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.principals import create_token, create_user
from stacksafe.core.reveal import (
    AccountRef,
    Credential,
    Revealed,
    RevealQuery,
    StackRef,
    reveal,
    reveal_on_loop,
)
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target
from stacksafe.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from stacksafe.model import SecretValue
from tests.actors import LOCAL

BOTH = ["public", "admin"]


def _token(installation: Installation, target: Target, email: str, role: str) -> str:
    create_user(installation, LOCAL, email, target.account.uid, role)
    return create_token(installation, LOCAL, email, scopes=BOTH).token


@pytest.fixture
def seeded(installation: Installation, stack_target: Target, account_target: Target) -> Target:
    set_secret(installation, LOCAL, account_target, "SHARED", SecretValue("from-account"))
    set_secret(installation, LOCAL, stack_target, "OWN", SecretValue("stack-value"))
    return stack_target


def _reveals(installation: Installation) -> list[dict[str, object]]:
    return [e.detail for e in list_events(installation, limit=100) if e.action == "reveal"]


@pytest.mark.parametrize("purpose", ["", "x" * 201, "caf\u00e9", "line\nbreak", "tab\there"])
def test_a_purpose_that_is_not_one_is_refused_naming_it(purpose: str) -> None:
    with pytest.raises(InvalidInput, match="purpose must be 1 to 200 printable ASCII"):
        RevealQuery(reveal=True, purpose=purpose)


def test_a_bad_key_is_refused_before_anything_is_read() -> None:
    with pytest.raises(InvalidInput):
        RevealQuery(key="not a key")


def test_a_credential_never_shows_its_token() -> None:
    assert "ssk_secret" not in repr(Credential("ssk_secret", "10.0.0.1", "r1"))


def test_a_stack_read_by_token_authenticates_admits_once_and_records_one_event(
    installation: Installation, seeded: Target
) -> None:
    token = _token(installation, seeded, "ops@acme.test", "administrator")
    admitted: list[Principal] = []
    revealed = reveal(
        installation,
        Credential(token, "10.0.0.1", "req-1"),
        StackRef(seeded.stack.uid if seeded.stack else ""),
        RevealQuery(reveal=True, purpose="deploy"),
        admit=admitted.append,
    )
    found = {s.key: s.raw_value.reveal() for s in revealed.result() if s.raw_value}
    assert found == {"SHARED": "from-account", "OWN": "stack-value"}
    assert [p.name for p in admitted] == ["ops@acme.test"]
    assert revealed.actor.request_id == "req-1"
    events = [e for e in list_events(installation, limit=50) if e.request_id == "req-1"]
    assert [(e.action, e.detail["purpose"]) for e in events] == [("reveal", "deploy")]


def test_an_account_read_by_name_resolves_for_the_asker(
    installation: Installation, seeded: Target
) -> None:
    revealed = reveal(installation, LOCAL, AccountRef("acme"), RevealQuery(reveal=True))
    assert [s.key for s in revealed.result()] == ["SHARED"]
    assert revealed.target.stack is None


def test_an_invalid_token_is_refused_and_nothing_is_admitted(
    installation: Installation, seeded: Target
) -> None:
    admitted: list[Principal] = []
    with pytest.raises(Unauthenticated):
        reveal(
            installation,
            Credential("ssk_" + "0" * 43),
            StackRef("0" * 32),
            RevealQuery(),
            admit=admitted.append,
        )
    assert admitted == []


@pytest.mark.parametrize("way", ["wait=False", "on the loop"])
def test_at_hand_answers_only_a_warm_read_and_then_exactly_as_the_waiting_one(
    installation: Installation, seeded: Target, way: str
) -> None:
    token = _token(installation, seeded, "ops@acme.test", "administrator")
    assert seeded.stack is not None
    where, query = StackRef(seeded.stack.uid), RevealQuery(reveal=True, purpose="run")
    admitted: list[Principal] = []

    def at_hand(where: StackRef | AccountRef, query: RevealQuery) -> Revealed | None:
        asker = Credential(token)
        if way == "wait=False":
            return reveal(installation, asker, where, query, wait=False, admit=admitted.append)
        # A loop per call, as a test client's may be: the loop reader follows it.
        return asyncio.run(reveal_on_loop(installation, asker, where, query, admit=admitted.append))

    assert at_hand(where, query) is None  # nothing kept yet: the token, the level
    assert admitted == []
    waited = reveal(installation, Credential(token), where, query)
    warm = at_hand(where, query)
    if way == "wait=False" and installation.store.nowait is None:
        assert warm is None  # PostgreSQL: a network round trip, which only the loop awaits
        return
    assert warm is not None
    assert warm.result() == waited.result()
    assert warm.snapshot is not None
    assert len(admitted) == 1
    first, second = _reveals(installation)[:2]
    assert first == second
    # What is never answered at hand (one key; an account) is left to the waiting read.
    assert at_hand(where, RevealQuery(reveal=True, key="OWN")) is None
    assert at_hand(AccountRef(seeded.account.uid), query) is None
    assert len(admitted) == 1


def test_at_hand_leaves_a_refusal_to_the_waiting_read_which_records_it(
    installation: Installation, seeded: Target
) -> None:
    assert seeded.stack is not None
    admin = _token(installation, seeded, "ops@acme.test", "administrator")
    viewer = _token(installation, seeded, "viewer@acme.test", "viewer")
    where, query = StackRef(seeded.stack.uid), RevealQuery(reveal=True)
    reveal(installation, Credential(admin), where, query).result()  # the level is kept
    reveal(installation, Credential(viewer), where, RevealQuery()).result()  # token kept
    before = len(list_events(installation, limit=500))
    admitted: list[Principal] = []
    assert (
        reveal(installation, Credential(viewer), where, query, wait=False, admit=admitted.append)
        is None
    )
    on_loop = reveal_on_loop(installation, Credential(viewer), where, query, admit=admitted.append)
    assert asyncio.run(on_loop) is None
    assert admitted == []
    assert len(list_events(installation, limit=500)) == before  # nothing recorded
    with pytest.raises((Forbidden, NotFound)):
        reveal(installation, Credential(viewer), where, query)
    assert list_events(installation, limit=1)[0].outcome == "denied"


def test_a_described_read_has_no_event_and_an_empty_receipt(
    installation: Installation, seeded: Target
) -> None:
    before = len(_reveals(installation))
    described = reveal(installation, LOCAL, seeded, RevealQuery())
    assert not described.receipt.pending
    assert all(s.raw_value is None for s in described.result())
    assert len(_reveals(installation)) == before


def test_the_receipt_calls_back_once_the_event_is_durable(
    installation: Installation, seeded: Target
) -> None:
    revealed = reveal(installation, LOCAL, seeded, RevealQuery(reveal=True))
    called: list[int] = []
    revealed.receipt.when_durable(lambda: called.append(1))
    revealed.result()
    assert called == [1]
