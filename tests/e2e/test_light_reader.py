"""`run`'s light reader (client/light.py, the standard library's http.client) against a real
`stacksafe serve` over TLS: it reads what the SDK reads, and fails as the SDK fails.

The module shares one server (``served``); each test uses its own keys or stacks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stacksafe.client import Client
from stacksafe.client.light import LightReader
from stacksafe.client.wire import PER_PAGE
from stacksafe.errors import ConfigurationError, NotFound, StacksafeError, Unauthenticated
from stacksafe.model import SecretValue
from tests.e2e.conftest import Served

# SQLite only (tests/conftest.py, DATABASES): a client of HTTP; the server's answers on
# PostgreSQL are tests/api's.
pytestmark = pytest.mark.databases("sqlite")


_THE_CA = "the served CA"


def light(
    served: Served,
    token: str | None = None,
    *,
    ca_bundle: str | None = _THE_CA,
    cert_file: str | None = None,
) -> LightReader:
    """A reader of ``served`` (its CA trusted unless another ``ca_bundle`` is given)."""
    ca = str(served.ca) if ca_bundle == _THE_CA else ca_bundle
    return LightReader(served.address, token or served.token, ca_bundle=ca, cert_file=cert_file)


def plain(found: list[tuple[str, SecretValue | None]]) -> dict[str, str | None]:
    return {key: None if value is None else value.reveal() for key, value in found}


def test_it_reads_what_the_sdk_reads(served: Served) -> None:
    web = served.stack_uids["web"]
    with served.client() as client:
        client.set_secret("LIGHT_SHARED", "from the account", account="acme")
        client.set_secret("LIGHT_OWN", "own ${LIGHT_SHARED}", stack=web)
        # A reference broken since: its target deleted.
        client.set_secret("LIGHT_GONE", "soon gone", stack=web)
        client.set_secret("LIGHT_BROKEN", "${LIGHT_GONE}", stack=web)
        client.delete_secret("LIGHT_GONE", stack=web)
        listed = client.list_secrets(stack=web, reveal=True, purpose="light test")
        raw = client.list_secrets(stack=web, reveal=True, resolve=False, purpose="light test")
    with light(served) as reader:
        assert reader.stack_uids("web", None) == [(web, "acme")]
        assert reader.stack_uids("web", "acme") == [(web, "acme")]
        assert reader.stack_uids("no-such-stack", None) == []
        resolved = plain(reader.revealed(web, resolve=True, purpose="light test"))
        stored = plain(reader.revealed(web, resolve=False, purpose="light test"))
    sdk = {s.key: None if s.raw_value is None else s.raw_value.reveal() for s in listed}
    assert resolved == sdk
    assert resolved["LIGHT_OWN"] == "own from the account"
    assert resolved["LIGHT_BROKEN"] is None  # a broken reference: listed without a value
    assert stored == {s.key: None if s.raw_value is None else s.raw_value.reveal() for s in raw}
    assert stored["LIGHT_OWN"] == "own ${LIGHT_SHARED}"


def test_it_reads_every_page(served: Served) -> None:
    with served.client() as client:
        stack = client.create_stack("light-paged", account="acme").uid
        many = {f"PAGED_{n:05d}": f"value {n}" for n in range(PER_PAGE + 5)}
        client.import_secrets(many, stack=stack)
        sdk = client.reveal(stack=stack)
    with light(served) as reader:
        found = plain(reader.revealed(stack, resolve=True, purpose="light test"))
    assert len(found) > PER_PAGE  # more than one page
    assert found == {key: value.reveal() for key, value in sdk.items()}
    assert set(many) <= set(found)


def _same_failure(
    sdk: Callable[[], object], lighter: Callable[[], object]
) -> tuple[StacksafeError, StacksafeError]:
    """The errors both raise; the same class and the same message."""
    with pytest.raises(StacksafeError) as by_sdk:
        sdk()
    with pytest.raises(StacksafeError) as by_light:
        lighter()
    assert type(by_light.value) is type(by_sdk.value)
    assert by_light.value.message == by_sdk.value.message
    return by_sdk.value, by_light.value


def test_it_fails_as_the_sdk_fails(served: Served, tmp_path: Path) -> None:
    web = served.stack_uids["web"]
    purpose = "light test"
    # A token the server does not know.
    with served.client("ssk_not-a-token") as client, light(served, "ssk_not-a-token") as reader:
        refused, _ = _same_failure(
            lambda: client.list_secrets(stack=web, reveal=True, purpose=purpose),
            lambda: reader.revealed(web, resolve=True, purpose=purpose),
        )
    assert isinstance(refused, Unauthenticated)
    # A stack that does not exist.
    with served.client() as client, light(served) as reader:
        missing, _ = _same_failure(
            lambda: client.list_secrets(stack="0" * 32, reveal=True, purpose=purpose),
            lambda: reader.revealed("0" * 32, resolve=True, purpose=purpose),
        )
    assert isinstance(missing, NotFound)
    # Nothing listening.
    nowhere = "https://127.0.0.1:9"
    with (
        Client(nowhere, served.token, ca_bundle=str(served.ca)) as client,
        LightReader(nowhere, served.token, ca_bundle=str(served.ca)) as reader,
    ):
        with pytest.raises(StacksafeError) as sdk_error:
            client.stacks()
        with pytest.raises(StacksafeError) as light_error:
            reader.stack_uids("web", None)
    assert type(light_error.value) is type(sdk_error.value)
    assert light_error.value.message.startswith(
        "cannot reach the stacksafe server at https://127.0.0.1:9/api/3: "
    )
    # A certificate nobody told it to trust: certifi's CAs do not sign the test's.
    with (
        Client(served.address, served.token) as client,
        light(served, ca_bundle=None) as reader,
    ):
        untrusted, _ = _same_failure(client.stacks, lambda: reader.stack_uids("web", None))
    assert "failed verification" in untrusted.message
    # A CA bundle that is not there, and plain HTTP to another machine: refused before sending.
    missing_ca = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(ConfigurationError, match="no-such-ca"):
        light(served, ca_bundle=missing_ca)
    with pytest.raises(ConfigurationError, match="refusing plain HTTP"):
        LightReader("http://10.0.0.5:8200", served.token, ca_bundle=None)


def test_the_environments_trust_store_is_honoured(served: Served) -> None:
    """Without a CA bundle, SSL_CERT_FILE (``cert_file``) is trusted, as httpx does."""
    web = served.stack_uids["web"]
    with light(served, ca_bundle=None, cert_file=str(served.ca)) as reader:
        assert reader.stack_uids("web", None) == [(web, "acme")]
