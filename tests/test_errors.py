"""Each error class carries its HTTP status and its CLI exit code (stacksafe.errors): every
class has both, they are the values scripts and clients rely on, and docs/cli.md lists them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacksafe import errors
from stacksafe.errors import StacksafeError

DOCS = Path(__file__).parent.parent / "docs"

CLASSES = [
    getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), Exception)
]

# (code, HTTP status, exit code) per class: the wire and the scripts depend on each.
PINNED = {
    "StacksafeError": ("error", 400, 1),
    "InvalidInput": ("bad_request", 400, 2),
    "ExpansionTooLarge": ("expansion_too_large", 422, 2),
    "NotFound": ("not_found", 404, 3),
    "Unauthenticated": ("unauthenticated", 401, 4),
    "Forbidden": ("forbidden", 403, 4),
    "Conflict": ("conflict", 409, 5),
    "BrokenReferences": ("conflict", 409, 5),
    "PreconditionFailed": ("precondition_failed", 412, 5),
    "Throttled": ("throttled", 503, 8),
    "TooManyFailures": ("throttled", 429, 8),
    "TooManyStreams": ("throttled", 429, 8),
    "AuditUnavailable": ("audit_unavailable", 503, 7),
    "StorageUnavailable": ("storage_unavailable", 503, 9),
    "IntegrityError": ("integrity_error", 500, 6),
    "ConfigurationError": ("configuration_error", 503, 7),
    "ServerUnreachable": ("configuration_error", 503, 7),
    "AddressUnavailable": ("address_unavailable", 503, 10),
}


def test_every_error_class_is_pinned() -> None:
    assert sorted(c.__name__ for c in CLASSES) == sorted(PINNED)
    assert all(issubclass(c, StacksafeError) for c in CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_class_carries_its_status_and_exit_code(cls: type[StacksafeError]) -> None:
    assert (cls.code, cls.http_status, cls.exit_code) == PINNED[cls.__name__]
    made = cls("why") if cls is not StacksafeError else StacksafeError("why")
    assert (made.http_status, made.exit_code) == (cls.http_status, cls.exit_code)
    # An error is a client's fault (4xx) or the server's state (5xx), never a success; no
    # exit code is one the CLI gives another meaning (0 success, 70 a crash, 130 Ctrl-C).
    assert 400 <= cls.http_status <= 599
    assert cls.exit_code not in (0, 70, 130)


def test_one_code_one_exit_code() -> None:
    """Errors of one wire code exit alike: a remote client sees only the code."""
    exits: dict[str, set[int]] = {}
    for cls in CLASSES:
        exits.setdefault(cls.code, set()).add(cls.exit_code)
    assert {code: len(found) for code, found in exits.items()} == dict.fromkeys(exits, 1)


def test_docs_list_every_exit_code() -> None:
    text = (DOCS / "cli.md").read_text()
    table = text[text.index("## Exit codes") :]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    used = {cls.exit_code for cls in CLASSES if cls is not StacksafeError}
    assert used <= documented
    assert {0, 1, 70} <= documented


def test_main_exits_with_the_errors_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from stacksafe.cli import main

    for cls in CLASSES:

        def failing(cls: type[StacksafeError] = cls) -> None:
            raise cls("refused")

        monkeypatch.setattr(main, "_start", failing)
        with pytest.raises(SystemExit) as exited:
            main.main()
        assert exited.value.code == cls.exit_code, cls
