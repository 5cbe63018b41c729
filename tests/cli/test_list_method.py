"""Vault's LIST method through uvicorn's httptools parser (cli.list_method): the request line
rewrite, byte for byte. tests/e2e/vault (hvac and node-vault listing through a real `stacksafe
serve`) proves it end to end."""

from __future__ import annotations

import pytest

from stacksafe.cli.list_method import as_get_list


@pytest.mark.parametrize(
    ("sent", "parsed"),
    [
        (
            b"LIST /v1/secret/metadata/acme/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v1/secret/metadata/acme/?list=true HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        (
            b"LIST /v1/secret/metadata/?x=1 HTTP/1.1\r\n\r\n",
            b"GET /v1/secret/metadata/?x=1&list=true HTTP/1.1\r\n\r\n",
        ),
    ],
)
def test_a_list_request_line_becomes_a_get_with_list_true(sent: bytes, parsed: bytes) -> None:
    assert as_get_list(sent) == parsed


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /v1/secret/data/acme/web HTTP/1.1\r\n\r\n",  # not a LIST
        b"LIST /api/3/stacks HTTP/1.1\r\n\r\n",  # outside /v1: the parser refuses it, as before
        b"LIST /v1/secret/metadata/ac",  # the request line is not all here yet
        b"LIST /v1/a\r\nX: HTTP/1.1\r\n\r\n",  # no version on the request line
    ],
)
def test_anything_else_is_left_as_it_came(sent: bytes) -> None:
    assert as_get_list(sent) == sent
