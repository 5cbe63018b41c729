"""Helpers for the access, audit and principal tests: a small world of accounts, stacks and
secrets, real users and tokens (``create_user`` + ``create_token`` + ``authenticate``), audit
rows read straight from the table, and snapshots of everything a secret operation may change.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation, initialise
from stacksafe.core.principals import authenticate, create_token, create_user
from stacksafe.core.secrets import list_secrets, set_secret
from stacksafe.core.tenancy import (
    Target,
    create_account,
    create_stack,
    list_accounts,
    list_stacks,
)
from stacksafe.errors import StacksafeError
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store import audit as audit_queries
from stacksafe.store.schema import (
    audit_events,
    memberships,
    users,
)
from tests.actors import LOCAL
from tests.pg_spares import Spares
from tests.tables import CHANGEABLE_TABLES, raw_rows

BOTH_SCOPES = ("public", "admin")


@contextmanager
def module_installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Installation]:
    """A fresh initialised installation on ``backend`` for a module-scoped fixture (the
    ``installation``
    fixture of conftest is function-scoped); dropped again afterwards."""
    data_dir: Path = tmp_path_factory.mktemp("module-installation")
    with contextlib.ExitStack() as database:
        if backend == "sqlite":
            url = f"sqlite:///{data_dir / 'stacksafe.db'}"
        else:
            spares: Spares = request.getfixturevalue("pg_spares")
            url = database.enter_context(spares.database())
        settings = Settings.load({"STACKSAFE_DATABASE_URL": url}, data_dir=data_dir)
        installation, _ = initialise(settings)
        try:
            yield installation
        finally:
            installation.close()


# The seeded secrets of the world: target name -> {key: value}. Tests never change these keys.
SEEDED: Mapping[str, Mapping[str, str]] = {
    "acme": {"ACME_SHARED": "acme-shared-value-7f3a"},
    "web": {"WEB_KEY": "web-value-19c2", "WEB_SECOND": "web-second-5d1e"},
    "api": {"API_KEY": "api-value-b84f"},
    "dev": {"DEV_KEY": "dev-value-0e6b"},
    "globex": {"GLOBEX_SHARED": "globex-shared-value-33aa"},
    "shop": {"SHOP_KEY": "shop-value-c7d0"},
}


@dataclass(frozen=True)
class World:
    """Account ``acme`` (stacks web: production, api: staging, dev: development) and account
    ``globex`` (stack shop: production), each level holding the secrets of ``SEEDED``."""

    acme: Target
    web: Target
    api: Target
    dev: Target
    globex: Target
    shop: Target

    def target(self, name: str) -> Target:
        found: Target = getattr(self, name)
        return found


STACK_ACCOUNT = {"web": "acme", "api": "acme", "dev": "acme", "shop": "globex"}


def effective_seeded(name: str) -> dict[str, str]:
    """The seeded values a level shows: its own, plus its account's for a stack."""
    inherited = SEEDED[STACK_ACCOUNT[name]] if name in STACK_ACCOUNT else {}
    return {**inherited, **SEEDED[name]}


def build_world(installation: Installation) -> World:
    acme = Target(create_account(installation, LOCAL, "acme"))
    globex = Target(create_account(installation, LOCAL, "globex"))
    world = World(
        acme=acme,
        web=Target(acme.account, create_stack(installation, LOCAL, "acme", "web", "production")),
        api=Target(acme.account, create_stack(installation, LOCAL, "acme", "api", "staging")),
        dev=Target(acme.account, create_stack(installation, LOCAL, "acme", "dev", "development")),
        globex=globex,
        shop=Target(
            globex.account, create_stack(installation, LOCAL, "globex", "shop", "production")
        ),
    )
    for name, entries in SEEDED.items():
        for key, value in entries.items():
            set_secret(installation, LOCAL, world.target(name), key, SecretValue(value))
    return world


def token_principal(
    installation: Installation,
    email: str,
    *,
    scopes: Sequence[str] = BOTH_SCOPES,
    stacks: Sequence[str] = (),
    environments: Sequence[str] = (),
    expires_in: timedelta | None = None,
) -> Principal:
    """A fresh token for an existing user, authenticated: the principal a request would carry."""
    created = create_token(
        installation,
        LOCAL,
        email,
        scopes=scopes,
        stacks=stacks,
        environments=environments,
        expires_in=expires_in,
    )
    return authenticate(installation, created.token)


def make_user(
    installation: Installation,
    email: str,
    account: str,
    role: str,
    stack_roles: Mapping[str, str] | None = None,
    *,
    scopes: Sequence[str] = BOTH_SCOPES,
    stacks: Sequence[str] = (),
    environments: Sequence[str] = (),
) -> Principal:
    """Create (or extend) a user through the core and return its authenticated token principal."""
    create_user(installation, LOCAL, email, account, role, stack_roles)
    return token_principal(
        installation, email, scopes=scopes, stacks=stacks, environments=environments
    )


def make_stack_only_user(
    installation: Installation,
    email: str,
    account: str,
    stack: str,
    role: str,
    *,
    scopes: Sequence[str] = (),
) -> Principal:
    """A user whose only relation to ``account`` is ``role`` on one of its stacks.

    ``create_user`` always grants an account role, so the membership row it writes is removed
    again (as removing someone from an account would); the stack role stays.
    """
    create_user(installation, LOCAL, email, account, "viewer", {stack: role})
    with installation.store.write() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar_one()
        conn.execute(delete(memberships).where(memberships.c.user_id == user_id))
    return token_principal(installation, email, scopes=scopes or BOTH_SCOPES)


@dataclass(frozen=True)
class Event:
    seq: int
    actor: str
    token_uid: str | None
    action: str
    outcome: str
    account_uid: str | None
    stack_uid: str | None
    detail: dict[str, Any]


def last_seq(installation: Installation) -> int:
    with installation.store.read() as conn:
        found = conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq.desc())).first()
    return 0 if found is None else int(found.seq)


def events_after(installation: Installation, seq: int) -> list[Event]:
    """Audit events with a sequence number above ``seq``, oldest first, read from the table
    (a shared detail read from ``audit_details``)."""
    with installation.store.read() as conn:
        rows = conn.execute(
            audit_queries.events_query()
            .where(audit_events.c.seq > seq)
            .order_by(audit_events.c.seq)
        ).all()
    return [
        Event(
            int(r.seq),
            r.actor,
            r.token_uid,
            r.action,
            r.outcome,
            r.account_uid,
            r.stack_uid,
            json.loads(r.detail if r.detail_digest is None else r.shared_detail),
        )
        for r in rows
    ]


def snapshot(
    installation: Installation, targets: Sequence[Target] | None = None
) -> dict[str, object]:
    """Everything but the audit log: the secrets of ``targets`` (default: every level) as LOCAL
    lists them (key, version, ciphertext, timestamps), and the raw rows of every other table."""
    if targets is None:
        targets = [
            level
            for account in list_accounts(installation, LOCAL)
            for level in [
                Target(account),
                *(Target(account, s) for s in list_stacks(installation, LOCAL, account.uid)),
            ]
        ]
    state: dict[str, object] = {}
    for target in targets:
        state[target.describe()] = [
            (s.key, s.version, s.value, s.inherited, s.created_at, s.updated_at)
            for s in list_secrets(installation, LOCAL, target)
        ]
    with installation.store.read() as conn:
        for table in CHANGEABLE_TABLES:
            state[f"table:{table.name}"] = raw_rows(conn, table)
    return state


def attempted(
    installation: Installation,
    attempt: Callable[[], object],
    refused: type[StacksafeError] | None,
) -> list[Event]:
    """Run ``attempt`` as one case of an access table: allowed (``refused`` None), the events
    it recorded; else it must raise ``refused``, change nothing and record only refusals,
    which are returned."""
    before, seq = snapshot(installation), last_seq(installation)
    if refused is None:
        attempt()
        return events_after(installation, seq)
    with pytest.raises(refused):
        attempt()
    assert snapshot(installation) == before
    events = events_after(installation, seq)
    assert {e.outcome for e in events} == {"denied"}
    return events
