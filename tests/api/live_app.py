"""An app served for real by uvicorn on a thread of the test process (127.0.0.1, a free port),
for what the ASGI test client cannot do: read a response that never ends (an event stream)
while it is being written. And a reader of server-sent events with bounded waits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

START_TIMEOUT = 10.0


@contextmanager
def served(app: FastAPI, port: int = 0) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (``port``, or a free one) until the block ends; yields its
    base URL. At the end its change streams are ended first, as a stop signal ends them in
    `stacksafe serve` (api.stop_signals: a test's thread gets no signals)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:  # a bounded wait for the lifespan and the socket
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.change_hub.close()
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "the server did not stop"


@dataclass
class Event:
    kind: str
    data: dict[str, Any]
    id: str | None


@dataclass
class EventReader:
    """The events of one open stream, read line by line (comments counted, not returned)."""

    response: httpx.Response
    lines: Iterator[str] = field(init=False)
    comments: int = 0
    retry: int | None = None

    def __post_init__(self) -> None:
        self.lines = self.response.iter_lines()

    def next(self) -> Event:
        """The next event (the client's read timeout bounds the wait)."""
        fields: dict[str, str] = {}
        for line in self.lines:
            if line.startswith(":"):
                self.comments += 1
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "retry" in fields:
                self.retry = int(fields["retry"])
            if "event" in fields:
                return Event(fields["event"], json.loads(fields["data"]), fields.get("id"))
            fields = {}
        raise AssertionError("the stream ended without another event")

    def until_comment(self) -> None:
        """Read until a comment (a heartbeat) arrives; an event before it fails the test."""
        seen = self.comments
        for line in self.lines:
            if line.startswith(":"):
                self.comments += 1
            elif line:
                raise AssertionError(f"an event came before a heartbeat: {line!r}")
            if self.comments > seen:
                return
        raise AssertionError("the stream ended")


@contextmanager
def stream(
    base: str, uid: str, token: str | None, *, last_event_id: str | None = None
) -> Iterator[tuple[httpx.Response, EventReader]]:
    """``GET /api/3/stacks/{uid}/changes`` as ``token``; a read waits at most 5 s."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with (
        httpx.Client(base_url=base, timeout=httpx.Timeout(5.0)) as client,
        client.stream("GET", f"/api/3/stacks/{uid}/changes", headers=headers) as response,
    ):
        yield response, EventReader(response)
