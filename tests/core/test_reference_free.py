"""A write to a stack known to hold no reference opens none of its values, and only then.

The write-time check on references (core.expansion) opens every value of the stack and of its
account; a stack seen free of references at a revision skips that while the revision holds.
Each test makes the level change in some way since it was seen (another write here, another
server on the same database, an account value, plain SQL behind everyone's back) and checks
that the next write is checked again, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, update

from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.reference_free import ReferenceFree
from stacksafe.core.secrets import list_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.errors import ExpansionTooLarge
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import secrets
from tests.actors import LOCAL

LIMIT = 1024


def put(installation: Installation, target: Target, key: str, value: str) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value))


class Reads:
    """The SELECTs that read stored values (envelopes) while it is listening."""

    def __init__(self, installation: Installation) -> None:
        self.engine = installation.store.engine
        self.seen: list[str] = []

    def _seen(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "envelope" in statement:
            self.seen.append(statement)

    def __enter__(self) -> Reads:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def other_server(settings: Settings, installation: Installation) -> Iterator[Installation]:
    """A second process's installation on the same database (its own memory)."""
    second = open_installation(settings)
    second.max_value_bytes = LIMIT
    yield second
    second.close()


@pytest.fixture
def limited(installation: Installation) -> Installation:
    installation.max_value_bytes = LIMIT
    return installation


def test_a_second_write_to_a_stack_without_references_reads_no_value(
    limited: Installation, stack_target: Target
) -> None:
    put(limited, Target(stack_target.account), "SHARED", "account value")
    with Reads(limited) as first:
        put(limited, stack_target, "K", "v1")
    assert first.seen  # nothing known yet: the stack's and the account's values are opened
    with Reads(limited) as second:
        put(limited, stack_target, "K", "v2")
        put(limited, stack_target, "OTHER", "v3")
    assert second.seen == []
    found = {s.key: s.raw_value for s in list_secrets(limited, LOCAL, stack_target, reveal=True)}
    assert {k: v.reveal() for k, v in found.items() if v is not None} == {
        "K": "v2",
        "OTHER": "v3",
        "SHARED": "account value",
    }


def test_a_value_with_a_reference_is_checked_and_makes_the_next_write_checked(
    limited: Installation, stack_target: Target
) -> None:
    put(limited, stack_target, "B", "x")
    put(limited, stack_target, "A", "${B}" * 4)  # written with a reference: checked
    with Reads(limited) as reads, pytest.raises(ExpansionTooLarge, match="'A'"):
        put(limited, stack_target, "B", "x" * (LIMIT // 2))
    assert reads.seen


def test_a_reference_written_by_another_server_is_seen(
    limited: Installation, other_server: Installation, stack_target: Target
) -> None:
    put(limited, stack_target, "B", "x")
    put(limited, stack_target, "B", "y")  # known free of references from here
    put(other_server, stack_target, "A", "${B}" * 4)
    with pytest.raises(ExpansionTooLarge, match="'A'"):
        put(limited, stack_target, "B", "x" * (LIMIT // 2))


def test_an_account_value_with_a_reference_is_seen_by_its_stacks_writes(
    limited: Installation, stack_target: Target
) -> None:
    put(limited, stack_target, "B", "x")
    put(limited, stack_target, "B", "y")
    # Resolved in each stack that inherits it: its ${B} is the stack's own B.
    put(limited, Target(stack_target.account), "A", "${B}" * 4)
    with pytest.raises(ExpansionTooLarge, match="'A'"):
        put(limited, stack_target, "B", "x" * (LIMIT // 2))


def test_a_reference_put_back_with_plain_sql_is_seen(
    limited: Installation, stack_target: Target
) -> None:
    put(limited, stack_target, "B", "x")
    put(limited, stack_target, "A", "${B}" * 4)  # version 1 of A
    put(limited, stack_target, "A", "plain")  # version 2
    put(limited, stack_target, "B", "y")  # known free of references from here
    with limited.store.write() as conn:
        # A's pointer moved back to version 1 by SQL alone (a tamperer, a bad restore): no
        # stacksafe write, and the database's triggers change the stack's revision all the same.
        conn.execute(update(secrets).where(secrets.c.key == "A").values(current_version=1))
    with pytest.raises(ExpansionTooLarge, match="'A'"):
        put(limited, stack_target, "B", "x" * (LIMIT // 2))


def test_what_is_remembered_is_bounded() -> None:
    remembered = ReferenceFree(max_levels=2)
    remembered.learn((1, 1), "r1", free=True)
    remembered.learn((1, 2), "r2", free=True)
    assert remembered.known((1, 1), "r1")
    assert not remembered.known((1, 1), "r0")  # another revision: not known
    remembered.learn((1, 3), "r3", free=True)  # past the bound: forgotten, then kept
    assert not remembered.known((1, 1), "r1")
    assert remembered.known((1, 3), "r3")
    remembered.learn((1, 3), "r4", free=False)  # references seen: nothing known of it
    assert not remembered.known((1, 3), "r3")
    assert not remembered.known((1, 3), "r4")
