"""The TLS context of the server's own HTTPS calls (core.outbound_tls): made once per trust
setting, anew when the setting or the file it names changes, and used by the calls."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacksafe.core import outbound_tls as module
from stacksafe.core.outbound_tls import outbound_tls
from stacksafe.core.workload.keys import discovery_document, fetch_keys
from tests.e2e.conftest import make_tls
from tests.jwt_issuer import running_issuer


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ssl.SSLContext]]:
    """The verifying contexts made from here on, by httpx or anyone (the standard library's
    function, counted: each one loads the certificate authorities), none kept before."""
    contexts: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        contexts.append(real(*args, **kwargs))
        return contexts[-1]

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setattr(ssl, "create_default_context", counted)
    module._context.cache_clear()
    yield contexts
    module._context.cache_clear()


def test_the_context_is_made_once_while_the_trust_setting_is_unchanged(
    made: list[ssl.SSLContext],
) -> None:
    first = outbound_tls()
    assert outbound_tls() is first
    assert made == [first]


def test_a_ca_file_set_or_changed_on_disk_makes_a_new_context(
    made: list[ssl.SSLContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = outbound_tls()
    files = make_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca))
    named = outbound_tls()
    assert named is not default
    assert outbound_tls() is named
    stat = os.stat(files.ca)
    os.utime(files.ca, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert outbound_tls() is not named
    assert len(made) == 3


def test_fetching_an_issuers_document_and_keys_makes_one_context(
    made: list[ssl.SSLContext],
) -> None:
    with running_issuer() as issuer:
        for _ in range(3):
            assert discovery_document(issuer.url)["issuer"] == issuer.url
            assert fetch_keys("discovery", "", issuer.url).key_ids
    assert len(made) == 1
