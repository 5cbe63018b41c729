"""A webhook receiver written in the tests (http.server on 127.0.0.1): it answers each POST
with the next status of ``replies`` (then 200) and checks every signature from the documented
algorithm, written again here rather than calling core.streams.signature.verify:
``Stacksafe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, f"{t}." + body)>``, the
timestamp within 300 s of the receiver's clock."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.serving import serving

__all__ = ["Received", "WebhookReceiver", "receiving", "signed_by"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    @property
    def seqs(self) -> list[int]:
        return [event["seq"] for event in self.json["events"]]


def signed_by(received: Received, key: bytes, now: float | None = None) -> bool:
    """The receiver's check, as docs/operations.md "Webhooks" gives it."""
    header = received.headers.get("Stacksafe-Signature", "")
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for name, value in parts if name == "t"]
    signatures = [value for name, value in parts if name == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamps[0])) > 300:
        return False
    expected = hmac.new(key, timestamps[0].encode() + b"." + received.body, hashlib.sha256)
    return any(hmac.compare_digest(expected.hexdigest(), s) for s in signatures)


class WebhookReceiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[int] = []
        self.headers: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(Received(self.path, dict(self.headers), body))
                status = receiver.replies.pop(0) if receiver.replies else 200
                self.send_response(status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/stacksafe?t=q-31337"


@contextmanager
def receiving() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver()
    with serving(made.server):
        yield made
