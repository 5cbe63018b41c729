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
from stacksafe.core.streams.types import FACTORIES
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


def test_a_new_sink_of_each_network_type_starts_at_the_beginning(
    installation: Installation,
) -> None:
    assert set(FACTORIES) == {"file", "syslog", "http"}
    add_sink(installation, LOCAL, "later", "syslog", SinkOptions(address="127.0.0.1:514"))
    [found] = sink_statuses(installation)
    assert (found.state, found.cursor) == ("delivering", 0)
    assert found.lag == found.head > 0
