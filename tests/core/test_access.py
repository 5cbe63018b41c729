"""Who may do what, through real users and tokens (create_user + create_token + authenticate).

The role matrix below is written out by hand, not derived from ``ROLE_PERMISSIONS``: loosening
(or tightening) a rule in ``stacksafe.core.access`` must fail this file.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import pytest

from stacksafe.core.access import Action, Principal, Role
from stacksafe.core.installation import Installation
from stacksafe.core.principals import create_user
from stacksafe.core.secrets import (
    effective_values,
    get_secret,
    import_secrets,
    list_secrets,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_stack, find_stack
from stacksafe.errors import Forbidden, NotFound, StacksafeError
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.core.helpers_access import (
    SEEDED,
    World,
    build_world,
    effective_seeded,
    events_after,
    last_seq,
    make_stack_only_user,
    make_user,
    module_installation,
    snapshot,
)

# --- The expected table --------------------------------------------------------------------

OPS = (
    "list",
    "reveal_list",
    "get_reveal",
    "set_stack",
    "set_account",
    "unset",
    "import",
    "create_stack",
)

# What each role may do where it holds that role. Y: allowed, -: Forbidden.
GRID_TEXT = """
role           list reveal_list get_reveal set_stack set_account unset import create_stack
viewer         Y    -           -          -         -           -     -      -
deployer       Y    Y           Y          -         -           -     -      -
developer      Y    Y           Y          Y         -           Y     Y      -
operation      Y    Y           Y          Y         -           Y     Y      Y
power_user     Y    Y           Y          Y         Y           Y     Y      Y
administrator  Y    Y           Y          Y         Y           Y     Y      Y
owner          Y    Y           Y          Y         Y           Y     Y      Y
"""


def _parse_grid(text: str) -> dict[str, dict[str, bool]]:
    header, *rows = [line.split() for line in text.strip().splitlines()]
    assert tuple(header[1:]) == OPS
    grid = {}
    for role, *marks in rows:
        assert len(marks) == len(OPS)
        assert set(marks) <= {"Y", "-"}
        grid[role] = {op: mark == "Y" for op, mark in zip(OPS, marks, strict=True)}
    return grid


GRID = _parse_grid(GRID_TEXT)

ALLOWED, FORBIDDEN, NOT_FOUND = "allowed", "forbidden", "not found"
BY_ROLE = "by role"

# Where an operation is aimed, relative to the user. Stack operations go to a stack, the other
# two to an account's own level.
STACK_OPS = ("list", "reveal_list", "get_reveal", "set_stack", "unset", "import")
ACCOUNT_OPS = ("set_account", "create_stack")
STACK_LOCATIONS = {"own_stack": "web", "sibling_stack": "api", "foreign_stack": "shop"}
ACCOUNT_LOCATIONS = {"own_account": "acme", "foreign_account": "globex"}

# account_member: the role is held on account acme (nothing in globex).
# stack_member: the role is held on stack acme/web only (no account role anywhere).
REACH = {
    "account_member": {
        "own_stack": BY_ROLE,
        "sibling_stack": BY_ROLE,
        "foreign_stack": NOT_FOUND,
        "own_account": BY_ROLE,
        "foreign_account": NOT_FOUND,
    },
    "stack_member": {
        "own_stack": BY_ROLE,
        "sibling_stack": NOT_FOUND,
        "foreign_stack": NOT_FOUND,
        "own_account": FORBIDDEN,  # the account is visible through the stack, but no role in it
        "foreign_account": NOT_FOUND,
    },
}

# The action a denied event names, by operation (a reveal is first checked as a describe).
DENIED_ACTION = {
    "list": "describe",
    "set_stack": "write_stack_secrets",
    "set_account": "write_account_secrets",
    "unset": "write_stack_secrets",
    "import": "write_stack_secrets",
}
OK_ACTION = {
    "reveal_list": "reveal",
    "get_reveal": "reveal",
    "set_stack": "secret.set",
    "set_account": "secret.set",
    "unset": "secret.unset",
    "import": "secret.import",
    "create_stack": "stack.create",
}


def expected_outcome(kind: str, role: str, op: str, location: str) -> str:
    rule = REACH[kind][location]
    if rule != BY_ROLE:
        return rule
    return ALLOWED if GRID[role][op] else FORBIDDEN


def _cases() -> Iterator[object]:
    for kind, role in itertools.product(REACH, GRID):
        for op in OPS:
            locations = STACK_LOCATIONS if op in STACK_OPS else ACCOUNT_LOCATIONS
            for location in locations:
                yield pytest.param(kind, role, op, location, id=f"{kind}-{role}-{op}-{location}")


def test_the_expected_table_covers_every_role_and_action() -> None:
    assert set(GRID) == {r.value for r in Role}
    assert set(STACK_OPS) | set(ACCOUNT_OPS) == set(OPS)
    # Spot checks of the table itself, so that a typo in it cannot pass unnoticed.
    assert [r for r in GRID if GRID[r]["reveal_list"]] == [
        "deployer",
        "developer",
        "operation",
        "power_user",
        "administrator",
        "owner",
    ]
    assert [r for r in GRID if GRID[r]["set_account"]] == ["power_user", "administrator", "owner"]
    assert [r for r in GRID if GRID[r]["create_stack"]] == [
        "operation",
        "power_user",
        "administrator",
        "owner",
    ]


# --- The shared world of the matrix (built once for the module, on SQLite) ------------------


@dataclass
class Matrix:
    installation: Installation
    world: World
    users: dict[tuple[str, str], Principal]


def _email(kind: str, role: str) -> str:
    return f"{kind.replace('_', '-')}-{role.replace('_', '-')}@example.com"


@pytest.fixture(scope="module")
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    # SQLite only: authorization is decided in Python before the database is involved, and the
    # focused tests below run every kind of decision (and its audit event) on PostgreSQL too.
    with module_installation(request, tmp_path_factory, "sqlite") as installation:
        world = build_world(installation)
        users = {}
        for role in GRID:
            users["account_member", role] = make_user(
                installation, _email("account_member", role), "acme", role
            )
            users["stack_member", role] = make_stack_only_user(
                installation, _email("stack_member", role), "acme", "web", role
            )
        yield Matrix(installation, world, users)


def _attempt(
    installation: Installation, actor: Principal, op: str, target: Target, name: str, tag: str
) -> Callable[[], object]:
    """The operation as a call; ``name`` is the target's world name (for its seeded keys)."""
    if op == "list":
        return lambda: list_secrets(installation, actor, target)
    if op == "reveal_list":
        return lambda: list_secrets(installation, actor, target, reveal=True)
    if op == "get_reveal":
        key = next(iter(SEEDED[name]))
        return lambda: get_secret(installation, actor, target, key, reveal=True)
    if op in ("set_stack", "set_account"):
        return lambda: set_secret(
            installation, actor, target, f"SET.{tag}", SecretValue(f"v-{tag}")
        )
    if op == "unset":
        set_secret(installation, LOCAL, target, f"DEL.{tag}", SecretValue("to-be-deleted"))
        return lambda: unset_secret(installation, actor, target, f"DEL.{tag}")
    if op == "import":
        entries = {f"IMP.{tag}.{n}": SecretValue(f"imported-{n}-{tag}") for n in (1, 2)}
        return lambda: import_secrets(installation, actor, target, entries)
    assert op == "create_stack"
    return lambda: create_stack(installation, actor, target.account.uid, f"new-{tag}", "qa")


def _check_success(
    m: Matrix, actor: Principal, op: str, target: Target, name: str, tag: str, result: object
) -> None:
    installation = m.installation
    if op == "list":
        assert isinstance(result, list)
        assert set(effective_seeded(name)) <= {s.key for s in result}
        assert all(s.raw_value is None for s in result)
        return
    if op == "reveal_list":
        assert isinstance(result, list)
        shown = {s.key: s.raw_value.reveal() for s in result if s.raw_value is not None}
        assert len(shown) == len(result)
        assert effective_seeded(name).items() <= shown.items()
        return
    if op == "get_reveal":
        value = next(iter(SEEDED[name].values()))
        assert getattr(result, "raw_value", None) == SecretValue(value)
        return
    if op in ("set_stack", "set_account"):
        found = get_secret(installation, LOCAL, target, f"SET.{tag}", reveal=True)
        assert found.raw_value == SecretValue(f"v-{tag}")
        assert found.inherited is (target.stack is None)
        return
    if op == "unset":
        with pytest.raises(NotFound):
            get_secret(installation, LOCAL, target, f"DEL.{tag}")
        return
    if op == "import":
        assert getattr(result, "added", None) == [f"IMP.{tag}.1", f"IMP.{tag}.2"]
        values = {
            s.key: s.raw_value for s in list_secrets(installation, LOCAL, target, reveal=True)
        }
        assert values[f"IMP.{tag}.2"] == SecretValue(f"imported-2-{tag}")
        return
    assert op == "create_stack"
    stack = find_stack(installation, f"new-{tag}", target.account.uid)
    assert (stack.environment, stack.account_id) == ("qa", target.account.id)


@pytest.mark.parametrize(("kind", "role", "op", "location"), list(_cases()))
def test_role_matrix(matrix: Matrix, kind: str, role: str, op: str, location: str) -> None:
    installation, actor = matrix.installation, matrix.users[kind, role]
    name = {**STACK_LOCATIONS, **ACCOUNT_LOCATIONS}[location]
    target = matrix.world.target(name)
    tag = f"{kind}-{role}-{op}-{location}".replace("_", "-")
    expected = expected_outcome(kind, role, op, location)
    call = _attempt(installation, actor, op, target, name, tag)
    seq = last_seq(installation)

    if expected == ALLOWED:
        result = call()
        events = events_after(installation, seq)
        if op == "list":
            assert events == []
        else:
            assert [(e.action, e.outcome, e.actor) for e in events] == [
                (OK_ACTION[op], "ok", actor.name)
            ]
            assert events[0].token_uid == actor.token_uid
        _check_success(matrix, actor, op, target, name, tag, result)
        return

    before = snapshot(installation, [target])
    seq = last_seq(installation)
    with pytest.raises(StacksafeError) as caught:
        call()
    assert type(caught.value) is (Forbidden if expected == FORBIDDEN else NotFound)
    assert snapshot(installation, [target]) == before
    if op == "create_stack":
        return  # denied stack creations are not audited: see test_denied_stack_creation_is_audited
    events = events_after(installation, seq)
    assert len(events) == 1
    event = events[0]
    assert (event.outcome, event.actor, event.token_uid) == ("denied", actor.name, actor.token_uid)
    if op in DENIED_ACTION:
        assert event.action == DENIED_ACTION[op]
    else:  # a reveal: refused as a describe when unreachable, as a reveal when only visible
        assert event.action == ("describe" if expected == NOT_FOUND else "reveal")
    assert event.account_uid == target.account.uid
    assert event.stack_uid == (None if target.stack is None else target.stack.uid)
    assert event.detail["reason"] == caught.value.message


# --- Focused cases, on both databases ------------------------------------------------------


def assert_denied(
    installation: Installation,
    actor: Principal,
    call: Callable[[], object],
    error: type[StacksafeError],
) -> StacksafeError:
    """``call`` raises exactly ``error``, changes nothing, and writes one denied event."""
    before = snapshot(installation)
    seq = last_seq(installation)
    with pytest.raises(StacksafeError) as caught:
        call()
    assert type(caught.value) is error, caught.value
    assert snapshot(installation) == before
    events = events_after(installation, seq)
    assert [(e.outcome, e.actor, e.token_uid) for e in events] == [
        ("denied", actor.name, actor.token_uid)
    ]
    return caught.value


def put(installation: Installation, actor: Principal, target: Target, key: str, value: str) -> None:
    set_secret(installation, actor, target, key, SecretValue(value))


def revealed(installation: Installation, actor: Principal, target: Target) -> dict[str, str]:
    return {
        s.key: s.raw_value.reveal()
        for s in list_secrets(installation, actor, target, reveal=True)
        if s.raw_value is not None
    }


def test_a_higher_stack_role_overrides_the_account_role_on_that_stack_only(
    installation: Installation,
) -> None:
    w = build_world(installation)
    user = make_user(installation, "up@example.com", "acme", "viewer", {"web": "developer"})
    put(installation, user, w.web, "DEPLOY_HOOK", "hook-on-web")
    assert revealed(installation, user, w.web)["DEPLOY_HOOK"] == "hook-on-web"
    assert [s.key for s in list_secrets(installation, user, w.api)] == ["ACME_SHARED", "API_KEY"]
    assert_denied(installation, user, lambda: revealed(installation, user, w.api), Forbidden)
    assert_denied(installation, user, lambda: put(installation, user, w.api, "K", "v"), Forbidden)
    assert_denied(installation, user, lambda: put(installation, user, w.acme, "K", "v"), Forbidden)
    assert_denied(installation, user, lambda: revealed(installation, user, w.shop), NotFound)


def test_a_lower_stack_role_overrides_the_account_role_on_that_stack_only(
    installation: Installation,
) -> None:
    w = build_world(installation)
    user = make_user(installation, "down@example.com", "acme", "administrator", {"web": "viewer"})
    assert {s.key for s in list_secrets(installation, user, w.web)} >= {"WEB_KEY", "ACME_SHARED"}
    assert_denied(installation, user, lambda: revealed(installation, user, w.web), Forbidden)
    assert_denied(
        installation,
        user,
        lambda: get_secret(installation, user, w.web, "ACME_SHARED", reveal=True),
        Forbidden,
    )
    assert_denied(installation, user, lambda: put(installation, user, w.web, "K", "v"), Forbidden)
    assert_denied(
        installation, user, lambda: unset_secret(installation, user, w.web, "WEB_KEY"), Forbidden
    )
    # Elsewhere in the account the administrator role applies.
    assert revealed(installation, user, w.api) == effective_seeded("api")
    put(installation, user, w.api, "API_EXTRA", "x")
    put(installation, user, w.acme, "ACME_EXTRA", "y")
    assert create_stack(installation, user, "acme", "worker", "qa").name == "worker"
    # ...and the account-level secret the user just wrote still cannot be read through web.
    assert_denied(
        installation, user, lambda: effective_values(installation, user, w.web), Forbidden
    )


def test_public_only_token_can_list_but_not_reveal_or_write(installation: Installation) -> None:
    w = build_world(installation)
    user = make_user(installation, "ro@example.com", "acme", "administrator", scopes=["public"])
    assert user.scopes == frozenset({"public"})
    assert {s.key for s in list_secrets(installation, user, w.web)} == set(effective_seeded("web"))
    assert {s.key for s in list_secrets(installation, user, w.acme)} == set(SEEDED["acme"])
    assert get_secret(installation, user, w.web, "WEB_KEY").raw_value is None
    calls: list[Callable[[], object]] = [
        lambda: list_secrets(installation, user, w.web, reveal=True),
        lambda: get_secret(installation, user, w.web, "WEB_KEY", reveal=True),
        lambda: effective_values(installation, user, w.web),
        lambda: put(installation, user, w.web, "K", "v"),
        lambda: put(installation, user, w.acme, "K", "v"),
        lambda: unset_secret(installation, user, w.web, "WEB_KEY"),
        lambda: import_secrets(installation, user, w.web, {"K": SecretValue("v")}),
    ]
    for call in calls:
        error = assert_denied(installation, user, call, Forbidden)
        assert "'admin' scope" in error.message
    with pytest.raises(Forbidden):
        create_stack(installation, user, "acme", "nope", "qa")
    # A token of the same user with both scopes may do all of it.
    full = make_user(installation, "ro@example.com", "acme", "administrator")
    assert revealed(installation, full, w.web) == effective_seeded("web")


def test_admin_scope_alone_also_allows_describing(installation: Installation) -> None:
    w = build_world(installation)
    user = make_user(installation, "adm@example.com", "acme", "deployer", scopes=["admin"])
    assert {s.key for s in list_secrets(installation, user, w.api)} == set(effective_seeded("api"))
    assert revealed(installation, user, w.api) == effective_seeded("api")


def test_token_narrowed_to_one_stack_cannot_touch_another_stack_or_the_account(
    installation: Installation,
) -> None:
    w = build_world(installation)
    user = make_user(installation, "narrow@example.com", "acme", "administrator", stacks=["web"])
    assert w.web.stack is not None
    assert user.token_stacks == frozenset({w.web.stack.uid})
    assert revealed(installation, user, w.web) == effective_seeded("web")
    put(installation, user, w.web, "WEB_NEW", "ok")
    calls: list[Callable[[], object]] = [
        lambda: list_secrets(installation, user, w.api),
        lambda: revealed(installation, user, w.api),
        lambda: put(installation, user, w.api, "K", "v"),
        lambda: list_secrets(installation, user, w.acme),
        lambda: revealed(installation, user, w.acme),
        lambda: put(installation, user, w.acme, "K", "v"),
        lambda: unset_secret(installation, user, w.acme, "ACME_SHARED"),
        lambda: import_secrets(installation, user, w.acme, {"K": SecretValue("v")}),
    ]
    for call in calls:
        assert_denied(installation, user, call, Forbidden)
    assert_denied(installation, user, lambda: list_secrets(installation, user, w.shop), NotFound)
    with pytest.raises(Forbidden):
        create_stack(installation, user, "acme", "nope", "qa")


def test_token_narrowed_to_development_never_reveals_production(installation: Installation) -> None:
    w = build_world(installation)
    user = make_user(
        installation, "dev@example.com", "acme", "administrator", environments=["development"]
    )
    assert revealed(installation, user, w.dev) == effective_seeded("dev")  # inherited included
    calls: list[Callable[[], object]] = [
        lambda: list_secrets(installation, user, w.web, reveal=True),
        lambda: get_secret(installation, user, w.web, "WEB_KEY", reveal=True),
        lambda: get_secret(installation, user, w.web, "ACME_SHARED", reveal=True),
        lambda: effective_values(installation, user, w.web),
        lambda: list_secrets(installation, user, w.web),
        lambda: list_secrets(installation, user, w.acme, reveal=True),
        lambda: get_secret(installation, user, w.acme, "ACME_SHARED", reveal=True),
        lambda: effective_values(installation, user, w.api),  # staging is not development either
    ]
    seq = last_seq(installation)
    for call in calls:
        error = assert_denied(installation, user, call, Forbidden)
        for value in (*SEEDED["web"].values(), *SEEDED["acme"].values()):
            assert value not in error.message
    reveals = [e for e in events_after(installation, seq) if e.outcome == "ok"]
    assert reveals == []


def test_stack_member_sees_its_stack_and_nothing_else(installation: Installation) -> None:
    w = build_world(installation)
    user = make_stack_only_user(installation, "solo@example.com", "acme", "web", "developer")
    assert user.account_roles == {}
    assert revealed(installation, user, w.web) == effective_seeded("web")
    assert_denied(installation, user, lambda: list_secrets(installation, user, w.acme), Forbidden)
    assert_denied(installation, user, lambda: list_secrets(installation, user, w.api), NotFound)
    assert_denied(installation, user, lambda: list_secrets(installation, user, w.globex), NotFound)


def test_no_role_anywhere_is_not_found_even_for_existing_levels(installation: Installation) -> None:
    w = build_world(installation)
    user = make_user(installation, "other@example.com", "globex", "owner")
    for target in (w.acme, w.web, w.api, w.dev):
        assert_denied(
            installation, user, partial(list_secrets, installation, user, target), NotFound
        )
    with pytest.raises(NotFound):
        create_stack(installation, user, "acme", "nope", "qa")


# --- Gaps found while writing these tests, fixed since -------------------------------------


def test_denied_stack_creation_is_audited(installation: Installation) -> None:
    build_world(installation)
    user = make_user(installation, "viewer@example.com", "acme", "viewer")
    seq = last_seq(installation)
    with pytest.raises(Forbidden):
        create_stack(installation, user, "acme", "nope", "qa")
    assert [(e.action, e.outcome) for e in events_after(installation, seq)] == [
        (Action.MANAGE_STACKS.value, "denied")
    ]


def test_denied_user_creation_is_audited(installation: Installation) -> None:
    build_world(installation)
    user = make_user(installation, "pu@example.com", "acme", "power_user")
    seq = last_seq(installation)
    with pytest.raises(Forbidden):
        create_user(installation, user, "new@example.com", "acme", "owner")
    assert [(e.action, e.outcome) for e in events_after(installation, seq)] == [
        (Action.MANAGE_USERS.value, "denied")
    ]


def test_unreachable_account_is_indistinguishable_from_a_missing_one(
    installation: Installation,
) -> None:
    w = build_world(installation)
    user = make_user(installation, "other@example.com", "globex", "owner")
    with pytest.raises(NotFound) as missing:
        create_stack(installation, user, "no-such-account", "x", "qa")
    with pytest.raises(NotFound) as hidden:
        create_stack(installation, user, "acme", "x", "qa")
    assert w.acme.account.uid not in hidden.value.message
    assert hidden.value.message == missing.value.message.replace("no-such-account", "acme")


def test_for_request_is_replace_of_the_request_fields_and_leaves_the_principal_as_it_was() -> None:
    from dataclasses import fields, replace
    from datetime import UTC, datetime

    from stacksafe.core.access import Principal, Role

    kept = Principal(
        name="ops@acme.test",
        user_id=7,
        account_roles={1: Role.ADMINISTRATOR},
        stack_roles={2: Role.VIEWER},
        stack_accounts={2: 1},
        token_uid="t1",
        scopes=frozenset({"public"}),
        token_stacks=frozenset({"s"}),
        token_environments=frozenset({"production"}),
        token_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    asking = kept.for_request("10.0.0.1", "req-1")
    assert asking == replace(kept, source_ip="10.0.0.1", request_id="req-1")
    assert [getattr(asking, f.name) for f in fields(Principal)][:-2] == [
        getattr(kept, f.name) for f in fields(Principal)
    ][:-2]
    assert (kept.source_ip, kept.request_id) == (None, None)  # the kept one is unchanged
