"""What remote mode makes of the server's answers (cli/remote_reads.py), for the SDK's path and
the light reader's alike."""

from __future__ import annotations

import pytest

from stacksafe.cli.remote_reads import delivered, printable_purpose, stack_uid_among
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue


def test_a_stack_name_is_its_one_stacks_uid() -> None:
    assert stack_uid_among("web", [("u1", "acme")]) == "u1"
    # No stack of that name: the name is taken as a uid (the server says if it is none).
    assert stack_uid_among("3f2a", []) == "3f2a"
    with pytest.raises(InvalidInput, match=r"exists in accounts acme, beta; name the account"):
        stack_uid_among("web", [("u2", "beta"), ("u1", "acme")])


def test_the_purpose_is_printable_ascii_and_bounded() -> None:
    assert printable_purpose("run /usr/bin/env") == "run /usr/bin/env"
    assert printable_purpose("run é\n\x1b") == "run ???"
    assert len(printable_purpose("x" * 500)) == 200


def test_values_apart_from_broken_keys() -> None:
    values, broken = delivered([("A", SecretValue("a")), ("URL", None)])
    assert {k: v.reveal() for k, v in values.items()} == {"A": "a"}
    assert broken == {"URL": "'URL' has a broken reference (`stacksafe secrets get URL` names it)"}
