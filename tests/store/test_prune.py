"""Pruning a secret with more versions than a statement may carry parameters."""

from __future__ import annotations

from sqlalchemy import func, insert, select

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.store import secrets as queries
from stacksafe.store.schema import secret_versions, secrets
from tests.actors import LOCAL

VERSIONS = 70_000  # over PostgreSQL's 65,535 parameters per statement
KEPT = 10


def test_pruning_70000_versions_destroys_all_but_the_newest(
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "BUSY", SecretValue("v1"))
    with installation.store.write() as conn:
        secret_id, first = conn.execute(
            select(secrets.c.id, secret_versions)
            .join(secret_versions, secret_versions.c.secret_id == secrets.c.id)
            .where(secrets.c.key == "BUSY")
        ).one()[0:2]
        row = conn.execute(
            select(secret_versions).where(secret_versions.c.secret_id == secret_id)
        ).one()
        conn.execute(
            insert(secret_versions),
            [
                {
                    "secret_id": secret_id,
                    "version": version,
                    "action": row.action,
                    "envelope": row.envelope,
                    "author": row.author,
                    "created_at": row.created_at,
                }
                for version in range(2, VERSIONS + 1)
            ],
        )
        pruned = queries.prune_versions(conn, secret_id, VERSIONS - KEPT + 1, installation.clock())
    assert first == row.id
    assert pruned == list(range(1, VERSIONS - KEPT + 1))
    with installation.store.read() as conn:
        left = conn.execute(
            select(func.count()).where(
                secret_versions.c.secret_id == secret_id, secret_versions.c.envelope.is_not(None)
            )
        ).scalar_one()
    assert left == KEPT
