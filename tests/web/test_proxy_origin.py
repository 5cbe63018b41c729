"""``STACKSAFE_WEB_ORIGIN``: behind a TLS-terminating proxy, the UI checks forms against the
public origin and makes its cookies Secure, though the request it sees is plain HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stacksafe.api import create_app
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import create_account
from stacksafe.errors import InvalidInput
from stacksafe.web.state import check_web_origin
from tests.actors import LOCAL
from tests.cli.helpers import Cli, error_line
from tests.web.helpers import PASSWORD, csrf_in, user_with_password

# SQLite only (tests/conftest.py, DATABASES): the public origin's checks and cookies: no database
# in them.
pytestmark = pytest.mark.databases("sqlite")

PUBLIC = "https://secrets.example.com"


def test_forms_are_checked_against_the_public_origin(installation: Installation) -> None:
    create_account(installation, LOCAL, "acme")
    user_with_password(installation, "admin@acme.test", "administrator")
    app = create_app(installation, web_origin=PUBLIC)
    client = TestClient(app, base_url="http://testserver")  # what the proxy forwards
    form = {"email": "admin@acme.test", "password": PASSWORD}
    token = csrf_in(client.get("/sign-in").text)
    as_seen = client.post(
        "/sign-in",
        data={**form, "csrf": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert as_seen.status_code == 403
    page = client.get("/sign-in")
    assert "__Host-stacksafe_pre" in page.headers["set-cookie"]
    assert "Secure" in page.headers["set-cookie"]
    nonce = page.cookies["__Host-stacksafe_pre"]
    client.cookies.clear()
    client.cookies.set("__Host-stacksafe_pre", nonce)  # as the browser sends it, over TLS
    answer = client.post(
        "/sign-in",
        data={**form, "csrf": csrf_in(page.text)},
        headers={"Origin": PUBLIC},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    session = [c for c in answer.headers.get_list("set-cookie") if "stacksafe_session" in c]
    assert session[0].startswith("__Host-stacksafe_session=sss_")
    assert "Secure" in session[0]


@pytest.mark.parametrize(
    "text", ["https://secrets.example.com/", "https://x.test/ui", "ftp://x.test", "x.test", ""]
)
def test_a_malformed_public_origin_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        check_web_origin(text)


@pytest.mark.parametrize("text", ["https://secrets.example.com", "http://127.0.0.1:8200"])
def test_well_formed_public_origins(text: str) -> None:
    assert check_web_origin(text) == text


def test_serve_refuses_a_malformed_public_origin_before_starting(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    done = cli.run("serve", "--port", "1", env={"STACKSAFE_WEB_ORIGIN": "https://x.test/ui"})
    assert done.returncode == 2
    assert "STACKSAFE_WEB_ORIGIN must be the origin" in error_line(done.stderr)
    assert not (tmp_path / "data").exists()
