"""The HTTPS sink against a real HTTPS receiver on loopback (http.server + ssl, the test CA of
tests/e2e/conftest.make_tls), which checks the signature with the documented algorithm written
again here: HMAC-SHA256 over ``f"{t}.".encode() + body``, header ``t=<unix>,v1=<hex>``."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path

import pytest

from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.rotators.failure import refusal_text
from stacksafe.core.streams.http_sink import MAX_RETRY_AFTER, HttpConfig, HttpSink, retry_after
from stacksafe.core.streams.sink import SinkUnavailable
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue
from tests.core.streams.certs import server_context
from tests.core.streams.syslog_receivers import stalled_receiver
from tests.e2e.conftest import TlsFiles, make_tls
from tests.serving import serving

LOOPBACK = OutboundPolicy(allow=(ip_network("127.0.0.1/32"),))
SECRET = "hmac-secret-9f8e7d6c5b4a"
TOKEN = "Bearer receiver-token-31415926"
QUERY_TOKEN = "query-token-27182818"


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Received:
    client: tuple[str, int]
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP(S) server on 127.0.0.1 answering each POST with the next of ``replies`` (then
    200), recording what came."""

    def __init__(self, tls: TlsFiles | None) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    Received(self.client_address, self.path, dict(self.headers), body)
                )
                reply = receiver.replies.pop(0) if receiver.replies else Reply()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.server.server_address[1]
        if tls is not None:
            self.server.socket = server_context(tls).wrap_socket(
                self.server.socket, server_side=True
            )
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://localhost:{self.port}/ingest/audit?token={QUERY_TOKEN}"


@contextmanager
def receiving(tls: TlsFiles | None) -> Iterator[Receiver]:
    made = Receiver(tls)
    with serving(made.server):
        yield made


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("https-tls"))


@pytest.fixture
def receiver(tls: TlsFiles) -> Iterator[Receiver]:
    with receiving(tls) as made:
        yield made


@contextmanager
def opened(config: HttpConfig, outbound: OutboundPolicy = LOOPBACK) -> Iterator[HttpSink]:
    sink = HttpSink(config, outbound)
    try:
        yield sink
    finally:
        sink.close()


def config_for(url: str, tls: TlsFiles | None, **more: object) -> HttpConfig:
    return HttpConfig(
        url,
        headers=(("Authorization", TOKEN), ("X-Tenant", "acme")),
        hmac_secret=SecretValue(SECRET),
        ca_file=tls.ca if tls else None,
        **more,  # type: ignore[arg-type]
    )


def lines(first: int, count: int) -> list[bytes]:
    return [
        json.dumps({"seq": n, "action": "secret.set"}).encode() for n in range(first, first + count)
    ]


def check_signature(received: Received, secret: bytes, now: float) -> None:
    """The receiver's side, from the documentation."""
    fields = dict(item.split("=", 1) for item in received.headers["Stacksafe-Signature"].split(","))
    timestamp = int(fields["t"])
    assert abs(now - timestamp) <= 300
    expected = hmac.new(secret, f"{timestamp}.".encode() + received.body, hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), fields["v1"])


def test_a_batch_is_one_signed_ndjson_post_with_the_custom_headers(
    receiver: Receiver, tls: TlsFiles
) -> None:
    with opened(config_for(receiver.url, tls)) as sink:
        sink.deliver(lines(1, 3))
        sink.deliver(lines(4, 1))
    first, second = receiver.requests
    assert first.body == b"\n".join(lines(1, 3)) + b"\n"
    assert second.body == lines(4, 1)[0] + b"\n"
    assert first.client == second.client  # one connection, kept alive
    assert first.path == f"/ingest/audit?token={QUERY_TOKEN}"
    assert first.headers["Content-Type"] == "application/x-ndjson"
    assert first.headers["Host"] == f"localhost:{receiver.port}"
    assert first.headers["Authorization"] == TOKEN
    assert first.headers["X-Tenant"] == "acme"
    for request in receiver.requests:
        check_signature(request, SECRET.encode(), time.time())
    tampered = Received(first.client, first.path, first.headers, first.body.replace(b"1", b"2", 1))
    with pytest.raises(AssertionError):
        check_signature(tampered, SECRET.encode(), time.time())


def test_without_a_secret_no_signature_is_sent(receiver: Receiver, tls: TlsFiles) -> None:
    with opened(HttpConfig(receiver.url, ca_file=tls.ca)) as sink:
        sink.deliver(lines(1, 1))
    assert "Stacksafe-Signature" not in receiver.requests[0].headers


@pytest.mark.parametrize("status", [429, 503])
def test_a_receiver_asking_for_a_pause_in_seconds_gets_it(
    receiver: Receiver, tls: TlsFiles, status: int
) -> None:
    receiver.replies = [Reply(status, {"Retry-After": "30"})]
    with opened(config_for(receiver.url, tls)) as sink:
        with pytest.raises(SinkUnavailable) as paused:
            sink.deliver(lines(1, 2))
        assert paused.value.retry_after == 30
        assert paused.value.message == (
            f"the HTTPS sink https://localhost:{receiver.port} answered {status}; it asked for "
            "a pause of 30 s"
        )
        sink.deliver(lines(1, 2))  # the same batch again, now accepted
    assert [r.body for r in receiver.requests] == [b"\n".join(lines(1, 2)) + b"\n"] * 2


def test_a_pause_given_as_an_http_date_is_counted_from_now(
    receiver: Receiver, tls: TlsFiles
) -> None:
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    receiver.replies = [Reply(503, {"Retry-After": later}), Reply(503)]
    with opened(config_for(receiver.url, tls)) as sink:
        with pytest.raises(SinkUnavailable) as paused:
            sink.deliver(lines(1, 1))
        assert paused.value.retry_after is not None
        assert 115 <= paused.value.retry_after <= 121
        with pytest.raises(SinkUnavailable) as plain:
            sink.deliver(lines(1, 1))
        assert plain.value.retry_after is None  # no Retry-After: the loop's own backoff


def test_retry_after_values() -> None:
    now = 1_800_000_000.0
    assert retry_after(None, now) is None
    assert retry_after(" 7 ", now) == 7
    assert retry_after("999999999", now) == MAX_RETRY_AFTER
    assert retry_after(email.utils.formatdate(now - 50, usegmt=True), now) == 0
    assert retry_after(email.utils.formatdate(now + 60, usegmt=True), now) == 60
    assert retry_after("soon", now) is None
    assert retry_after("-5", now) is None


def test_another_status_fails_with_the_status_alone(receiver: Receiver, tls: TlsFiles) -> None:
    receiver.replies = [Reply(500, {"Retry-After": "5"}, b"internal detail: db at 10.0.0.7")]
    with opened(config_for(receiver.url, tls)) as sink:
        with pytest.raises(SinkUnavailable) as failed:
            sink.deliver(lines(1, 1))
        sink.deliver(lines(1, 1))
    assert failed.value.message == f"the HTTPS sink https://localhost:{receiver.port} answered 500"
    assert failed.value.retry_after is None  # only 429 and 503 pause
    # The short body was read and dropped: the next batch went on the same connection.
    assert receiver.requests[0].client == receiver.requests[1].client


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed(receiver: Receiver, tls: TlsFiles, status: int) -> None:
    receiver.replies = [Reply(status, {"Location": f"https://localhost:{receiver.port}/other"})]
    with opened(config_for(receiver.url, tls)) as sink, pytest.raises(SinkUnavailable) as failed:
        sink.deliver(lines(1, 1))
    assert failed.value.message.endswith(f"answered {status}: redirects are not followed")
    assert [r.path for r in receiver.requests] == [f"/ingest/audit?token={QUERY_TOKEN}"]


def test_a_certificate_no_trusted_ca_signed_is_refused(receiver: Receiver) -> None:
    with opened(config_for(receiver.url, None)) as sink, pytest.raises(SinkUnavailable) as failed:
        sink.deliver(lines(1, 1))
    assert failed.value.message == (
        f"the HTTPS sink https://localhost:{receiver.port}: its TLS certificate was not "
        "accepted (unable to get local issuer certificate)"
    )
    assert receiver.requests == []


def test_a_refused_address_gets_the_generic_message_and_no_connection(
    receiver: Receiver, tls: TlsFiles
) -> None:
    for url, host, port in [
        (receiver.url, "localhost", receiver.port),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254", 443),
    ]:
        sink = HttpSink(config_for(url, tls), OutboundPolicy())
        with pytest.raises(SinkUnavailable) as refused:
            sink.deliver(lines(1, 1))
        assert refused.value.message == f"the HTTPS sink's {refusal_text(host, port)}"
    assert receiver.requests == []


def test_a_receiver_that_never_answers_fails_the_batch_within_the_timeout() -> None:
    with stalled_receiver() as port:
        config = config_for(f"http://127.0.0.1:{port}/", None, timeout=1.0)
        started = time.monotonic()
        with opened(config) as sink, pytest.raises(SinkUnavailable, match="timed out"):
            sink.deliver(lines(1, 1))
    assert time.monotonic() - started < 1.5


@contextmanager
def dripping_receiver(stop: threading.Event) -> Iterator[int]:
    """Reads the request, then answers a byte every 0.1 s (each read well inside a timeout)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 100:
                if stop.wait(0.1):
                    return
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_a_receiver_dripping_its_answer_fails_the_batch_within_the_timeout() -> None:
    """The timeout bounds the whole POST: per read, this answer would take 12 s."""
    stop = threading.Event()
    with dripping_receiver(stop) as port:
        config = config_for(f"http://127.0.0.1:{port}/", None, timeout=0.5)
        started = time.monotonic()
        with opened(config) as sink, pytest.raises(SinkUnavailable, match="timed out"):
            sink.deliver(lines(1, 1))
        assert time.monotonic() - started < 1.0


def test_plain_http_is_for_loopback_only(tls: TlsFiles) -> None:
    with receiving(None) as plain, opened(config_for(plain.url, None)) as sink:
        sink.deliver(lines(1, 1))
    check_signature(plain.requests[0], SECRET.encode(), time.time())
    with pytest.raises(InvalidInput, match="plain http only on loopback"):
        HttpConfig("http://siem.example/ingest")


def test_nothing_secret_is_in_a_message_or_a_repr(receiver: Receiver, tls: TlsFiles) -> None:
    config = config_for(receiver.url, tls)
    texts = [repr(config), str(config), repr(HttpSink(config, LOOPBACK))]
    receiver.replies = [Reply(500), Reply(503, {"Retry-After": "1"}), Reply(302)]
    with opened(config) as sink:
        for _ in range(3):
            with pytest.raises(SinkUnavailable) as failed:
                sink.deliver(lines(1, 1))
            texts += [str(failed.value), repr(failed.value)]
    for broken in (config_for(receiver.url, None), config_for(receiver.url, tls)):
        outbound = LOOPBACK if broken.ca_file is None else OutboundPolicy()
        with opened(broken, outbound) as sink, pytest.raises(SinkUnavailable) as failed:
            sink.deliver(lines(1, 1))
        texts += [str(failed.value), repr(failed.value)]
    for text in texts:
        for hidden in (SECRET, TOKEN, QUERY_TOKEN, "/ingest"):
            assert hidden not in text, text
    assert "Authorization" in repr(config)  # the header's name, never its value


@pytest.mark.parametrize(
    ("url", "headers", "problem"),
    [
        ("ftp://siem.example/", (), "must be an https:// address"),
        ("https://user:pw@siem.example/", (), "must not hold credentials"),
        ("https://siem.example:0/", (), "port 1-65535"),
        ("https://siem.example:99999/", (), "port 1-65535"),
        ("https://siem.example/#frag", (), "no #fragment"),
        ("https://siem.example/", (("Bad Name", "x"),), "not an HTTP header name"),
        ("https://siem.example/", (("Content-Type", "text/plain"),), "set by stacksafe itself"),
        ("https://siem.example/", (("stacksafe-signature", "x"),), "set by stacksafe itself"),
        ("https://siem.example/", (("X-A", "a\r\nX-B: b"),), "printable ASCII"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_problem(
    url: str, headers: tuple[tuple[str, str], ...], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem) as refused:
        HttpConfig(url, headers=headers)
    assert "a\r\nX-B" not in str(refused.value)


def test_an_empty_secret_and_a_missing_ca_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="HMAC secret is empty"):
        HttpConfig("https://siem.example/", hmac_secret=SecretValue(""))
    config = HttpConfig("https://127.0.0.1:9/", ca_file=tmp_path / "absent.pem")
    with opened(config) as sink, pytest.raises(SinkUnavailable, match=r"absent\.pem could not"):
        sink.deliver(lines(1, 1))
