"""The network sinks as the server runs them: a sink added with `audit sinks add`'s options,
opened through the type registry (core.streams.types) from its stored configuration, delivered
by the loop to a real syslog receiver on loopback: every event, in order, each line the signed
JSON a file sink holds, a receiver's verification passing."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import orjson
import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.streams.config import SinkOptions, open_config
from stacksafe.core.streams.delivery import DeliveryLoop, Step, Tuning
from stacksafe.core.streams.lines import installation_verifier
from stacksafe.core.streams.sinks import add_sink, sink_statuses
from stacksafe.core.streams.types import FACTORIES
from stacksafe.core.streams.verify import verify_stream
from stacksafe.errors import InvalidInput
from tests.actors import LOCAL
from tests.core.streams.helpers import appended
from tests.core.streams.syslog_receivers import StreamReceiver, wait_until

LOOPBACK = OutboundPolicy(allow=(ip_network("127.0.0.1/32"),))


def test_a_syslog_sink_delivers_the_log_from_its_stored_configuration(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 12)
    receiver = StreamReceiver()
    try:
        address = f"127.0.0.1:{receiver.port}"
        stored, _ = add_sink(installation, LOCAL, "rsyslog", "syslog", SinkOptions(address=address))
        config = open_config(installation, stored.name, stored.type, stored.config, stored.sealed)
        sink = FACTORIES["syslog"](config, LOOPBACK)
        loop = DeliveryLoop(installation, stored.id, sink, tuning=Tuning(batch_events=5))
        while loop.step()[0] is Step.DELIVERED:
            pass
        sink.close()
        [status] = sink_statuses(installation)
        assert status.lag == 0
        wait_until(lambda: len(receiver.lines()) >= status.head)  # the receiver's thread
        assert {(m.app, m.msgid) for m in receiver.messages} == {("stacksafe", "audit")}
        lines = receiver.lines()
        seqs = [orjson.loads(line)["seq"] for line in lines]
        assert seqs == list(range(1, status.head + 1))
        received = tmp_path / "received.jsonl"
        received.write_bytes(b"".join(line + b"\n" for line in lines))
        assert verify_stream([received], installation_verifier(installation)).clean
    finally:
        receiver.stop()


def test_a_network_sink_connects_only_where_the_outbound_rule_allows(
    installation: Installation,
) -> None:
    """Without STACKSAFE_OUTBOUND_ALLOW opening loopback, the sink refuses to connect there."""
    appended(installation, 1)
    stored, _ = add_sink(installation, LOCAL, "local", "syslog", SinkOptions(address="127.0.0.1:9"))
    config = open_config(installation, stored.name, stored.type, stored.config, stored.sealed)
    loop = DeliveryLoop(installation, stored.id, FACTORIES["syslog"](config, OutboundPolicy()))
    assert loop.step()[0] is not Step.DELIVERED
    [status] = sink_statuses(installation)
    assert status.cursor == 0
    assert status.last_error is not None
    assert "is not a host stacksafe may connect to" in status.last_error


def test_an_http_sink_takes_a_ca_file_and_refuses_a_missing_one(
    installation: Installation, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    add_sink(installation, LOCAL, "siem", "http", SinkOptions(url="https://siem.test/", ca=ca))
    [status] = sink_statuses(installation)
    assert status.type == "http"
    with pytest.raises(InvalidInput, match="is not a file"):
        add_sink(
            installation,
            LOCAL,
            "other",
            "http",
            SinkOptions(url="https://siem.test/", ca=tmp_path / "none.pem"),
        )
