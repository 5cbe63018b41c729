"""The syslog sink against real receivers on loopback (tests/core/streams/syslog_receivers.py):
RFC 5424 messages in octet-counted frames over TCP and TLS, datagrams over UDP; a receiver that
restarts, one that never reads, one that refuses our certificate."""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_network
from pathlib import Path

import pytest

from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.rotators.failure import refusal_text
from stacksafe.core.streams.sink import Sink, SinkUnavailable
from stacksafe.core.streams.syslog_format import facility_code
from stacksafe.core.streams.syslog_sink import SyslogConfig, SyslogSink
from stacksafe.errors import InvalidInput
from tests.core.streams.certs import self_signed, server_context
from tests.core.streams.syslog_receivers import (
    BOM,
    StreamReceiver,
    datagram_receiver,
    stalled_receiver,
    stream_receiver,
    wait_until,
)
from tests.e2e.conftest import TlsFiles, make_tls

# What STACKSAFE_OUTBOUND_ALLOW=127.0.0.1 makes of the policy: the receivers listen there.
LOOPBACK = OutboundPolicy(allow=(ip_network("127.0.0.1/32"),))
STALL_TIMEOUT = 1.0


def lines(first: int, count: int) -> list[bytes]:
    """Audit-like JSON lines (seq first..), one with non-ASCII text."""
    return [
        json.dumps({"seq": n, "action": "secret.set", "actor": "zoë@example.com"}).encode()
        for n in range(first, first + count)
    ]


@contextmanager
def opened(config: SyslogConfig, outbound: OutboundPolicy = LOOPBACK) -> Iterator[SyslogSink]:
    sink = SyslogSink(config, outbound, hostname="vault-01.example")
    try:
        yield sink
    finally:
        sink.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("syslog-tls"))


def test_each_line_is_an_rfc5424_message_in_an_octet_counted_frame() -> None:
    sink: Sink
    with stream_receiver() as receiver, opened(SyslogConfig("127.0.0.1", receiver.port)) as sink:
        sent = [*lines(1, 3), b'{"seq":4,"note":"a\\nb"}']
        sink.deliver(sent)
        wait_until(lambda: len(receiver.messages) == 4)
    assert receiver.lines() == sent
    for message in receiver.messages:
        assert message.priority == 16 * 8 + 6  # local0.info
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", message.timestamp)
        assert (message.hostname, message.app, message.msgid) == (
            "vault-01.example",
            "stacksafe",
            "audit",
        )
        assert message.procid == str(os.getpid())
        assert message.structured_data == "-"
        assert message.msg.startswith(BOM)  # RFC 5424 6.4: the MSG is UTF-8
    assert json.loads(receiver.lines()[0])["actor"] == "zoë@example.com"


def test_the_facility_and_severity_make_the_priority() -> None:
    assert facility_code("local3") == 19
    assert facility_code("AUTH") == 4
    assert facility_code("23") == 23
    with pytest.raises(ValueError, match="no syslog facility"):
        facility_code("local8")
    config = SyslogConfig("127.0.0.1", 1, facility=facility_code("auth"), severity=5)
    with stream_receiver() as receiver:
        with opened(SyslogConfig("127.0.0.1", receiver.port, facility=4, severity=5)) as sink:
            sink.deliver(lines(1, 1))
        wait_until(lambda: len(receiver.messages) == 1)
    assert receiver.messages[0].priority == 37
    assert config.facility == 4


def test_the_connection_is_kept_across_batches() -> None:
    with stream_receiver() as receiver, opened(SyslogConfig("127.0.0.1", receiver.port)) as sink:
        for first in (1, 3, 5):
            sink.deliver(lines(first, 2))
        wait_until(lambda: len(receiver.messages) == 6)
    assert receiver.lines() == lines(1, 6)
    assert len(receiver._connections) == 1


def test_a_receiver_that_restarted_gets_the_next_batch_on_a_new_connection() -> None:
    first = StreamReceiver()
    port = first.port
    receivers = [first]
    try:
        with opened(SyslogConfig("127.0.0.1", port)) as sink:
            sink.deliver(lines(1, 2))
            wait_until(lambda: len(first.messages) == 2)
            first.stop()
            # Down: the batch fails, it is not counted as sent.
            with pytest.raises(SinkUnavailable, match="the connection was refused") as down:
                sink.deliver(lines(3, 2))
            assert down.value.retry_after is None
            receivers.append(second := StreamReceiver(port=port))
            sink.deliver(lines(3, 2))
            wait_until(lambda: len(second.messages) == 2)
            second.stop()
            # Restarted between two batches: the dead connection is noticed before writing.
            receivers.append(third := StreamReceiver(port=port))
            sink.deliver(lines(5, 2))
            wait_until(lambda: len(third.messages) == 2)
    finally:
        for receiver in receivers:
            receiver.stop()
    assert [r.lines() for r in receivers] == [lines(1, 2), lines(3, 2), lines(5, 2)]


def test_a_receiver_that_never_reads_fails_the_batch_within_the_timeout() -> None:
    padding = "x" * 60_000
    batch = [json.dumps({"seq": n, "pad": padding}).encode() for n in range(16)]  # ~1 MB
    with stalled_receiver() as port:
        config = SyslogConfig("127.0.0.1", port, timeout=STALL_TIMEOUT)
        with opened(config) as sink:
            # The kernel's buffers take the first few megabytes; then a batch must wait for a
            # reader that never comes, and give up at the timeout.
            failure = None
            for _attempt in range(64):
                started = time.monotonic()
                try:
                    sink.deliver(batch)
                except SinkUnavailable as exc:
                    took, failure = time.monotonic() - started, exc
                    break
    assert failure is not None, "64 MB were sent to a receiver that reads nothing"
    assert failure.message == f"syslog receiver 127.0.0.1:{port} (tcp): timed out"
    assert STALL_TIMEOUT * 0.9 <= took < STALL_TIMEOUT + 0.5


def test_tls_delivers_to_a_receiver_whose_certificate_the_ca_file_vouches_for(
    tls: TlsFiles,
) -> None:
    with stream_receiver(server_context(tls)) as receiver:
        for host in ("localhost", "127.0.0.1"):  # a name and an address of the certificate
            config = SyslogConfig(host, receiver.port, transport="tls", ca_file=tls.ca)
            with opened(config) as sink:
                sink.deliver(lines(1, 2))
                sink.deliver(lines(3, 1))
        wait_until(lambda: len(receiver.messages) == 6)
    assert receiver.lines() == lines(1, 3) * 2
    assert receiver.errors == []


def test_tls_refuses_a_certificate_no_trusted_ca_signed(tls: TlsFiles) -> None:
    with stream_receiver(server_context(tls)) as receiver:
        config = SyslogConfig("localhost", receiver.port, transport="tls")  # the system's CAs
        with opened(config) as sink, pytest.raises(SinkUnavailable) as refused:
            sink.deliver(lines(1, 1))
    assert "its TLS certificate was not accepted" in refused.value.message
    assert receiver.messages == []


def test_tls_checks_the_certificate_names_the_host(tmp_path: Path) -> None:
    elsewhere = self_signed(tmp_path, "elsewhere.test", client=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(elsewhere.cert, elsewhere.key)
    with stream_receiver(context) as receiver:
        config = SyslogConfig("127.0.0.1", receiver.port, transport="tls", ca_file=elsewhere.cert)
        with opened(config) as sink, pytest.raises(SinkUnavailable) as refused:
            sink.deliver(lines(1, 1))
    assert "mismatch" in refused.value.message
    assert receiver.messages == []


def test_tls_presents_a_client_certificate_to_a_receiver_that_requires_one(
    tls: TlsFiles, tmp_path: Path
) -> None:
    client = self_signed(tmp_path, "stacksafe-client.test", client=True)
    context = server_context(tls)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(client.cert)
    with stream_receiver(context) as receiver:
        anonymous = SyslogConfig("localhost", receiver.port, transport="tls", ca_file=tls.ca)
        with opened(anonymous) as sink, pytest.raises(SinkUnavailable):
            # TLS 1.3: the refusal comes after the client's handshake; the batch must not be
            # counted as delivered all the same.
            sink.deliver(lines(1, 1))
        known = SyslogConfig(
            "localhost",
            receiver.port,
            transport="tls",
            ca_file=tls.ca,
            client_cert=client.cert,
            client_key=client.key,
        )
        with opened(known) as sink:
            sink.deliver(lines(2, 1))
        wait_until(lambda: len(receiver.messages) == 1)
    assert receiver.lines() == lines(2, 1)
    assert any("stacksafe-client.test" in name for name in receiver.peer_names)


def test_a_tls_handshake_the_receiver_never_answers_fails_within_the_timeout(
    tls: TlsFiles,
) -> None:
    with stalled_receiver() as port:
        config = SyslogConfig(
            "localhost", port, transport="tls", ca_file=tls.ca, timeout=STALL_TIMEOUT
        )
        started = time.monotonic()
        with opened(config) as sink, pytest.raises(SinkUnavailable, match="timed out"):
            sink.deliver(lines(1, 1))
    assert time.monotonic() - started < STALL_TIMEOUT + 0.5


def test_unreadable_tls_files_fail_the_batch_naming_the_files(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    config = SyslogConfig("localhost", 6514, transport="tls", ca_file=missing)
    with opened(config) as sink, pytest.raises(SinkUnavailable, match=r"no-such-ca\.pem"):
        sink.deliver(lines(1, 1))


def test_udp_sends_one_datagram_a_message_and_drops_one_too_large(
    caplog: pytest.LogCaptureFixture,
) -> None:
    big = json.dumps({"seq": 2, "pad": "secretish" * 100}).encode()
    with datagram_receiver() as receiver:
        config = SyslogConfig("127.0.0.1", receiver.port, transport="udp", max_datagram=600)
        with caplog.at_level(logging.WARNING), opened(config) as sink:
            sink.deliver([lines(1, 1)[0], big, lines(3, 1)[0]])
            wait_until(lambda: len(receiver.messages) == 2)
            assert sink.dropped == 1
    assert receiver.lines() == [lines(1, 1)[0], lines(3, 1)[0]]
    assert receiver.messages[0].priority == 134
    dropped = [r.getMessage() for r in caplog.records if "dropped the event" in r.getMessage()]
    assert len(dropped) == 1
    assert f"127.0.0.1:{receiver.port} (udp) dropped the event seq=2: " in dropped[0]
    assert dropped[0].endswith(" bytes, over the UDP limit of 600")
    assert "secretish" not in caplog.text  # the event itself is never logged


def test_a_receiver_outside_the_outbound_rule_is_refused_with_the_generic_message() -> None:
    with stream_receiver() as receiver:
        for transport in ("tcp", "udp"):
            config = SyslogConfig("127.0.0.1", receiver.port, transport=transport)
            with opened(config, OutboundPolicy()) as sink, pytest.raises(SinkUnavailable) as no:
                sink.deliver(lines(1, 1))
            assert no.value.message == (
                f"syslog receiver {refusal_text('127.0.0.1', receiver.port)}"
            )
    assert receiver._connections == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"port": 0}, "port must be a number 1-65535"),
        ({"port": 70000}, "port must be a number 1-65535"),
        ({"host": ""}, "needs a host"),
        ({"host": "[::1]"}, "needs a host"),
        ({"transport": "sctp"}, "tcp, tls or udp"),
        ({"ca_file": Path("ca.pem")}, "for a syslog sink over TLS"),
        ({"transport": "tls", "client_key": Path("k.pem")}, "needs its client certificate"),
        ({"facility": 24}, "facility is 0-23"),
        ({"timeout": 0}, "timeout must be"),
        ({"transport": "udp", "max_datagram": 100}, "480-65507"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_problem(
    changes: dict[str, object], problem: str
) -> None:
    arguments: dict[str, object] = {"host": "syslog.example", "port": 6514, **changes}
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        SyslogConfig(**arguments)  # type: ignore[arg-type]
