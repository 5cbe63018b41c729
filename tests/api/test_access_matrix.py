"""Who may do what over HTTP: every endpoint, every role, own or foreign account, token scope.

The expected statuses are written out by hand below, not derived from ``ROLE_PERMISSIONS``:
loosening (or tightening) a rule in ``stacksafe.core.access`` or in a route must fail a case.
A denied request changes nothing; a foreign account or stack answers exactly as one that does not
exist. One SQLite installation serves the whole module.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from stacksafe.api import create_app
from stacksafe.core.audit_events import list_events
from stacksafe.core.deletion import delete_stack
from stacksafe.core.installation import Installation, initialise
from stacksafe.core.principals import TOKEN_PREFIX, authenticate, create_token, create_user
from stacksafe.core.rotation import get_policy, set_policy
from stacksafe.core.secrets import get_secret, restrict_secret, set_secret, unset_secret
from stacksafe.core.tenancy import Target, create_account, create_stack, find_stack
from stacksafe.core.versions import history
from stacksafe.core.webhooks.subscriptions import add_webhook, list_webhooks
from stacksafe.core.webhooks.subscriptions import set_paused as set_webhook_paused
from stacksafe.errors import NotFound, Unauthenticated
from stacksafe.model import Account, SecretValue, Stack, Webhook
from stacksafe.settings import Settings
from stacksafe.store.schema import users
from tests.actors import LOCAL
from tests.api.helpers import (
    assert_error,
    client_for,
    set_local,
    snapshot,
    table_rows,
    user_with_token,
)

ROLES = ("viewer", "deployer", "developer", "operation", "power_user", "administrator", "owner")
SCOPES = {"public": ("public",), "admin": ("public", "admin")}

# --- The expected tables -------------------------------------------------------------------
# Where the user holds the role (its own account), by token scope. Columns are ROLES in order.

OWN_ADMIN_SCOPE = """
endpoint                  viewer deployer developer operation power_user administrator owner
accounts_list             200    200      200       200       200        200           200
get_account               200    200      200       200       200        200           200
stacks_list               200    200      200       200       200        200           200
get_stack                 200    200      200       200       200        200           200
create_stack              403    403      403       201       201        201           201
list_stack_secrets        200    200      200       200       200        200           200
get_stack_secret          200    200      200       200       200        200           200
reveal_stack_secrets      403    200      200       200       200        200           200
reveal_stack_secret       403    200      200       200       200        200           200
post_stack_secret         403    403      201       201       201        201           201
put_stack_secret          403    403      200       200       200        200           200
delete_stack_secret       403    403      200       200       200        200           200
import_stack_secrets      403    403      200       200       200        200           200
list_account_secrets      200    200      200       200       200        200           200
get_account_secret        200    200      200       200       200        200           200
reveal_account_secrets    403    200      200       200       200        200           200
reveal_account_secret     403    200      200       200       200        200           200
post_account_secret       403    403      403       403       201        201           201
put_account_secret        403    403      403       403       200        200           200
delete_account_secret     403    403      403       403       200        200           200
import_account_secrets    403    403      403       403       200        200           200
stack_history             200    200      200       200       200        200           200
reveal_stack_history      403    200      200       200       200        200           200
rollback_stack_secret     403    403      200       200       200        200           200
undelete_stack_secret     403    403      200       200       200        200           200
destroy_stack_version     403    403      200       200       200        200           200
rollback_stack_secrets    403    403      200       200       200        200           200
get_stack_policy          200    200      200       200       200        200           200
put_stack_policy          403    403      200       200       200        200           200
account_history           200    200      200       200       200        200           200
reveal_account_history    403    200      200       200       200        200           200
rollback_account_secret   403    403      403       403       200        200           200
undelete_account_secret   403    403      403       403       200        200           200
destroy_account_version   403    403      403       403       200        200           200
rollback_account_secrets  403    403      403       403       200        200           200
get_account_policy        200    200      200       200       200        200           200
put_account_policy        403    403      403       403       200        200           200
get_account_environments  200    200      200       200       200        200           200
put_account_environments  403    403      403       403       200        200           200
stack_diff                403    200      200       200       200        200           200
copy_stack_secrets        403    403      200       200       200        200           200
get_stack_rotation        200    200      200       200       200        200           200
put_stack_rotation        403    403      200       200       200        200           200
delete_stack_rotation     403    403      200       200       200        200           200
rotate_stack_secret       403    403      200       200       200        200           200
get_account_rotation      200    200      200       200       200        200           200
put_account_rotation      403    403      403       403       200        200           200
delete_account_rotation   403    403      403       403       200        200           200
rotate_account_secret     403    403      403       403       200        200           200
rotation_status           200    200      200       200       200        200           200
account_audit_logs        403    403      403       403       403        200           200
users_list                200    200      200       200       200        200           200
get_user                  404    404      404       404       404        200           200
create_user               403    403      403       403       403        201           201
tokens_list               200    200      200       200       200        200           200
create_token              201    201      201       201       201        201           201
revoke_token              200    200      200       200       200        200           200
all_audit_logs            403    403      403       403       403        403           403
create_account            403    403      403       403       403        403           403
verify_audit_log          403    403      403       403       403        403           403
delete_stack              403    403      403       200       200        200           200
delete_account            403    403      403       403       403        403           403
remove_user               403    403      403       403       403        403           403
remove_membership         403    403      403       403       403        200           200
remove_stack_role         403    403      403       403       403        200           200
deleted_list              403    403      403       200       200        200           200
deleted_get               403    403      403       200       200        200           200
webhooks_list             403    403      403       200       200        200           200
create_webhook            403    403      403       201       201        201           201
remove_webhook            403    403      403       200       200        200           200
pause_webhook             403    403      403       200       200        200           200
resume_webhook            403    403      403       200       200        200           200
"""

OWN_PUBLIC_SCOPE = """
endpoint                  viewer deployer developer operation power_user administrator owner
accounts_list             200    200      200       200       200        200           200
get_account               200    200      200       200       200        200           200
stacks_list               200    200      200       200       200        200           200
get_stack                 200    200      200       200       200        200           200
create_stack              403    403      403       403       403        403           403
list_stack_secrets        200    200      200       200       200        200           200
get_stack_secret          200    200      200       200       200        200           200
reveal_stack_secrets      403    403      403       403       403        403           403
reveal_stack_secret       403    403      403       403       403        403           403
post_stack_secret         403    403      403       403       403        403           403
put_stack_secret          403    403      403       403       403        403           403
delete_stack_secret       403    403      403       403       403        403           403
import_stack_secrets      403    403      403       403       403        403           403
list_account_secrets      200    200      200       200       200        200           200
get_account_secret        200    200      200       200       200        200           200
reveal_account_secrets    403    403      403       403       403        403           403
reveal_account_secret     403    403      403       403       403        403           403
post_account_secret       403    403      403       403       403        403           403
put_account_secret        403    403      403       403       403        403           403
delete_account_secret     403    403      403       403       403        403           403
import_account_secrets    403    403      403       403       403        403           403
stack_history             200    200      200       200       200        200           200
reveal_stack_history      403    403      403       403       403        403           403
rollback_stack_secret     403    403      403       403       403        403           403
undelete_stack_secret     403    403      403       403       403        403           403
destroy_stack_version     403    403      403       403       403        403           403
rollback_stack_secrets    403    403      403       403       403        403           403
get_stack_policy          200    200      200       200       200        200           200
put_stack_policy          403    403      403       403       403        403           403
account_history           200    200      200       200       200        200           200
reveal_account_history    403    403      403       403       403        403           403
rollback_account_secret   403    403      403       403       403        403           403
undelete_account_secret   403    403      403       403       403        403           403
destroy_account_version   403    403      403       403       403        403           403
rollback_account_secrets  403    403      403       403       403        403           403
get_account_policy        200    200      200       200       200        200           200
put_account_policy        403    403      403       403       403        403           403
get_account_environments  200    200      200       200       200        200           200
put_account_environments  403    403      403       403       403        403           403
stack_diff                403    403      403       403       403        403           403
copy_stack_secrets        403    403      403       403       403        403           403
get_stack_rotation        200    200      200       200       200        200           200
put_stack_rotation        403    403      403       403       403        403           403
delete_stack_rotation     403    403      403       403       403        403           403
rotate_stack_secret       403    403      403       403       403        403           403
get_account_rotation      200    200      200       200       200        200           200
put_account_rotation      403    403      403       403       403        403           403
delete_account_rotation   403    403      403       403       403        403           403
rotate_account_secret     403    403      403       403       403        403           403
rotation_status           200    200      200       200       200        200           200
account_audit_logs        403    403      403       403       403        403           403
users_list                200    200      200       200       200        200           200
get_user                  404    404      404       404       404        404           404
create_user               403    403      403       403       403        403           403
tokens_list               200    200      200       200       200        200           200
create_token              403    403      403       403       403        403           403
revoke_token              403    403      403       403       403        403           403
all_audit_logs            403    403      403       403       403        403           403
create_account            403    403      403       403       403        403           403
verify_audit_log          403    403      403       403       403        403           403
delete_stack              403    403      403       403       403        403           403
delete_account            403    403      403       403       403        403           403
remove_user               403    403      403       403       403        403           403
remove_membership         403    403      403       403       403        403           403
remove_stack_role         403    403      403       403       403        403           403
deleted_list              403    403      403       403       403        403           403
deleted_get               403    403      403       403       403        403           403
webhooks_list             403    403      403       403       403        403           403
create_webhook            403    403      403       403       403        403           403
remove_webhook            403    403      403       403       403        403           403
pause_webhook             403    403      403       403       403        403           403
resume_webhook            403    403      403       403       403        403           403
"""

# Aimed at the other account (or its stack), with either scope. The two lists answer 200 but
# must not show anything foreign; the server-wide log is the server owner's alone.
OTHER_ACCOUNT = """
endpoint                  viewer deployer developer operation power_user administrator owner
accounts_list             200    200      200       200       200        200           200
get_account               404    404      404       404       404        404           404
stacks_list               200    200      200       200       200        200           200
get_stack                 404    404      404       404       404        404           404
create_stack              404    404      404       404       404        404           404
list_stack_secrets        404    404      404       404       404        404           404
get_stack_secret          404    404      404       404       404        404           404
reveal_stack_secrets      404    404      404       404       404        404           404
reveal_stack_secret       404    404      404       404       404        404           404
post_stack_secret         404    404      404       404       404        404           404
put_stack_secret          404    404      404       404       404        404           404
delete_stack_secret       404    404      404       404       404        404           404
import_stack_secrets      404    404      404       404       404        404           404
list_account_secrets      404    404      404       404       404        404           404
get_account_secret        404    404      404       404       404        404           404
reveal_account_secrets    404    404      404       404       404        404           404
reveal_account_secret     404    404      404       404       404        404           404
post_account_secret       404    404      404       404       404        404           404
put_account_secret        404    404      404       404       404        404           404
delete_account_secret     404    404      404       404       404        404           404
import_account_secrets    404    404      404       404       404        404           404
stack_history             404    404      404       404       404        404           404
reveal_stack_history      404    404      404       404       404        404           404
rollback_stack_secret     404    404      404       404       404        404           404
undelete_stack_secret     404    404      404       404       404        404           404
destroy_stack_version     404    404      404       404       404        404           404
rollback_stack_secrets    404    404      404       404       404        404           404
get_stack_policy          404    404      404       404       404        404           404
put_stack_policy          404    404      404       404       404        404           404
account_history           404    404      404       404       404        404           404
reveal_account_history    404    404      404       404       404        404           404
rollback_account_secret   404    404      404       404       404        404           404
undelete_account_secret   404    404      404       404       404        404           404
destroy_account_version   404    404      404       404       404        404           404
rollback_account_secrets  404    404      404       404       404        404           404
get_account_policy        404    404      404       404       404        404           404
put_account_policy        404    404      404       404       404        404           404
get_account_environments  404    404      404       404       404        404           404
put_account_environments  404    404      404       404       404        404           404
stack_diff                404    404      404       404       404        404           404
copy_stack_secrets        404    404      404       404       404        404           404
get_stack_rotation        404    404      404       404       404        404           404
put_stack_rotation        404    404      404       404       404        404           404
delete_stack_rotation     404    404      404       404       404        404           404
rotate_stack_secret       404    404      404       404       404        404           404
get_account_rotation      404    404      404       404       404        404           404
put_account_rotation      404    404      404       404       404        404           404
delete_account_rotation   404    404      404       404       404        404           404
rotate_account_secret     404    404      404       404       404        404           404
rotation_status           404    404      404       404       404        404           404
account_audit_logs        404    404      404       404       404        404           404
users_list                200    200      200       200       200        200           200
get_user                  404    404      404       404       404        404           404
create_user               404    404      404       404       404        404           404
tokens_list               200    200      200       200       200        200           200
create_token              403    403      403       403       403        403           403
revoke_token              404    404      404       404       404        404           404
all_audit_logs            403    403      403       403       403        403           403
create_account            403    403      403       403       403        403           403
verify_audit_log          403    403      403       403       403        403           403
delete_stack              404    404      404       404       404        404           404
delete_account            403    403      403       403       403        403           403
remove_user               403    403      403       403       403        403           403
remove_membership         404    404      404       404       404        404           404
remove_stack_role         404    404      404       404       404        404           404
deleted_list              404    404      404       404       404        404           404
deleted_get               404    404      404       404       404        404           404
webhooks_list             404    404      404       404       404        404           404
create_webhook            404    404      404       404       404        404           404
remove_webhook            404    404      404       404       404        404           404
pause_webhook             404    404      404       404       404        404           404
resume_webhook            404    404      404       404       404        404           404
"""


def _parse(text: str) -> dict[str, dict[str, int]]:
    header, *rows = [line.split() for line in text.strip().splitlines()]
    assert tuple(header[1:]) == ROLES
    table: dict[str, dict[str, int]] = {}
    for endpoint, *marks in rows:
        assert len(marks) == len(ROLES), endpoint
        table[endpoint] = {role: int(mark) for role, mark in zip(ROLES, marks, strict=True)}
    return table


EXPECTED = {
    ("own", "admin"): _parse(OWN_ADMIN_SCOPE),
    ("own", "public"): _parse(OWN_PUBLIC_SCOPE),
    ("other", "admin"): _parse(OTHER_ACCOUNT),
    # Revoking needs the admin scope before anything is looked up: a public token gets 403
    # for a foreign token as for its own, so it learns nothing about which ids exist.
    ("other", "public"): {**_parse(OTHER_ACCOUNT), "revoke_token": dict.fromkeys(ROLES, 403)},
}

# --- The installation ----------------------------------------------------------------------

SEEDED = {
    "acme": {"ACME_SHARED": "acme-shared-plain-7f3a"},
    "web": {"WEB_KEY": "web-plain-19c2"},
    "globex": {"GLOBEX_SHARED": "globex-shared-plain-33aa"},
    "shop": {"SHOP_KEY": "shop-plain-c7d0"},
}
FAKE_UID = "f" * 32
FAKE_USER_ID = 987654321
FAKE_TOKEN_ID = "tok_" + "f" * 16
PEER = "peer@acme.test"  # another user of acme, for GET /users/{id}
OUTSIDER = "admin@globex.test"
# The caller of each generated case, by the case's unique key (for checks that depend on it).
CALLER_OF: dict[str, tuple[str, str]] = {}


@dataclass
class Matrix:
    installation: Installation
    app: FastAPI
    acme: Account
    globex: Account
    web: Stack
    dev: Stack
    shop: Stack
    clients: dict[tuple[str, str], TestClient]
    user_ids: dict[str, int]  # by email
    deleted: dict[str, str]  # "own"/"other" -> the uid of a stack deleted there

    def account(self, where: str) -> Account:
        return self.acme if where == "own" else self.globex

    def stack(self, where: str) -> Stack:
        return self.web if where == "own" else self.shop

    def target(self, where: str, level: str) -> Target:
        account = self.account(where)
        return Target(account) if level == "account" else Target(account, self.stack(where))


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    installation, _ = initialise(Settings.load({}, data_dir=tmp_path_factory.mktemp("matrix")))
    try:
        with contextlib.ExitStack() as open_clients:
            acme = create_account(installation, LOCAL, "acme")
            globex = create_account(installation, LOCAL, "globex")
            web = create_stack(installation, LOCAL, "acme", "web", "production")
            dev = create_stack(installation, LOCAL, "acme", "dev", "development")
            shop = create_stack(installation, LOCAL, "globex", "shop", "production")
            set_local(installation, Target(acme), SEEDED["acme"])
            set_local(installation, Target(acme, web), SEEDED["web"])
            set_local(installation, Target(globex), SEEDED["globex"])
            set_local(installation, Target(globex, shop), SEEDED["shop"])
            deleted = {}
            for where, account in (("own", acme), ("other", globex)):
                old = create_stack(installation, LOCAL, account.name, "old", "staging")
                set_local(installation, Target(account, old), {"OLD_KEY": "old-plain-0d1e"})
                delete_stack(installation, LOCAL, old.uid, force=True)
                deleted[where] = old.uid
            app = create_app(installation)
            clients = {}
            for role in ROLES:
                for scope, scopes in SCOPES.items():
                    token = user_with_token(
                        installation, f"{role}@acme.test", "acme", role, scopes=scopes
                    )
                    # Entered: one event-loop thread per client, not one per request.
                    client = open_clients.enter_context(client_for(app, token.token))
                    clients[role, scope] = client
            create_user(installation, LOCAL, PEER, "acme", "developer")
            create_user(installation, LOCAL, OUTSIDER, "globex", "administrator")
            with installation.store.read() as conn:
                user_ids = {
                    r.email: int(r.id) for r in conn.execute(select(users.c.email, users.c.id))
                }
            yield Matrix(
                installation, app, acme, globex, web, dev, shop, clients, user_ids, deleted
            )
    finally:
        installation.close()


# --- The endpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, str] | None = None


@dataclass(frozen=True)
class Endpoint:
    """``call`` builds the request for (matrix, where, a key unique to the case);
    ``prepare`` seeds what the request needs; ``check`` verifies a success."""

    name: str
    level: str | None
    call: Callable[[Matrix, str, str], Call]
    prepare: Callable[[Matrix, str, str], None] | None = None
    check: Callable[[Matrix, str, str, Response], None] | None = None
    core_audited: bool = False  # a 403 here is recorded as a denied event by the core


def _secrets_path(m: Matrix, where: str, level: str) -> str:
    if level == "stack":
        return f"/api/3/stacks/{m.stack(where).uid}/secrets"
    return f"/api/3/accounts/{m.account(where).uid}/secrets"


def _seeded(where: str, level: str) -> tuple[str, str]:
    name = {("own", "stack"): "web", ("own", "account"): "acme"}.get((where, level))
    name = name or {("other", "stack"): "shop", ("other", "account"): "globex"}[(where, level)]
    ((key, value),) = SEEDED[name].items()
    return key, value


def _value_at(m: Matrix, where: str, level: str, key: str) -> str | None:
    try:
        secret = get_secret(m.installation, LOCAL, m.target(where, level), key, reveal=True)
    except NotFound:
        return None
    if level == "stack" and secret.inherited:
        return None
    return None if secret.raw_value is None else secret.raw_value.reveal()


def _secret_endpoints(level: str) -> list[Endpoint]:
    def path(m: Matrix, where: str) -> str:
        return _secrets_path(m, where, level)

    def check_list(reveal: bool) -> Callable[[Matrix, str, str, Response], None]:
        def check(m: Matrix, where: str, key: str, response: Response) -> None:
            seeded_key, seeded_value = _seeded(where, level)
            shown = {s["key"]: s["raw_value"] for s in response.json()["response"]}
            assert shown[seeded_key] == (seeded_value if reveal else None)
            if not reveal:
                assert all(v is None for v in shown.values())

        return check

    def check_one(reveal: bool) -> Callable[[Matrix, str, str, Response], None]:
        def check(m: Matrix, where: str, key: str, response: Response) -> None:
            seeded_key, seeded_value = _seeded(where, level)
            secret = response.json()["response"]
            assert secret["key"] == seeded_key
            assert secret["raw_value"] == (seeded_value if reveal else None)

        return check

    def one(m: Matrix, where: str, reveal: bool) -> Call:
        key, _ = _seeded(where, level)
        return Call("GET", f"{path(m, where)}/{key}", params={"reveal": str(reveal).lower()})

    def written(value: str) -> Callable[[Matrix, str, str, Response], None]:
        def check(m: Matrix, where: str, key: str, response: Response) -> None:
            assert _value_at(m, where, level, key) == value

        return check

    def check_deleted(m: Matrix, where: str, key: str, response: Response) -> None:
        assert _value_at(m, where, level, key) is None

    def check_imported(m: Matrix, where: str, key: str, response: Response) -> None:
        assert response.json()["response"]["added"] == [f"{key}-a", f"{key}-b"]
        assert _value_at(m, where, level, f"{key}-a") == "imported-a"

    def prepare_delete(m: Matrix, where: str, key: str) -> None:
        set_local(m.installation, m.target(where, level), {key: "to-be-deleted"})

    return [
        Endpoint(
            f"list_{level}_secrets",
            level,
            lambda m, w, k: Call("GET", path(m, w)),
            check=check_list(False),
        ),
        Endpoint(
            f"get_{level}_secret", level, lambda m, w, k: one(m, w, False), check=check_one(False)
        ),
        Endpoint(
            f"reveal_{level}_secrets",
            level,
            lambda m, w, k: Call("GET", path(m, w), params={"reveal": "true"}),
            check=check_list(True),
            core_audited=True,
        ),
        Endpoint(
            f"reveal_{level}_secret",
            level,
            lambda m, w, k: one(m, w, True),
            check=check_one(True),
            core_audited=True,
        ),
        Endpoint(
            f"post_{level}_secret",
            level,
            lambda m, w, k: Call("POST", path(m, w), json={"key": k, "raw_value": "posted"}),
            check=written("posted"),
            core_audited=True,
        ),
        Endpoint(
            f"put_{level}_secret",
            level,
            lambda m, w, k: Call("PUT", f"{path(m, w)}/{k}", json={"raw_value": "put"}),
            check=written("put"),
            core_audited=True,
        ),
        Endpoint(
            f"delete_{level}_secret",
            level,
            lambda m, w, k: Call("DELETE", f"{path(m, w)}/{k}"),
            prepare=prepare_delete,
            check=check_deleted,
            core_audited=True,
        ),
        Endpoint(
            f"import_{level}_secrets",
            level,
            lambda m, w, k: Call(
                "PUT",
                path(m, w),
                json={"secrets": {f"{k}-a": "imported-a", f"{k}-b": "imported-b"}},
            ),
            check=check_imported,
            core_audited=True,
        ),
    ]


def _version_endpoints(level: str) -> list[Endpoint]:
    def path(m: Matrix, where: str) -> str:
        return _secrets_path(m, where, level)

    def policy_path(m: Matrix, where: str) -> str:
        if level == "stack":
            return f"/api/3/stacks/{m.stack(where).uid}/secret_policy"
        return f"/api/3/accounts/{m.account(where).uid}/secret_policy"

    def seeded_history(m: Matrix, where: str, reveal: bool) -> Call:
        key, _ = _seeded(where, level)
        params = {"reveal": str(reveal).lower()}
        return Call("GET", f"{path(m, where)}/{key}/versions", params=params)

    def check_history(reveal: bool) -> Callable[[Matrix, str, str, Response], None]:
        def check(m: Matrix, where: str, key: str, response: Response) -> None:
            _, value = _seeded(where, level)
            newest = response.json()["response"][0]
            assert newest["current"] is True
            assert newest["raw_value"] == (value if reveal else None)

        return check

    def two_versions(m: Matrix, where: str, key: str) -> None:
        set_local(m.installation, m.target(where, level), {key: "version-one"})
        set_local(m.installation, m.target(where, level), {key: "version-two"})

    def deleted(m: Matrix, where: str, key: str) -> None:
        set_local(m.installation, m.target(where, level), {key: "before-delete"})
        unset_secret(m.installation, LOCAL, m.target(where, level), key)

    def value_is(value: str) -> Callable[[Matrix, str, str, Response], None]:
        def check(m: Matrix, where: str, key: str, response: Response) -> None:
            assert _value_at(m, where, level, key) == value

        return check

    def check_destroyed(m: Matrix, where: str, key: str, response: Response) -> None:
        oldest = history(m.installation, LOCAL, m.target(where, level), key)[-1]
        assert (oldest.version, oldest.destroyed_at is not None) == (1, True)

    def check_nothing_rolled_back(m: Matrix, where: str, key: str, response: Response) -> None:
        report = response.json()["response"]
        assert (report["restored"], report["deleted"]) == ({}, [])

    return [
        Endpoint(
            f"{level}_history",
            level,
            lambda m, w, k: seeded_history(m, w, False),
            check=check_history(False),
        ),
        Endpoint(
            f"reveal_{level}_history",
            level,
            lambda m, w, k: seeded_history(m, w, True),
            check=check_history(True),
            core_audited=True,
        ),
        Endpoint(
            f"rollback_{level}_secret",
            level,
            lambda m, w, k: Call("POST", f"{path(m, w)}/{k}/rollback", json={"to_version": 1}),
            prepare=two_versions,
            check=value_is("version-one"),
            core_audited=True,
        ),
        Endpoint(
            f"undelete_{level}_secret",
            level,
            lambda m, w, k: Call("POST", f"{path(m, w)}/{k}/undelete"),
            prepare=deleted,
            check=value_is("before-delete"),
            core_audited=True,
        ),
        Endpoint(
            f"destroy_{level}_version",
            level,
            lambda m, w, k: Call("DELETE", f"{path(m, w)}/{k}/versions/1"),
            prepare=two_versions,
            check=check_destroyed,
            core_audited=True,
        ),
        Endpoint(
            f"rollback_{level}_secrets",
            level,
            # To now: every key is already as it was, so the shared installation stays intact.
            lambda m, w, k: Call(
                "POST", f"{path(m, w)}/rollback", json={"to": datetime.now(UTC).isoformat()}
            ),
            check=check_nothing_rolled_back,
            core_audited=True,
        ),
        Endpoint(
            f"get_{level}_policy",
            level,
            lambda m, w, k: Call("GET", policy_path(m, w)),
            check=lambda m, w, k, r: _equal(r.json()["response"], {"max_versions": None}),
        ),
        Endpoint(
            f"put_{level}_policy",
            level,
            lambda m, w, k: Call("PUT", policy_path(m, w), json={"max_versions": None}),
            check=lambda m, w, k, r: _equal(r.json()["response"], {"max_versions": None}),
            core_audited=True,
        ),
    ]


def _environment_endpoints() -> list[Endpoint]:
    def environments_path(m: Matrix, where: str) -> str:
        key, _ = _seeded(where, "account")
        return f"/api/3/accounts/{m.account(where).uid}/secrets/{key}/environments"

    def prepare_copy(m: Matrix, where: str, key: str) -> None:
        set_local(m.installation, Target(m.acme, m.dev), {key: "copied-from-dev"})

    def check_copied(m: Matrix, where: str, key: str, response: Response) -> None:
        assert response.json()["response"]["added"] == [key]
        assert _value_at(m, where, "stack", key) == "copied-from-dev"

    def check_diff(m: Matrix, where: str, key: str, response: Response) -> None:
        states = {e["key"]: e["state"] for e in response.json()["response"]}
        assert states["WEB_KEY"] == "only_left"
        assert states["ACME_SHARED"] == "same"
        assert "web-plain" not in response.text

    return [
        Endpoint(
            "get_account_environments",
            "account",
            lambda m, w, k: Call("GET", environments_path(m, w)),
            check=lambda m, w, k, r: _equal(r.json()["response"], {"environments": None}),
        ),
        Endpoint(
            "put_account_environments",
            "account",
            # Lifting a restriction the key does not have: the shared installation stays as is.
            lambda m, w, k: Call("PUT", environments_path(m, w), json={"environments": None}),
            check=lambda m, w, k, r: _equal(r.json()["response"], {"environments": None}),
            core_audited=True,
        ),
        Endpoint(
            "stack_diff",
            "stack",
            lambda m, w, k: Call(
                "GET", f"/api/3/stacks/{m.stack(w).uid}/diff", params={"other": m.dev.uid}
            ),
            check=check_diff,
            core_audited=True,
        ),
        Endpoint(
            "copy_stack_secrets",
            "stack",
            lambda m, w, k: Call(
                "POST",
                f"/api/3/stacks/{m.stack(w).uid}/secrets/copy",
                json={"from_stack": m.dev.uid, "keys": [k]},
            ),
            prepare=prepare_copy,
            check=check_copied,
            core_audited=True,
        ),
    ]


def _rotation_endpoints(level: str) -> list[Endpoint]:
    def path(m: Matrix, where: str, key: str) -> str:
        return f"{_secrets_path(m, where, level)}/{key}"

    def with_policy(m: Matrix, where: str, key: str) -> None:
        set_local(m.installation, m.target(where, level), {key: "before-rotation"})
        set_policy(m.installation, LOCAL, m.target(where, level), key, rotator="generate")

    def without_policy(m: Matrix, where: str, key: str) -> None:
        set_local(m.installation, m.target(where, level), {key: "no-policy-yet"})

    def check_policy(m: Matrix, where: str, key: str, response: Response) -> None:
        assert response.json()["response"]["rotator"] == "generate"
        assert get_policy(m.installation, LOCAL, m.target(where, level), key).rotator == "generate"

    def check_cleared(m: Matrix, where: str, key: str, response: Response) -> None:
        with pytest.raises(NotFound, match="has no rotation policy"):
            get_policy(m.installation, LOCAL, m.target(where, level), key)

    def check_rotated(m: Matrix, where: str, key: str, response: Response) -> None:
        assert response.json()["response"]["outcome"] == "rotated"
        assert _value_at(m, where, level, key) not in (None, "before-rotation")

    return [
        Endpoint(
            f"get_{level}_rotation",
            level,
            lambda m, w, k: Call("GET", f"{path(m, w, k)}/rotation"),
            prepare=with_policy,
            check=check_policy,
        ),
        Endpoint(
            f"put_{level}_rotation",
            level,
            lambda m, w, k: Call("PUT", f"{path(m, w, k)}/rotation", json={"rotator": "generate"}),
            prepare=without_policy,
            check=check_policy,
            core_audited=True,
        ),
        Endpoint(
            f"delete_{level}_rotation",
            level,
            lambda m, w, k: Call("DELETE", f"{path(m, w, k)}/rotation"),
            prepare=with_policy,
            check=check_cleared,
            core_audited=True,
        ),
        Endpoint(
            f"rotate_{level}_secret",
            level,
            lambda m, w, k: Call("POST", f"{path(m, w, k)}/rotate"),
            prepare=with_policy,
            check=check_rotated,
            core_audited=True,
        ),
    ]


def _check_accounts_list(m: Matrix, where: str, key: str, response: Response) -> None:
    assert [a["uid"] for a in response.json()["response"]] == [m.acme.uid]


def _check_stacks_list(m: Matrix, where: str, key: str, response: Response) -> None:
    shown = response.json()["response"]
    assert m.web.uid in {s["uid"] for s in shown}
    assert {s["account_id"] for s in shown} == {m.acme.uid}
    assert m.shop.uid not in response.text


def _check_stack_created(m: Matrix, where: str, key: str, response: Response) -> None:
    created = find_stack(m.installation, key, m.account(where).uid)
    assert response.json()["response"]["uid"] == created.uid


def _check_users(m: Matrix, where: str, key: str, response: Response) -> None:
    role, scope = CALLER_OF[key]
    caller = f"{role}@acme.test"
    shown = {u["email"] for u in response.json()["response"]}
    assert OUTSIDER not in shown
    if role in ("administrator", "owner") and scope == "admin":
        assert shown >= {PEER, caller, "viewer@acme.test"}
    else:
        assert shown == {caller}


def _caller_email(key: str) -> str:
    return f"{CALLER_OF[key][0]}@acme.test"


def _check_user_created(m: Matrix, where: str, key: str, response: Response) -> None:
    created = response.json()["response"]
    assert created["email"] == f"{key}@acme.test"
    assert created["accounts"] == [{"id": m.acme.uid, "name": "acme", "role": "viewer"}]


def _check_tokens(m: Matrix, where: str, key: str, response: Response) -> None:
    shown = response.json()["response"]
    assert shown
    assert {t["user"] for t in shown} == {_caller_email(key)}
    assert TOKEN_PREFIX not in response.text  # ids and metadata only, never a token


def _check_token_created(m: Matrix, where: str, key: str, response: Response) -> None:
    created = response.json()["response"]
    assert created["user"] == _caller_email(key)
    assert created["scopes"] == ["public"]
    principal = authenticate(m.installation, created["token"])
    assert (principal.name, principal.token_uid) == (_caller_email(key), created["id"])


# Token ids made by _prepare_token, by case key: the caller's own, or the outsider's.
PREPARED_TOKENS: dict[str, str] = {}


def _prepare_token(m: Matrix, where: str, key: str) -> None:
    holder = _caller_email(key) if where == "own" else OUTSIDER
    made = create_token(m.installation, LOCAL, holder, scopes=["public"])
    PREPARED_TOKENS[key] = made.uid
    PREPARED_VALUES[key] = made.token


PREPARED_VALUES: dict[str, str] = {}


def _check_token_revoked(m: Matrix, where: str, key: str, response: Response) -> None:
    assert response.json()["response"]["id"] == PREPARED_TOKENS[key]
    assert response.json()["response"]["revoked_at_iso"] is not None
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(m.installation, PREPARED_VALUES[key])


# Stacks made by _prepare_stack (their uids by case key), for a delete that may succeed.
PREPARED_STACKS: dict[str, str] = {}


def _prepare_stack(m: Matrix, where: str, key: str) -> None:
    """A fresh stack of acme holding one value, for an own-account delete; a foreign delete
    aims at globex's shop (refused whoever asks: the shared installation keeps it)."""
    if where == "own":
        made = create_stack(m.installation, LOCAL, "acme", key, "staging")
        set_local(m.installation, Target(m.acme, made), {"DOOMED": "doomed-plain-5e1b"})
        PREPARED_STACKS[key] = made.uid


def _deleted_stack_path(m: Matrix, where: str, key: str) -> str:
    return f"/api/3/stacks/{PREPARED_STACKS[key] if where == 'own' else m.shop.uid}"


def _check_stack_deleted(m: Matrix, where: str, key: str, response: Response) -> None:
    deleted = response.json()["response"]
    assert (deleted["stack_uid"], deleted["destroyed"]) == (PREPARED_STACKS[key], {"DOOMED": [1]})
    with pytest.raises(NotFound):
        find_stack(m.installation, PREPARED_STACKS[key])
    assert [e.action for e in list_events(m.installation, limit=2)] == [
        "stack.delete",
        "secret.destroy",
    ]


def _check_deleted_listed(m: Matrix, where: str, key: str, response: Response) -> None:
    """The account's deleted stacks (other cases delete some too), and nothing else."""
    listed = response.json()["response"]
    assert (m.deleted[where], "old", 1) in [(t["uid"], t["name"], t["keys"]) for t in listed]
    assert {(t["kind"], t["account_id"]) for t in listed} == {("stack", m.account(where).uid)}


def _prepare_member(m: Matrix, where: str, key: str) -> None:
    """A user of the case's own, with a role in the account and one in its stack."""
    account, stack = ("acme", "web") if where == "own" else ("globex", "shop")
    create_user(m.installation, LOCAL, f"{key}@acme.test", account, "viewer", {stack: "developer"})


def _check_role_removed(level: str) -> Callable[[Matrix, str, str, Response], None]:
    def check(m: Matrix, where: str, key: str, response: Response) -> None:
        removed = response.json()["response"]
        assert removed["email"] == f"{key}@acme.test"
        if level == "account":
            assert (removed["role"], removed["stack_roles"]) == ("viewer", {m.web.uid: "developer"})
        else:
            assert (removed["role"], removed["stack_uid"]) == ("developer", m.web.uid)
        assert list_events(m.installation, limit=1)[0].action == f"{level}.remove".replace(
            "account.", "membership."
        ).replace("stack.", "stack_role.")

    return check


def _webhooks(m: Matrix) -> dict[str, Webhook]:
    return {w.name: w for w in list_webhooks(m.installation, LOCAL)}


def _check_webhook_added(m: Matrix, where: str, key: str, response: Response) -> None:
    added = _webhooks(m)[key.lower()]
    assert (added.stack_uid, added.origin, added.state) == (
        m.web.uid,
        "https://hooks.example.test",
        "delivering",
    )
    assert response.json()["response"]["name"] == key.lower()
    assert "t0k3n" not in str(response.json()["response"])  # nor the URL's path or query


def _prepare_webhook(paused: bool) -> Callable[[Matrix, str, str], None]:
    def prepare(m: Matrix, where: str, key: str) -> None:
        add_webhook(
            m.installation,
            LOCAL,
            key.lower(),
            url=f"https://hooks.example.test/{key}",
            signing_key=_seeded(where, "stack")[0],
            stack=m.stack(where).uid,
        )
        if paused:
            set_webhook_paused(m.installation, LOCAL, key.lower(), True, m.account(where).uid)

    return prepare


def _check_webhook_removed(m: Matrix, where: str, key: str, response: Response) -> None:
    assert key.lower() not in _webhooks(m)
    assert response.json()["response"]["name"] == key.lower()


def _webhook_change(change: str) -> Endpoint:
    """Pausing a webhook (prepared running) or resuming one (prepared paused)."""
    paused = change == "pause"

    def check(m: Matrix, where: str, key: str, response: Response) -> None:
        assert _webhooks(m)[key.lower()].paused is paused
        assert response.json()["response"]["state"] == ("paused" if paused else "delivering")

    return Endpoint(
        f"{change}_webhook",
        "stack",
        lambda m, w, k: Call(
            "POST", f"/api/3/webhooks/{k.lower()}/{change}", params={"account_id": m.account(w).uid}
        ),
        prepare=_prepare_webhook(paused=not paused),
        check=check,
        core_audited=True,
    )


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "accounts_list",
        None,
        lambda m, w, k: Call("GET", "/api/3/accounts"),
        check=_check_accounts_list,
    ),
    Endpoint(
        "get_account",
        "account",
        lambda m, w, k: Call("GET", f"/api/3/accounts/{m.account(w).uid}"),
        check=lambda m, w, k, r: _equal(r.json()["response"]["uid"], m.acme.uid),
    ),
    Endpoint(
        "stacks_list",
        None,
        lambda m, w, k: Call(
            "GET",
            "/api/3/stacks",
            params={"filter_environment": "production"} if w == "other" else None,
        ),
        check=_check_stacks_list,
    ),
    Endpoint(
        "get_stack",
        "stack",
        lambda m, w, k: Call("GET", f"/api/3/stacks/{m.stack(w).uid}"),
        check=lambda m, w, k, r: _equal(r.json()["response"]["uid"], m.web.uid),
    ),
    Endpoint(
        "create_stack",
        "account",
        lambda m, w, k: Call(
            "POST",
            "/api/3/stacks",
            json={"name": k, "account_id": m.account(w).uid, "environment": "staging"},
        ),
        check=_check_stack_created,
        core_audited=True,
    ),
    *_secret_endpoints("stack"),
    *_secret_endpoints("account"),
    *_version_endpoints("stack"),
    *_version_endpoints("account"),
    *_environment_endpoints(),
    *_rotation_endpoints("stack"),
    *_rotation_endpoints("account"),
    Endpoint(
        "rotation_status",
        "account",
        lambda m, w, k: Call(
            "GET", f"/api/3/accounts/{m.account(w).uid}/rotation_status", params={"all": "true"}
        ),
        check=lambda m, w, k, r: _equal(
            {e["account_uid"] for e in r.json()["response"]} <= {m.acme.uid}, True
        ),
    ),
    Endpoint(
        "account_audit_logs",
        "account",
        lambda m, w, k: Call("GET", f"/api/3/accounts/{m.account(w).uid}/audit_logs"),
        check=lambda m, w, k, r: _equal(
            {e["account_uid"] for e in r.json()["response"]}, {m.acme.uid}
        ),
        core_audited=True,
    ),
    Endpoint("users_list", None, lambda m, w, k: Call("GET", "/api/3/users"), check=_check_users),
    Endpoint(
        "get_user",
        None,
        lambda m, w, k: Call("GET", f"/api/3/users/{m.user_ids[PEER if w == 'own' else OUTSIDER]}"),
        check=lambda m, w, k, r: _equal(r.json()["response"]["email"], PEER),
    ),
    Endpoint(
        "create_user",
        "account",
        lambda m, w, k: Call(
            "POST",
            "/api/3/users",
            json={"email": f"{k}@acme.test", "account_id": m.account(w).uid, "role": "viewer"},
        ),
        check=_check_user_created,
        core_audited=True,
    ),
    Endpoint(
        "tokens_list", None, lambda m, w, k: Call("GET", "/api/3/tokens"), check=_check_tokens
    ),
    Endpoint(
        "create_token",
        None,
        lambda m, w, k: Call(
            "POST",
            "/api/3/tokens",
            json={"user": _caller_email(k) if w == "own" else OUTSIDER, "scopes": ["public"]},
        ),
        check=_check_token_created,
        core_audited=True,
    ),
    Endpoint(
        "revoke_token",
        None,
        lambda m, w, k: Call("DELETE", f"/api/3/tokens/{PREPARED_TOKENS[k]}"),
        prepare=_prepare_token,
        check=_check_token_revoked,
        core_audited=True,
    ),
    Endpoint(
        "all_audit_logs",
        None,
        lambda m, w, k: Call("GET", "/api/3/audit_logs"),
        core_audited=True,
    ),
    # Creating accounts and verifying the whole chain are the server owner's alone.
    Endpoint(
        "create_account",
        None,
        lambda m, w, k: Call("POST", "/api/3/accounts", json={"name": k}),
        core_audited=True,
    ),
    Endpoint(
        "verify_audit_log",
        None,
        lambda m, w, k: Call("GET", "/api/3/audit_logs/verify"),
        core_audited=True,
    ),
    Endpoint(
        "delete_stack",
        "stack",
        lambda m, w, k: Call("DELETE", _deleted_stack_path(m, w, k), params={"force": "true"}),
        prepare=_prepare_stack,
        check=_check_stack_deleted,
        core_audited=True,
    ),
    # The server owner's alone, refused before anything is looked up (acme is never at risk).
    Endpoint(
        "delete_account",
        "account",
        lambda m, w, k: Call(
            "DELETE", f"/api/3/accounts/{m.account(w).uid}", params={"force": "true"}
        ),
        core_audited=True,
    ),
    Endpoint(
        "remove_user",
        None,
        lambda m, w, k: Call("DELETE", f"/api/3/users/{k}@acme.test"),
        prepare=_prepare_member,
        core_audited=True,
    ),
    Endpoint(
        "remove_membership",
        "account",
        lambda m, w, k: Call("DELETE", f"/api/3/users/{k}@acme.test/accounts/{m.account(w).uid}"),
        prepare=_prepare_member,
        check=_check_role_removed("account"),
        core_audited=True,
    ),
    Endpoint(
        "remove_stack_role",
        "stack",
        lambda m, w, k: Call("DELETE", f"/api/3/users/{k}@acme.test/stacks/{m.stack(w).uid}"),
        prepare=_prepare_member,
        check=_check_role_removed("stack"),
        core_audited=True,
    ),
    # What stays of a deleted stack: whoever may manage the account's stacks.
    Endpoint(
        "deleted_list",
        "account",
        lambda m, w, k: Call("GET", "/api/3/deleted", params={"account_id": m.account(w).uid}),
        check=_check_deleted_listed,
        core_audited=True,
    ),
    Endpoint(
        "deleted_get",
        "stack",
        lambda m, w, k: Call("GET", f"/api/3/deleted/{m.deleted[w]}"),
        check=lambda m, w, k, r: _equal(
            [(v["key"], v["version"]) for v in r.json()["response"]["versions"]], [("OLD_KEY", 1)]
        ),
        core_audited=True,
    ),
    # Change-event webhooks: whoever may manage the account's stacks (as deleting one).
    Endpoint(
        "webhooks_list",
        "account",
        lambda m, w, k: Call("GET", "/api/3/webhooks", params={"account_id": m.account(w).uid}),
        check=lambda m, w, k, r: _equal(
            {h["account_uid"] for h in r.json()["response"]} <= {m.acme.uid}, True
        ),
        core_audited=True,
    ),
    Endpoint(
        "create_webhook",
        "stack",
        lambda m, w, k: Call(
            "POST",
            "/api/3/webhooks",
            json={
                "name": k.lower(),
                "url": f"https://hooks.example.test/in?token=t0k3n-{k}",
                "signing_key_secret": _seeded(w, "stack")[0],
                "stack_uid": m.stack(w).uid,
            },
        ),
        check=_check_webhook_added,
        core_audited=True,
    ),
    Endpoint(
        "remove_webhook",
        "stack",
        lambda m, w, k: Call(
            "DELETE", f"/api/3/webhooks/{k.lower()}", params={"account_id": m.account(w).uid}
        ),
        prepare=_prepare_webhook(paused=False),
        check=_check_webhook_removed,
        core_audited=True,
    ),
    *(_webhook_change(change) for change in ("pause", "resume")),
]
BY_NAME = {e.name: e for e in ENDPOINTS}


def _equal(got: object, expected: object) -> None:
    assert got == expected


def test_the_tables_cover_every_endpoint_and_every_api_route(matrix: Matrix) -> None:
    for table in EXPECTED.values():
        assert list(table) == [e.name for e in ENDPOINTS]
    paths = matrix.clients["viewer", "public"].get("/api/3/openapi.json").json()["paths"]
    routes = {
        (method.upper(), path)
        for path, methods in paths.items()
        for method in methods
        if path.startswith("/api/3/")
    }
    # The one route that takes no token: a workload's JWT login is the same for every caller
    # (tests/api/test_jwt_login_api.py, tests/core/workload).
    routes.discard(("POST", "/api/3/auth/jwt/login"))
    # An event stream never ends, and the test client waits for the end of a response: who may
    # watch a stack (who may describe it) is tested against a served app instead
    # (tests/api/test_changes_stream.py).
    routes.discard(("GET", "/api/3/stacks/{stack_uid}/changes"))
    assert len(routes) == 66
    templates = {
        matrix.acme.uid: "{account_id}",
        matrix.web.uid: "{stack_uid}",
        "/WEB_KEY": "/{key}",
        "/ACME_SHARED/environments": "/{key}/environments",
        f"/accounts/{matrix.acme.uid}/rotation_status": "/accounts/{account_id}/rotation_status",
        "/ACME_SHARED": "/{key}",
        "/THE-KEY": "/{key}",
        "/versions/1": "/versions/{version}",
        f"/stacks/{matrix.web.uid}/secret_policy": "/stacks/{stack_uid}/secret_policy",
        f"/users/{matrix.user_ids[PEER]}": "/users/{user_id}",
        f"/deleted/{matrix.deleted['own']}": "/deleted/{uid}",
    }
    # First: "/THE-KEY" alone is a secret's key.
    templates = {
        "/users/THE-KEY@acme.test": "/users/{user}",
        "/webhooks/the-key": "/webhooks/{name}",
        **templates,
    }
    PREPARED_STACKS["THE-KEY"] = matrix.web.uid
    CALLER_OF["THE-KEY"] = ("viewer", "public")
    PREPARED_TOKENS["THE-KEY"] = "tok_" + "0" * 16
    templates["/tokens/" + PREPARED_TOKENS["THE-KEY"]] = "/tokens/{token_id}"
    exercised = set()
    for endpoint in ENDPOINTS:
        call = endpoint.call(matrix, "own", "THE-KEY")
        path = call.path
        for real, template in templates.items():
            path = path.replace(real, template)
        exercised.add((call.method, path))
    assert exercised == routes


# --- The generated test --------------------------------------------------------------------

CASES = [
    pytest.param(endpoint, role, where, scope, id=f"{endpoint.name}-{role}-{where}-{scope}")
    for endpoint in ENDPOINTS
    for role in ROLES
    for where in ("own", "other")
    for scope in SCOPES
]


def _case_key(endpoint: Endpoint, role: str, where: str, scope: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", f"m-{endpoint.name}-{role}-{where}-{scope}")


def _send(client: TestClient, call: Call) -> Response:
    answer: Response = client.request(call.method, call.path, json=call.json, params=call.params)
    return answer


def _foreign_to_missing(m: Matrix) -> dict[str, str]:
    return {
        m.globex.uid: FAKE_UID,
        m.shop.uid: FAKE_UID,
        m.deleted["other"]: FAKE_UID,
        f"/users/{m.user_ids[OUTSIDER]}": f"/users/{FAKE_USER_ID}",
        f"user {m.user_ids[OUTSIDER]} ": f"user {FAKE_USER_ID} ",
        **{uid: FAKE_TOKEN_ID for key, uid in PREPARED_TOKENS.items() if "-other-" in key},
    }


def _as_missing(call: Call, m: Matrix) -> Call:
    """The same request naming an account / stack / user that does not exist."""
    path = call.path
    json = call.json
    params = call.params
    for real, fake in _foreign_to_missing(m).items():
        path = path.replace(real, fake)
        if isinstance(json, dict):
            json = {name: fake if value == real else value for name, value in json.items()}
        if params is not None:
            params = {name: fake if value == real else value for name, value in params.items()}
    return Call(call.method, path, json, params)


@pytest.mark.parametrize(("endpoint", "role", "where", "scope"), CASES)
def test_access(matrix: Matrix, endpoint: Endpoint, role: str, where: str, scope: str) -> None:
    expected = EXPECTED[where, scope][endpoint.name][role]
    key = _case_key(endpoint, role, where, scope)
    CALLER_OF[key] = (role, scope)
    if endpoint.prepare is not None:
        endpoint.prepare(matrix, where, key)
    call = endpoint.call(matrix, where, key)
    client = matrix.clients[role, scope]
    denied = expected >= 400
    before = table_rows(matrix.installation) if denied else None

    response = _send(client, call)

    assert response.status_code == expected, (response.status_code, response.text)
    if not denied:
        assert endpoint.check is not None or expected == 200
        if endpoint.check is not None:
            endpoint.check(matrix, where, key, response)
        return
    code = {403: "forbidden", 404: "not_found"}[expected]
    body = assert_error(response, expected, code)
    for values in SEEDED.values():
        for value in values.values():
            assert value not in response.text
    if expected == 404:
        missing = _send(client, _as_missing(call, matrix))
        assert_error(missing, 404, "not_found")
        shown = body["error_description"]
        for real, fake in _foreign_to_missing(matrix).items():
            shown = shown.replace(real, fake)
        assert shown == missing.json()["error_description"]
    assert table_rows(matrix.installation) == before
    if expected == 403 and endpoint.core_audited:
        event = list_events(matrix.installation, limit=1)[0]
        assert (event.actor, event.outcome) == (f"{role}@acme.test", "denied")


# --- Token narrowing and stack roles -------------------------------------------------------


def test_a_token_narrowed_to_development_cannot_touch_production(matrix: Matrix) -> None:
    installation = matrix.installation
    email = "narrow@acme.test"
    token = user_with_token(
        installation, email, "acme", "administrator", environments=["development"]
    )
    set_local(installation, Target(matrix.acme, matrix.dev), {"DEV_KEY": "dev-plain-0e6b"})
    client = client_for(matrix.app, token.token)
    web = f"/api/3/stacks/{matrix.web.uid}/secrets"
    dev = f"/api/3/stacks/{matrix.dev.uid}/secrets"
    before = snapshot(installation)

    for path in (f"{web}/WEB_KEY", f"{web}/ACME_SHARED", web):
        body = assert_error(client.get(path, params={"reveal": "true"}), 403, "forbidden")
        assert "'production' environment" in body["error_description"]
    for method, path, json in [
        ("PUT", f"{web}/NARROW", {"raw_value": "nope"}),
        ("DELETE", f"{web}/WEB_KEY", None),
        ("PUT", web, {"secrets": {"NARROW": "nope"}}),
    ]:
        assert_error(client.request(method, path, json=json), 403, "forbidden")
    account = f"/api/3/accounts/{matrix.acme.uid}/secrets"
    body = assert_error(client.get(account, params={"reveal": "true"}), 403, "forbidden")
    assert "account level" in body["error_description"]
    assert_error(client.put(f"{account}/NARROW", json={"raw_value": "nope"}), 403)
    after = snapshot(installation)
    assert after["rows"] == before["rows"]

    allowed = client.get(dev, params={"reveal": "true"})
    assert allowed.status_code == 200, allowed.text
    shown = {s["key"]: (s["raw_value"], s["inherited"]) for s in allowed.json()["response"]}
    assert shown["ACME_SHARED"] == ("acme-shared-plain-7f3a", True)
    assert shown["DEV_KEY"] == ("dev-plain-0e6b", False)
    assert client.put(f"{dev}/NARROW_OK", json={"raw_value": "fine"}).status_code == 200


def test_a_token_narrowed_to_one_stack_cannot_use_another(matrix: Matrix) -> None:
    token = user_with_token(
        matrix.installation, "onestack@acme.test", "acme", "deployer", stacks=[matrix.dev.uid]
    )
    client = client_for(matrix.app, token.token)
    assert client.get(
        f"/api/3/stacks/{matrix.dev.uid}/secrets", params={"reveal": "true"}
    ).is_success
    body = assert_error(
        client.get(f"/api/3/stacks/{matrix.web.uid}/secrets", params={"reveal": "true"}), 403
    )
    # Useful, and without the name of a stack the token may not describe (lists hide it too).
    assert "this token is not valid for that stack" in body["error_description"]
    assert "web" not in str(body)


def test_a_stack_role_replaces_the_account_role_for_that_stack(matrix: Matrix) -> None:
    token = user_with_token(
        matrix.installation, "mixed@acme.test", "acme", "viewer", stack_roles={"dev": "developer"}
    )
    client = client_for(matrix.app, token.token)
    dev = f"/api/3/stacks/{matrix.dev.uid}/secrets"
    web = f"/api/3/stacks/{matrix.web.uid}/secrets"
    assert client.put(f"{dev}/MIXED", json={"raw_value": "ok"}).status_code == 200
    before = table_rows(matrix.installation)
    assert_error(client.put(f"{web}/MIXED", json={"raw_value": "no"}), 403, "forbidden")
    assert_error(client.get(web, params={"reveal": "true"}), 403, "forbidden")
    assert table_rows(matrix.installation) == before


def test_a_stack_reveal_resolves_what_the_stack_inherits_and_nothing_else(
    matrix: Matrix,
) -> None:
    """Issue 17: resolving ``${account.KEY}`` is part of revealing the stack, so a token
    narrowed to the stack, or a user with only a stack role, may do it; it reaches only what
    the stack's environment inherits, never another stack and never the account level."""
    installation = matrix.installation
    acme = Target(matrix.acme)
    dev_target = Target(matrix.acme, matrix.dev)
    set_secret(
        installation,
        LOCAL,
        acme,
        "REF_HOST",
        SecretValue("ref-host-4b1"),
        environments=["development"],
    )
    # The two broken references are made as stored data can hold them (writes refuse to create
    # one): written while their targets were there, then the targets restricted or deleted.
    set_secret(installation, LOCAL, acme, "REF_PROD", SecretValue("ref-prod-9c2"))
    set_local(installation, dev_target, {"web.WEB_KEY": "dev's own key of that name"})
    set_local(
        installation,
        dev_target,
        {
            "REF_DSN": "db://${account.REF_HOST}/${REF_HOST}",
            "REF_LEAK": "${account.REF_PROD}",
            "REF_OTHER_STACK": "${web.WEB_KEY}",
        },
    )
    restrict_secret(installation, LOCAL, acme, "REF_PROD", ["production"])
    unset_secret(installation, LOCAL, dev_target, "web.WEB_KEY")
    narrowed = user_with_token(
        installation, "refs-narrow@acme.test", "acme", "deployer", stacks=[matrix.dev.uid]
    )
    stack_only = user_with_token(
        installation, "refs-stack@acme.test", "acme", "viewer", stack_roles={"dev": "developer"}
    )
    dev = f"/api/3/stacks/{matrix.dev.uid}/secrets"
    try:
        for token in (narrowed, stack_only):
            client = client_for(matrix.app, token.token)
            one = client.get(f"{dev}/REF_DSN", params={"reveal": "true"})
            assert one.status_code == 200, one.text
            assert one.json()["response"]["raw_value"] == "db://ref-host-4b1/ref-host-4b1"
            # Not an account secret the stack's environment does not inherit ...
            leak = client.get(f"{dev}/REF_LEAK", params={"reveal": "true"})
            assert "REF_PROD" in assert_error(leak, 409, "conflict")["error_description"]
            assert "ref-prod-9c2" not in leak.text
            # ... nor another stack's value: no reference names one (this is a missing key) ...
            other = client.get(f"{dev}/REF_OTHER_STACK", params={"reveal": "true"})
            assert_error(other, 409, "conflict")
            assert "web-plain" not in other.text
            # ... nor the account level itself.
            account = client.get(
                f"/api/3/accounts/{matrix.acme.uid}/secrets", params={"reveal": "true"}
            )
            assert_error(account, 403, "forbidden")
        narrowed_client = client_for(matrix.app, narrowed.token)
        web = narrowed_client.get(
            f"/api/3/stacks/{matrix.web.uid}/secrets/WEB_KEY", params={"reveal": "true"}
        )
        assert_error(web, 403, "forbidden")
    finally:
        for key in ("REF_DSN", "REF_LEAK", "REF_OTHER_STACK"):
            unset_secret(installation, LOCAL, dev_target, key)
        for key in ("REF_HOST", "REF_PROD"):
            unset_secret(installation, LOCAL, acme, key)


# --- Known bugs ----------------------------------------------------------------------------


def test_listing_stacks_of_a_foreign_account_looks_like_a_missing_one(matrix: Matrix) -> None:
    client = matrix.clients["administrator", "admin"]
    foreign = client.get("/api/3/stacks", params={"account_id": matrix.globex.uid})
    missing = client.get("/api/3/stacks", params={"account_id": FAKE_UID})
    assert_error(missing, 404, "not_found")
    assert foreign.status_code == missing.status_code
    by_name = client.get("/api/3/stacks", params={"account_id": "globex"})
    assert (
        by_name.status_code
        == client.get("/api/3/stacks", params={"account_id": "nope"}).status_code
    )


def test_a_cross_account_reveal_attempt_is_audited(matrix: Matrix) -> None:
    client = matrix.clients["administrator", "admin"]
    seq = list_events(matrix.installation, limit=1)[0].seq
    response = client.get(
        f"/api/3/stacks/{matrix.shop.uid}/secrets/SHOP_KEY", params={"reveal": "true"}
    )
    assert_error(response, 404, "not_found")
    newer = [e for e in list_events(matrix.installation, limit=10) if e.seq > seq]
    assert [(e.actor, e.outcome) for e in newer] == [("administrator@acme.test", "denied")]
