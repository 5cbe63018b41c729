"""The peer bench's wrk script (bench/peer_wrk.py) against a real recording HTTP server: the
method, the paths in turn, the token as given, and a new value of wrk's shape in every body."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from peer_wrk import WRITTEN, Load, run

from tests.serving import serving

# A token with the characters a Lua string literal must escape.
TOKEN = 'tok"en\\1'


class Recorded:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, str | None, bytes]] = []


def _handler(seen: Recorded) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # wrk keeps its connections

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with seen.lock:
                seen.requests.append(
                    (self.command, self.path, self.headers.get("X-Vault-Token"), body)
                )
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_PUT = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def recorder() -> Iterator[tuple[int, Recorded]]:
    seen = Recorded()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(seen))
    server.daemon_threads = True
    with serving(server):
        yield server.server_address[1], seen


def test_a_write_load_sends_a_new_value_each_time_to_its_paths_in_turn(
    recorder: tuple[int, Recorded], tmp_path: Path
) -> None:
    port, seen = recorder
    paths = ("/v1/secret/data/w/A", "/v1/secret/data/w/B", "/v1/secret/data/w/C")
    load = Load("POST", paths, ("X-Vault-Token", TOKEN), '{"data":{"value":"{value}"}}')

    result = run(port, load, 1, tmp_path / "load.lua")

    assert result.requests > 0
    assert result.non_2xx == 0
    assert len(seen.requests) >= result.requests
    assert {method for method, _, _, _ in seen.requests} == {"POST"}
    assert {path for _, path, _, _ in seen.requests} == set(paths)
    assert {token for _, _, token, _ in seen.requests} == {TOKEN}
    values = [json.loads(body)["data"]["value"] for _, _, _, body in seen.requests]
    assert all(WRITTEN.fullmatch(v) for v in values)
    assert len(set(values)) == len(values)


def test_a_read_load_sends_no_body(recorder: tuple[int, Recorded], tmp_path: Path) -> None:
    port, seen = recorder
    load = Load("GET", ("/one", "/two"), ("X-Vault-Token", TOKEN))

    result = run(port, load, 1, tmp_path / "load.lua")

    assert result.requests > 0
    assert {(m, p, b) for m, p, _, b in seen.requests} == {
        ("GET", "/one", b""),
        ("GET", "/two", b""),
    }
