"""core.workload.claims: a bound claim found by key, JSON pointer or dotted path, matched exactly
or by a glob where only ``*`` is special."""

from __future__ import annotations

import pytest

from stacksafe.core.workload.claims import first_mismatch, glob_matches
from stacksafe.store.workload import ClaimBinding

K8S = {
    "sub": "system:serviceaccount:shop:web",
    "kubernetes.io": {"namespace": "shop", "serviceaccount": {"name": "web"}},
    "groups": ["dev", "ops"],
    "admin": True,
    "run": 5521,
}


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", "system:serviceaccount:shop:web"),
        ("kubernetes.io.namespace", "shop"),
        ("/kubernetes.io/namespace", "shop"),
        ("kubernetes.io.serviceaccount.name", "web"),
        ("/kubernetes.io/serviceaccount/name", "web"),
        ("groups", "ops"),
        ("admin", "true"),
        ("run", "5521"),
    ],
)
def test_a_claim_is_found_and_matched(claim: str, value: str) -> None:
    assert first_mismatch(K8S, (ClaimBinding(claim, False, (value,)),)) is None
    assert first_mismatch(K8S, (ClaimBinding(claim, False, ("other",)),)) == claim


def test_a_missing_or_structured_claim_never_matches() -> None:
    for claim in ("nosuch", "kubernetes.io.nosuch", "/kubernetes.io/nosuch", "kubernetes.io"):
        assert first_mismatch(K8S, (ClaimBinding(claim, True, ("*",)),)) == claim


def test_every_binding_must_hold_and_any_value_of_one_may() -> None:
    bindings = (
        ClaimBinding("sub", True, ("system:serviceaccount:shop:*",)),
        ClaimBinding("/kubernetes.io/namespace", False, ("staging", "shop")),
    )
    assert first_mismatch(K8S, bindings) is None
    assert first_mismatch({**K8S, "sub": "system:serviceaccount:other:web"}, bindings) == "sub"


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("repo:acme/*:ref:refs/heads/main", "repo:acme/web:ref:refs/heads/main", True),
        ("repo:acme/*:ref:refs/heads/main", "repo:acme/web:ref:refs/heads/dev", False),
        ("refs/heads/release/*", "refs/heads/release/", True),
        ("a.b", "axb", False),  # only * is special: dots, ? and brackets are themselves
        ("a?b", "axb", False),
        ("[ab]", "a", False),
        ("[ab]", "[ab]", True),
        ("*", "anything\nat all", True),
    ],
)
def test_globs(pattern: str, value: str, matches: bool) -> None:
    assert glob_matches(pattern, value) is matches
