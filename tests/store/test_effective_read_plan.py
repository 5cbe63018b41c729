"""The effective-secrets read goes through indexes: its cost follows the stack, not the database."""

from __future__ import annotations

from sqlalchemy import text, union_all

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.store import secrets as queries
from tests.actors import LOCAL


def compiled_effective_query(installation: Installation, account_id: int, stack_id: int) -> str:
    own = queries._live_query(queries.scope_clause(account_id, stack_id))
    inherited = queries._live_query(queries.scope_clause(account_id, None))
    statement = union_all(own, inherited).compile(
        installation.store.engine, compile_kwargs={"literal_binds": True}
    )
    return str(statement)


def test_effective_read_uses_the_partial_unique_indexes(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, account_target, "A", SecretValue("a"))
    set_secret(installation, LOCAL, stack_target, "B", SecretValue("b"))
    assert stack_target.stack is not None
    sql = compiled_effective_query(installation, account_target.account.id, stack_target.stack.id)
    with installation.store.read() as conn:
        if installation.store.dialect == "sqlite":
            plan = "\n".join(str(r) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert "uq_secrets_stack_level" in plan
            assert "uq_secrets_account_level" in plan
            assert "SCAN secrets" not in plan
            assert "SCAN secret_versions" not in plan
        else:
            # On tiny tables PostgreSQL prefers a sequential scan; forbid it to show the index
            # path exists for both branches, as it will be chosen on a large table.
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))
            assert "uq_secrets_stack_level" in plan
            assert "uq_secrets_account_level" in plan
            assert "Seq Scan" not in plan
