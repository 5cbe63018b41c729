"""Loading many new stacks with their secrets at once: the rows `create_stack` and
`import_secrets` write, in a few large transactions instead of one per stack and three
statements per secret.

For seeding a large installation (a migration from another store, the scale benchmark). Every
value is sealed under its stack's real data key (made and counted by ``sealing_key``, as an
import does), bound to its account, stack, key and version 1; each stack gets its
``stack.create`` and ``secret.import`` audit events (keys, versions, keyed fingerprints) in the
same transaction as its rows, so the log reads as if each stack had been created and imported
on its own. What differs is only how the rows travel: secrets and versions go to the database
as multi-row inserts, many stacks per commit.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.audit import record
from stacksafe.core.data_keys import sealing_key
from stacksafe.core.expansion import check_new_stacks
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.generate import auto_generated
from stacksafe.core.guard import allow, refuse
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target, record_stack_created, visible_target
from stacksafe.core.validation import (
    validate_environment,
    validate_key,
    validate_name,
    validate_value,
)
from stacksafe.core.version_writes import ACTION_SET
from stacksafe.crypto import Binding
from stacksafe.errors import Conflict, Forbidden, NotFound
from stacksafe.model import SecretValue, Stack
from stacksafe.store import Connection
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.bulk import FirstVersion, insert_first_versions

__all__ = ["NewStack", "load_stacks"]

# Secrets per transaction: on SQLite, large enough that commits and per-statement costs vanish,
# small enough that one transaction holds a bounded amount of memory and the write lock briefly.
# On PostgreSQL, short transactions: the revision triggers (migration 0007) update the stack's
# row once per inserted secret and version, and every update leaves a row version behind until
# the transaction ends; loading was no faster with larger batches (bench/README.md, scale.py).
BATCH_SECRETS = {"sqlite": 20_000, "postgresql": 500}


@dataclass(frozen=True)
class NewStack:
    """A stack to create, with the secrets of its own level."""

    name: str
    environment: str
    secrets: Mapping[str, SecretValue]


class _RefusedInBatch(Exception):
    """A new stack's own permission refused inside its batch's transaction: carried out of it,
    so the refusal is recorded (``guard.refuse``) after the rollback, not in the rolled-back
    transaction."""

    def __init__(self, error: Forbidden | NotFound, name: str) -> None:
        super().__init__(error.message)
        self.error, self.name = error, name


def _batches(stacks: Iterable[NewStack], batch_secrets: int) -> Iterator[list[NewStack]]:
    batch: list[NewStack] = []
    count = 0
    for stack in stacks:
        batch.append(stack)
        count += len(stack.secrets)
        if count >= batch_secrets:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


def _checked(installation: Installation, new: NewStack) -> dict[str, SecretValue]:
    """The stack's values, validated as `create_stack` and `import_secrets` validate them."""
    validate_name("stack", new.name)
    validate_environment(new.environment)
    values = {}
    for key in sorted(new.secrets):
        validate_key(key)
        value = new.secrets[key]
        generated = auto_generated(value)
        value = value if generated is None else generated
        validate_value(key, value, installation.max_value_bytes)
        values[key] = value
    return values


def _load_batch(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    batch: Sequence[tuple[NewStack, dict[str, SecretValue]]],
) -> list[Stack]:
    account = target.account
    now = installation.clock()
    made: list[Stack] = []
    new_secrets: list[FirstVersion] = []
    for new, values in batch:
        if tenancy_queries.stacks_by_name(conn, new.name, account.id):
            raise Conflict(f"stack {new.name!r} already exists in account {account.name!r}")
        stack = tenancy_queries.insert_stack(
            conn, random.token_hex(16), account.id, new.name, new.environment, now
        )
        made.append(stack)
        level = Target(account, stack)
        # Its own permission, as an import into the new stack checks it: refused, the whole
        # batch rolls back, and the refusal is recorded after (load_stacks).
        try:
            authorize(actor, Action.WRITE_STACK_SECRETS, account, stack)
        except (Forbidden, NotFound) as exc:
            raise _RefusedInBatch(exc, new.name) from None
        record_stack_created(conn, installation, actor, account, stack)
        if not values:
            continue
        data_key = sealing_key(conn, installation, level, len(values))
        for key, value in values.items():
            envelope = data_key.seal(value.reveal().encode("utf-8"), Binding(level.scope, key, 1))
            new_secrets.append(FirstVersion(account.id, stack.id, key, envelope))
        record(
            conn,
            installation,
            actor,
            "secret.import",
            account=account,
            stack=stack,
            detail={
                "keys": dict.fromkeys(values, 1),
                "fingerprints": {k: fingerprint(installation, v) for k, v in values.items()},
            },
        )
    insert_first_versions(conn, new_secrets, ACTION_SET, actor.name, now)
    check_new_stacks(
        conn,
        installation,
        account,
        [(stack, values) for stack, (_, values) in zip(made, batch, strict=True)],
    )
    return made


def load_stacks(
    installation: Installation,
    actor: Principal,
    account_ref: str,
    stacks: Iterable[NewStack],
    *,
    batch_secrets: int | None = None,
) -> list[Stack]:
    """Create ``stacks`` in the account ``account_ref`` (uid or name), each with its secrets.

    Transactions of about ``batch_secrets`` secrets (default: by database, ``BATCH_SECRETS``);
    each is all or nothing (a stack name already taken fails its batch with ``Conflict``, and
    the batches before it stay).
    """
    target = visible_target(installation, actor, account_ref=account_ref)
    size = batch_secrets or BATCH_SECRETS.get(installation.store.dialect, 500)
    made: list[Stack] = []
    for batch in _batches(stacks, size):
        checked = []
        for new in batch:
            allow(installation, actor, Action.MANAGE_STACKS, target.account, None, name=new.name)
            checked.append((new, _checked(installation, new)))

        def work(
            conn: Connection, checked: list[tuple[NewStack, dict[str, SecretValue]]] = checked
        ) -> list[Stack]:
            return _load_batch(conn, installation, actor, target, checked)

        try:
            made += installation.store.transact(work, f"loading {len(checked)} stacks")
        except _RefusedInBatch as refused:
            raise refuse(
                installation,
                actor,
                Action.WRITE_STACK_SECRETS.value,
                refused.error,
                account=target.account,
                detail={"name": refused.name},
            ) from None
    return made
