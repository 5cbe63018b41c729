"""The SDK's connections: an idle one is dropped before the server would close it."""

from __future__ import annotations

import httpx
import pytest
import uvicorn

from stacksafe.client import Client
from stacksafe.client.transport import KEEPALIVE_EXPIRY


def test_idle_connections_expire_before_the_servers_keep_alive_timeout() -> None:
    served = uvicorn.Config(app=lambda: None)  # `stacksafe serve` keeps uvicorn's timeout
    assert served.timeout_keep_alive > KEEPALIVE_EXPIRY
    with Client("http://127.0.0.1:9", "token") as client:
        transport = client._transport.http._transport
        assert isinstance(transport, httpx.HTTPTransport)
        pool = transport._pool
        assert pool._keepalive_expiry == KEEPALIVE_EXPIRY


def test_dot_segments_are_refused_not_sent_to_another_route() -> None:
    from stacksafe.client.transport import path_segment
    from stacksafe.errors import InvalidInput

    assert path_segment("a/b c") == "a%2Fb%20c"
    for dots in (".", ".."):
        with pytest.raises(InvalidInput, match="use the uid"):
            path_segment(dots)
