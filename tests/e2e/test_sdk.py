"""stacksafe.Client against a real `stacksafe serve` over TLS.

The module shares one server (``served``); each test uses its own keys.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from stacksafe.client import Client, ImportReport
from stacksafe.errors import (
    BrokenReferences,
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
)
from stacksafe.model import SecretValue
from tests.e2e.conftest import Served, TlsFiles, make_tls

# SQLite only (tests/conftest.py, DATABASES): the SDK speaks HTTP; the server's answers on
# PostgreSQL are tests/api's.
pytestmark = pytest.mark.databases("sqlite")


def test_set_get_list_reveal_delete_at_both_levels(served: Served) -> None:
    web = served.stack_uids["web"]
    with served.client() as client:
        made = client.set_secret("SDK_ACCOUNT_KEY", "account value", account="acme")
        assert (made.key, made.inherited, made.version) == ("SDK_ACCOUNT_KEY", True, 1)
        assert made.value.startswith("encrypted:AES256:")
        assert made.raw_value is None  # a write does not echo the plaintext
        own = client.set_secret("SDK_STACK_KEY", "stack value", stack=web)
        assert (own.inherited, own.version) == (False, 1)

        hidden = client.get_secret("SDK_STACK_KEY", stack=web)
        assert hidden.raw_value is None
        assert hidden.version == 1  # from the ETag
        shown = client.get_secret("SDK_STACK_KEY", stack=web, reveal=True)
        assert shown.raw_value is not None
        assert shown.raw_value.reveal() == "stack value"
        assert "stack value" not in repr(shown)  # plaintext stays masked

        listed = {s.key: s for s in client.list_secrets(stack=web)}
        assert {"SDK_ACCOUNT_KEY", "SDK_STACK_KEY"} <= set(listed)
        assert all(s.raw_value is None for s in listed.values())
        assert listed["SDK_ACCOUNT_KEY"].inherited
        assert not listed["SDK_STACK_KEY"].inherited
        # The list's meta: real versions (a watcher compares them), not 0 for every key.
        assert (listed["SDK_STACK_KEY"].version, listed["SDK_ACCOUNT_KEY"].version) == (1, 1)
        account_keys = {s.key for s in client.list_secrets(account="acme")}
        assert "SDK_ACCOUNT_KEY" in account_keys
        assert "SDK_STACK_KEY" not in account_keys

        revealed = client.reveal(stack=web)
        assert revealed["SDK_ACCOUNT_KEY"].reveal() == "account value"
        assert revealed["SDK_STACK_KEY"].reveal() == "stack value"
        assert client.reveal(account="acme")["SDK_ACCOUNT_KEY"].reveal() == "account value"

        client.delete_secret("SDK_STACK_KEY", stack=web)
        client.delete_secret("SDK_ACCOUNT_KEY", account="acme")
        with pytest.raises(NotFound):
            client.get_secret("SDK_STACK_KEY", stack=web)
        with pytest.raises(NotFound):
            client.get_secret("SDK_ACCOUNT_KEY", account="acme")
        remaining = {s.key for s in client.list_secrets(stack=web)}
        assert not {"SDK_ACCOUNT_KEY", "SDK_STACK_KEY"} & remaining


def test_stacks_inherit_account_secrets_and_may_override_them(served: Served) -> None:
    web, dev = served.stack_uids["web"], served.stack_uids["dev"]
    with served.client() as client:
        client.set_secret("SDK_INHERITED", "from account", account="acme")
        for stack in (web, dev):
            seen = client.get_secret("SDK_INHERITED", stack=stack, reveal=True)
            assert seen.inherited
            assert seen.raw_value is not None
            assert seen.raw_value.reveal() == "from account"

        override = client.set_secret("SDK_INHERITED", "web's own", stack=web)
        assert not override.inherited
        assert client.reveal(stack=web)["SDK_INHERITED"].reveal() == "web's own"
        assert client.reveal(stack=dev)["SDK_INHERITED"].reveal() == "from account"
        assert client.reveal(account="acme")["SDK_INHERITED"].reveal() == "from account"

        # A stack cannot delete what it only inherits; deleting its override uncovers the rest.
        with pytest.raises(Conflict):
            client.delete_secret("SDK_INHERITED", stack=dev)
        client.delete_secret("SDK_INHERITED", stack=web)
        back = client.get_secret("SDK_INHERITED", stack=web, reveal=True)
        assert back.inherited
        assert back.raw_value is not None
        assert back.raw_value.reveal() == "from account"

        report = client.import_secrets({"SDK_BULK_A": "1", "SDK_BULK_B": "2"}, stack=dev)
        assert report == ImportReport(added=("SDK_BULK_A", "SDK_BULK_B"), changed=(), unchanged=())
        again = client.import_secrets({"SDK_BULK_A": "1", "SDK_BULK_B": "3"}, stack=dev)
        assert again == ImportReport(added=(), changed=("SDK_BULK_B",), unchanged=("SDK_BULK_A",))


def test_if_match_conflicts_are_precondition_failed(served: Served) -> None:
    web = served.stack_uids["web"]
    with served.client() as client:
        first = client.set_secret("SDK_VERSIONED", "one", stack=web)
        second = client.set_secret("SDK_VERSIONED", "two", stack=web, if_version=first.version)
        assert second.version == first.version + 1
        with pytest.raises(PreconditionFailed):
            client.set_secret("SDK_VERSIONED", "lost update", stack=web, if_version=first.version)
        with pytest.raises(PreconditionFailed):
            client.delete_secret("SDK_VERSIONED", stack=web, if_version=first.version)
        current = client.get_secret("SDK_VERSIONED", stack=web, reveal=True)
        assert current.version == second.version
        assert current.raw_value is not None
        assert current.raw_value.reveal() == "two"
        client.delete_secret("SDK_VERSIONED", stack=web, if_version=second.version)
        with pytest.raises(NotFound):
            client.get_secret("SDK_VERSIONED", stack=web)


def test_errors_come_back_as_stacksafe_errors(served: Served) -> None:
    web = served.stack_uids["web"]
    setup = served.local.in_process()  # the SDK's errors are the subject: 20x faster
    setup.ok("users", "create", "viewer@example.com", "--account", "acme")
    viewer_token = setup.ok(
        "tokens", "create", "--user", "viewer@example.com", "--scope", "public", "--scope", "admin"
    ).stdout.strip()
    with served.client() as owner:
        owner.set_secret("SDK_GUARDED", "not for viewers", stack=web)
        with pytest.raises(NotFound):
            owner.get_secret("SDK_NO_SUCH_KEY", stack=web)
        with pytest.raises(NotFound):
            owner.list_secrets(stack="0" * 32)
        with pytest.raises(NotFound):
            owner.list_secrets(account="no-such-account")

    with served.client(viewer_token) as viewer:
        described = viewer.get_secret("SDK_GUARDED", stack=web)  # a viewer may describe
        assert described.raw_value is None
        with pytest.raises(Forbidden):
            viewer.get_secret("SDK_GUARDED", stack=web, reveal=True)
        with pytest.raises(Forbidden):
            viewer.reveal(stack=web)
        with pytest.raises(Forbidden):
            viewer.set_secret("SDK_GUARDED", "overwritten", stack=web)

    with served.client("ssk_" + "x" * 43) as stranger, pytest.raises(Unauthenticated):
        stranger.list_secrets(stack=web)

    with served.client() as owner:
        still = owner.get_secret("SDK_GUARDED", stack=web, reveal=True)
        assert still.raw_value is not None
        assert still.raw_value.reveal() == "not for viewers"


def test_the_certificate_is_verified(served: Served, tmp_path: Path) -> None:
    web = served.stack_uids["web"]
    # Without the CA bundle the system trust store does not know the test CA.
    with served.client(ca=False) as unverified, pytest.raises(ConfigurationError):
        unverified.list_secrets(stack=web)
    # Nor does another CA's bundle do.
    other = make_tls(tmp_path)
    with (
        Client(served.address, served.token, ca_bundle=str(other.ca)) as wrong,
        pytest.raises(ConfigurationError),
    ):
        wrong.list_secrets(stack=web)
    # The certificate names localhost too.
    port = served.address.rsplit(":", 1)[1]
    with Client(f"https://localhost:{port}", served.token, ca_bundle=str(served.ca)) as named:
        assert {s.name for s in named.stacks(account="acme")} >= {"web", "dev"}


@pytest.mark.parametrize(
    "address",
    ["http://stacksafe.example:8200", "http://10.0.0.5:8200", "http://[2001:db8::1]:8200"],
)
def test_plain_http_to_a_remote_host_is_refused(address: str) -> None:
    with pytest.raises(ConfigurationError, match="plain HTTP"):
        Client(address, "ssk_irrelevant")


@pytest.mark.parametrize("address", ["http://127.0.0.1:8200", "http://localhost:8200"])
def test_plain_http_to_loopback_is_allowed(address: str) -> None:
    Client(address, "ssk_irrelevant").close()


@pytest.mark.filterwarnings("default")
def test_client_with_ca_bundle_emits_no_deprecation_warning(tls: TlsFiles) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        Client("https://127.0.0.1:8200", "ssk_irrelevant", ca_bundle=str(tls.ca)).close()


def test_broken_references_are_refused_when_written_and_isolated_when_read(
    served: Served,
) -> None:
    # A stack of its own: the other tests reveal web whole.
    with served.client() as client:
        stack = client.create_stack("sdk-refs", account="acme").uid
        with pytest.raises(Conflict, match=r"'URL' in stack 'sdk-refs' .*\$\{HOST\}"):
            client.set_secret("URL", "postgres://${HOST}/app", stack=stack)
        client.set_secret("HOST", "db.internal", stack=stack)
        client.set_secret("URL", "postgres://${HOST}/app", stack=stack)
        client.set_secret("OTHER", "fine", stack=stack)
        client.delete_secret("HOST", stack=stack)  # allowed: reads isolate URL

        listed = {s.key: s.raw_value for s in client.list_secrets(stack=stack, reveal=True)}
        assert listed["URL"] is None
        assert listed["OTHER"] == SecretValue("fine")
        with pytest.raises(BrokenReferences, match=r"'URL' has a broken reference"):
            client.reveal(stack=stack)
        with pytest.raises(Conflict, match=r"\$\{HOST\} does not exist in stack 'sdk-refs'"):
            client.get_secret("URL", stack=stack, reveal=True)

        # Imported values read back exactly; raw=True takes stored text (references live).
        client.import_secrets({"HOST": "h", "LITERAL": "a ${HOST}"}, stack=stack)
        client.import_secrets({"LIVE": "a ${HOST} $${HOST}"}, stack=stack, raw=True)
        values = client.reveal(stack=stack)
        assert values["URL"].reveal() == "postgres://h/app"
        assert values["LITERAL"].reveal() == "a ${HOST}"
        assert values["LIVE"].reveal() == "a h ${HOST}"
