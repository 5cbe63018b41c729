"""core.streams.sinks: only the server owner configures sinks or reads their status (a refusal
is audited, nothing changes); the status of a type this build cannot deliver says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.streams.config import SinkOptions
from stacksafe.core.streams.sinks import (
    add_sink,
    list_sinks,
    public_key,
    remove_sink,
    sink_statuses,
    status,
)
from stacksafe.core.streams.types import FACTORIES, NOT_AVAILABLE
from stacksafe.core.tenancy import Target
from stacksafe.errors import Forbidden
from tests.actors import LOCAL
from tests.core.helpers_access import events_after, last_seq, make_user


def test_only_the_owner_configures_sinks_and_refusals_are_audited(
    installation: Installation, account_target: Target, tmp_path: Path
) -> None:
    admin = make_user(installation, "admin@acme.test", "acme", "administrator")
    add_sink(installation, LOCAL, "siem", "file", SinkOptions(path=tmp_path / "a.jsonl"))
    before = last_seq(installation)
    attempts: list[Callable[[], object]] = [
        lambda: add_sink(installation, admin, "x", "file", SinkOptions(path=tmp_path / "b")),
        lambda: remove_sink(installation, admin, "siem"),
        lambda: status(installation, admin),
        lambda: list_sinks(installation, admin),
        lambda: public_key(installation, admin),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden, match="only the server owner may configure audit sinks"):
            attempt()
    refused = events_after(installation, before)
    assert [(e.action, e.outcome) for e in refused] == [
        ("audit_sink.add", "denied"),
        ("audit_sink.remove", "denied"),
        ("audit_sink.status", "denied"),
        ("audit_sink.list", "denied"),
        ("audit_sink.public_key", "denied"),
    ]
    assert [s.name for s in list_sinks(installation, LOCAL)] == ["siem"]


def test_a_type_without_a_transport_waits_and_says_so(installation: Installation) -> None:
    assert "file" in FACTORIES
    add_sink(installation, LOCAL, "later", "syslog", SinkOptions(address="127.0.0.1:514"))
    [found] = sink_statuses(installation)
    expected = NOT_AVAILABLE if "syslog" not in FACTORIES else "delivering"
    assert (found.state, found.cursor) == (expected, 0)
    assert found.lag == found.head > 0
