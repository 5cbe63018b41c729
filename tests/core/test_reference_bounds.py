"""Bounded reference expansion: a few small values that reference each other many times must
neither make the server build more than the bounds allow nor be stored at all.

In isolation first (``resolve_all`` with ``Limits``, ``oversized_after_write``), then through
the core on SQLite and PostgreSQL: every write that can make a value grow is refused naming
the key and changes nothing; every read of what exceeds the bounds (written before them, or
with limits lowered since) fails naming the key.
"""

from __future__ import annotations

import contextlib
import re
import tracemalloc
from collections.abc import Callable, Mapping

import pytest
from sqlalchemy import select, update

from stacksafe.core.audit_events import list_events
from stacksafe.core.bulk import NewStack, load_stacks
from stacksafe.core.installation import Installation
from stacksafe.core.references import Limits, oversized_after_write, resolve_all
from stacksafe.core.secrets import (
    effective_values,
    environments_of,
    get_secret,
    import_secrets,
    list_secrets,
    restrict_secret,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_stack, list_stacks
from stacksafe.core.versions import rollback_key
from stacksafe.errors import ExpansionTooLarge, IntegrityError, NotFound
from stacksafe.model import SecretValue
from stacksafe.store.schema import secret_versions, secrets
from tests.actors import LOCAL

KIB = 1024
LIMITS = Limits(value_bytes=64 * KIB, read_bytes=16 * 1024 * KIB)


def doubling(levels: int) -> dict[str, str]:
    """The classic bomb: L00 eight bytes, each next level twice the one before."""
    chain = {"L00": "x" * 8}
    for level in range(1, levels + 1):
        chain[f"L{level:02d}"] = f"${{L{level - 1:02d}}}" * 2
    return chain


def fanning(levels: int, width: int = 64) -> dict[str, str]:
    """The same bomb within the depth limit: each level ``width`` times the one before."""
    chain = {"F0": "x" * 8}
    for level in range(1, levels + 1):
        chain[f"F{level}"] = f"${{F{level - 1}}}" * width
    return chain


def peak_bytes(work: Callable[[], object]) -> int:
    """The most memory Python allocated while ``work`` ran (its result dropped)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with contextlib.suppress(ExpansionTooLarge):
            work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- In isolation ----------------------------------------------------------------------------


def test_an_exponential_value_is_refused_before_anything_is_built() -> None:
    own = fanning(8)  # F8 would be 8 * 64**8 bytes: two pebibytes

    def read() -> None:
        resolve_all(own, dict, "stack 'web'", limits=LIMITS)

    with pytest.raises(ExpansionTooLarge, match=r"'F3' in stack 'web' expands to more than 65536"):
        read()
    assert peak_bytes(read) < 1024 * KIB


def test_one_value_may_expand_to_exactly_the_limit_counted_in_utf8_bytes() -> None:
    # "é" is two bytes: 2 * 16 KiB of them is exactly 64 KiB, once resolved.
    own = {"E": "é" * (16 * KIB), "TWICE": "${E}${E}", "MORE": "${E}${E}!"}
    out = resolve_all(own, dict, "stack 'web'", only=["TWICE"], limits=LIMITS)
    assert len(out.values["TWICE"].encode()) == 64 * KIB
    with pytest.raises(ExpansionTooLarge, match="'MORE'"):
        resolve_all(own, dict, "stack 'web'", only=["MORE"], limits=LIMITS)
    # The escape stands for two characters, and counts as two.
    assert resolve_all({"A": "$${A}"}, dict, "w", limits=Limits(4, 4)).values == {"A": "${A}"}


def test_a_read_that_builds_more_than_the_read_bound_is_refused_naming_the_key() -> None:
    big = "y" * (60 * KIB)
    own = {"BIG": big, **{f"K{i:03d}": "${BIG}" for i in range(300)}}  # 300 * 60 KiB > 16 MiB

    def read() -> None:
        resolve_all(own, dict, "stack 'web'", limits=LIMITS)

    # BIG holds no reference: it is returned as stored, not built; the K... are built, and
    # each records the reference it follows (32 bytes and its name).
    with pytest.raises(ExpansionTooLarge, match=r"up to 'K272' builds more than 16777216 bytes"):
        read()
    assert peak_bytes(read) < 1024 * KIB
    # Fewer keys at once are fine.
    out = resolve_all(own, dict, "stack 'web'", only=["K000", "K001"], limits=LIMITS)
    assert out.values["K001"] == big


def test_a_wide_web_of_references_counts_the_names_it_records() -> None:
    # 400 values, each naming the same 2,000 one-byte values: each expands to only 2,000
    # bytes, but the references each follows (listed in the audit event) are 2,000 names.
    leaves = {f"L{i}": "a" for i in range(2000)}
    every_leaf = "".join(f"${{{name}}}" for name in leaves)
    own = {**leaves, **{f"M{i:03d}": every_leaf for i in range(400)}}
    limits = Limits(value_bytes=64 * KIB, read_bytes=1024 * KIB)

    def read() -> None:
        resolve_all(own, dict, "stack 'web'", limits=limits)

    with pytest.raises(ExpansionTooLarge, match=r"up to 'M0\d\d' builds more than 1048576 bytes"):
        read()
    assert peak_bytes(read) < 16 * 1024 * KIB
    out = resolve_all(own, dict, "stack 'web'", only=["M000", "M001"], limits=limits)
    assert out.values["M001"] == "a" * 2000
    assert len(out.used["M001"]) == 2000


def test_account_values_count_as_they_expand_in_the_account() -> None:
    account = {"PART": "z" * (40 * KIB), "BOTH": "${PART}${PART}"}
    own = {"PART": "short", "USES": "${account.BOTH}", "LOCAL": "${PART}${PART}"}
    with pytest.raises(ExpansionTooLarge, match="'USES'"):
        resolve_all(own, lambda: account, "stack 'web'", only=["USES"], limits=LIMITS)
    out = resolve_all(own, lambda: account, "stack 'web'", only=["LOCAL"], limits=LIMITS)
    assert out.values["LOCAL"] == "shortshort"


def test_memoised_sizes_keep_the_errors_and_the_references_used() -> None:
    # A shared target reached first shallow, then deep, must still meet the depth limit.
    chain = {f"K{i}": f"${{K{i + 1}}}" for i in range(9)}
    chain["K9"] = "${SHARED}"
    chain["SHARED"] = "${LEAF}"
    chain["LEAF"] = "leaf"
    chain["AA"] = "${SHARED}"  # read first: SHARED is sized at depth 2 here
    deep = resolve_all(chain, dict, "w", only=["AA", "K0"], limits=LIMITS)
    assert re.fullmatch(
        r"references nest deeper than 10 in w: K0 -> K1 .* -> SHARED -> LEAF", deep.broken["K0"]
    )
    assert deep.values == {"AA": "leaf"}
    out = resolve_all(chain, dict, "w", only=["AA", "K1"], limits=LIMITS)
    assert out.values == {"AA": "leaf", "K1": "leaf"}
    assert out.used == {
        "AA": ["LEAF", "SHARED"],
        "K1": [*(f"K{i}" for i in range(2, 10)), "LEAF", "SHARED"],
    }


def test_the_write_check_ignores_cycles_and_missing_targets_and_long_chains() -> None:
    assert oversized_after_write({"A": "${B}", "B": "${A}${NOPE}"}, {}, ["A"], 10) is None
    chain = {f"K{i}": f"${{K{i + 1}}}" for i in range(5000)}  # no recursion limit to reach
    chain["K5000"] = "x" * 11
    assert oversized_after_write(chain, {}, ["K5000"], 10) == "K0"
    assert oversized_after_write(chain, {}, ["K5000"], 11) is None
    # Only what uses a changed key is checked: an old oversized value elsewhere is no reason.
    old = {"OLD": "${X}${X}", "X": "x" * 6, "NEW": "ok"}
    assert oversized_after_write(old, {}, ["NEW"], 10) is None
    assert oversized_after_write(old, {}, ["X"], 10) == "OLD"
    bomb = doubling(40)
    assert oversized_after_write(bomb, {}, ["L00"], 64 * KIB) == "L14"


# --- Through the core --------------------------------------------------------------------


def put(installation: Installation, target: Target, key: str, value: str, **kwargs: object) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value), **kwargs)  # type: ignore[arg-type]


def events(installation: Installation) -> list[tuple[int, str]]:
    return [(e.seq, e.action) for e in list_events(installation, limit=1000)]


def stored(installation: Installation, target: Target) -> dict[str, tuple[int, str]]:
    """Key -> (version, value as stored) of the stack and of its account."""
    found = list_secrets(installation, LOCAL, target, reveal=True, resolve=False)
    found += list_secrets(installation, LOCAL, Target(target.account), reveal=True, resolve=False)
    return {
        f"{s.inherited}:{s.key}": (s.version, s.raw_value.reveal() if s.raw_value else "")
        for s in found
    }


def refused(
    installation: Installation, target: Target, match: str, write: Callable[[], object]
) -> None:
    """``write`` fails with ExpansionTooLarge matching ``match`` and changes no secret."""
    before = stored(installation, target)
    with pytest.raises(ExpansionTooLarge, match=match):
        write()
    assert stored(installation, target) == before


def test_the_doubling_bomb_is_refused_when_written(
    installation: Installation, stack_target: Target
) -> None:
    bomb = doubling(40)
    levels = iter(bomb.items())
    for key, value in levels:  # up to L13: 8 * 2**13 bytes, exactly the limit
        put(installation, stack_target, key, value)
        if key == "L13":
            break
    before = events(installation)
    with pytest.raises(
        ExpansionTooLarge,
        match=r"'L14' in stack 'web' of account 'acme' would expand to more than 65536 ",
    ):
        put(installation, stack_target, *next(levels))
    assert events(installation) == before  # no set event: nothing was written
    with pytest.raises(NotFound):
        get_secret(installation, LOCAL, stack_target, "L14")
    # Stored, L13 is at the limit; read, it is deeper than references may nest (L10 is not).
    top = get_secret(installation, LOCAL, stack_target, "L10", reveal=True).raw_value
    assert top is not None
    assert top.reveal() == "x" * 8 * 2**10


def test_an_account_write_that_blows_up_a_stack_value_is_refused(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "PART", "p" * 100)
    put(installation, stack_target, "DIRECT", "${account.PART}" * 600)  # 60,000 bytes: fine
    refused(
        installation,
        stack_target,
        r"'DIRECT' in stack 'web' of account 'acme' would expand to more than 65536 bytes",
        lambda: put(installation, account_target, "PART", "p" * 110),
    )
    # Through the stack's ${KEY} too, when the stack inherits KEY (not when it overrides it).
    put(installation, account_target, "HOST", "h" * 10)
    put(installation, stack_target, "VIA_INHERITED", "${HOST}" * 6000)
    refused(
        installation,
        stack_target,
        r"'VIA_INHERITED' in stack 'web'",
        lambda: import_secrets(
            installation, LOCAL, account_target, {"HOST": SecretValue("h" * 11)}
        ),
    )
    put(installation, stack_target, "HOST", "short")
    put(installation, account_target, "HOST", "h" * 1000)  # overridden in web: nothing grows there


def test_a_stack_write_that_blows_up_an_inherited_value_is_refused(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    # Resolved in the stack being read: the account's URL uses web's HOST in web.
    put(installation, account_target, "HOST", "account-host")
    put(installation, account_target, "URL", "${HOST}${HOST}")
    refused(
        installation,
        stack_target,
        r"'URL' in stack 'web'",
        lambda: put(installation, stack_target, "HOST", "w" * (33 * KIB)),
    )


def test_removing_an_override_or_a_restriction_that_would_blow_up_a_value_is_refused(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "BLOB", "b" * (40 * KIB))
    put(installation, stack_target, "BLOB", "small")
    put(installation, stack_target, "TWO", "${BLOB}${BLOB}")
    refused(
        installation,
        stack_target,
        r"'TWO' in stack 'web'",
        lambda: unset_secret(installation, LOCAL, stack_target, "BLOB"),
    )

    staging = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "stg", "staging")
    )
    put(installation, account_target, "PROD_BLOB", "p")
    put(installation, staging, "TWICE", "${PROD_BLOB}${PROD_BLOB}")
    # Restricted later (allowed: staging's TWICE is then broken, and reads isolate it), then
    # grown where staging does not see it.
    restrict_secret(installation, LOCAL, account_target, "PROD_BLOB", ["production"])
    put(installation, account_target, "PROD_BLOB", "p" * (40 * KIB))
    refused(
        installation,
        staging,
        r"'TWICE' in stack 'stg'",
        lambda: restrict_secret(installation, LOCAL, account_target, "PROD_BLOB", []),
    )
    assert environments_of(installation, LOCAL, account_target, "PROD_BLOB") == ["production"]


def test_a_rollback_and_a_bulk_load_are_checked_too(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, stack_target, "PART", "q" * (40 * KIB))
    put(installation, stack_target, "PART", "q")
    put(installation, stack_target, "TWO", "${PART}${PART}")
    with pytest.raises(ExpansionTooLarge, match="'TWO'"):
        rollback_key(installation, LOCAL, stack_target, "PART", 1)
    assert get_secret(installation, LOCAL, stack_target, "PART").version == 2

    put(installation, account_target, "SEED", "s" * (40 * KIB))
    with pytest.raises(ExpansionTooLarge, match=r"'PAIR' in stack 'new'"):
        load_stacks(
            installation,
            LOCAL,
            "acme",
            [NewStack("new", "production", {"PAIR": SecretValue("${SEED}${SEED}")})],
        )
    assert all(s.name != "new" for s in list_stacks(installation, LOCAL, "acme"))


def test_reading_what_exceeds_the_bounds_fails_on_every_path_naming_the_key(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "PART", "a" * (20 * KIB))
    put(installation, stack_target, "THREE", "${account.PART}" * 3)
    put(installation, stack_target, "PLAIN", "plain")
    installation.max_value_bytes = 32 * KIB  # lowered since the values were written

    reads: Mapping[str, Callable[[], object]] = {
        "get": lambda: get_secret(installation, LOCAL, stack_target, "THREE", reveal=True),
        "list": lambda: list_secrets(installation, LOCAL, stack_target, reveal=True),
        "deliver": lambda: effective_values(installation, LOCAL, stack_target),
    }
    for name, read in reads.items():
        with pytest.raises(
            ExpansionTooLarge, match=r"'THREE' in stack 'web' of account 'acme' expands"
        ):
            read()
        assert name
    # Other keys alone, and the stored text, are still readable.
    assert get_secret(
        installation, LOCAL, stack_target, "PLAIN", reveal=True
    ).raw_value == SecretValue("plain")
    raw = get_secret(installation, LOCAL, stack_target, "THREE", reveal=True, resolve=False)
    assert raw.raw_value == SecretValue("${account.PART}" * 3)

    installation.max_value_bytes = 64 * KIB
    installation.max_expanded_bytes = 32 * KIB
    with pytest.raises(ExpansionTooLarge, match=r"up to 'THREE' builds more than 32768"):
        list_secrets(installation, LOCAL, stack_target, reveal=True)
    installation.max_expanded_bytes = 64 * KIB
    assert len(effective_values(installation, LOCAL, stack_target)["THREE"].reveal()) == 60 * KIB


def test_a_damaged_value_elsewhere_blocks_no_write_and_is_still_reported(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    staging = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "stg", "staging")
    )
    put(installation, stack_target, "DAMAGED", "web-value")
    put(installation, account_target, "SHARED_DAMAGED", "account-value")
    with installation.store.write() as conn:  # a flipped bit in two stored ciphertexts, through SQL
        for key in ("DAMAGED", "SHARED_DAMAGED"):
            version_id, envelope = conn.execute(
                select(secret_versions.c.id, secret_versions.c.envelope)
                .join(secrets, secrets.c.id == secret_versions.c.secret_id)
                .where(secrets.c.key == key, secret_versions.c.version == secrets.c.current_version)
            ).one()
            flipped = bytes(envelope[:-1]) + bytes([envelope[-1] ^ 1])
            conn.execute(
                update(secret_versions)
                .where(secret_versions.c.id == version_id)
                .values(envelope=flipped)
            )

    put(installation, account_target, "X", "x")
    put(installation, account_target, "ACCOUNT_OK", "${X}")  # checked in web and stg: both open
    put(installation, stack_target, "WEB_OK", "fine")
    put(installation, staging, "STG_OK", "${ACCOUNT_OK}")
    with pytest.raises(IntegrityError, match="'DAMAGED'"):
        get_secret(installation, LOCAL, stack_target, "DAMAGED", reveal=True)


def test_supplying_a_missing_target_or_breaking_a_cycle_is_checked_in_its_turn(
    installation: Installation, stack_target: Target
) -> None:
    # Missing targets and cycles are refused when written (test_reference_integrity.py);
    # stored data can still hold them (a target deleted later), and the size check counts
    # them as nothing, then sizes the target once it exists again.
    put(installation, stack_target, "LATER", "l")
    put(installation, stack_target, "TWICE", "${LATER}${LATER}")
    unset_secret(installation, LOCAL, stack_target, "LATER")
    refused(
        installation,
        stack_target,
        r"'TWICE' in stack 'web'",
        lambda: put(installation, stack_target, "LATER", "l" * (40 * KIB)),
    )
