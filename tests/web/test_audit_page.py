"""The audit page: its Keys column, and its link shown only to whoever may read some log."""

from __future__ import annotations

import re

import pytest

from stacksafe.core.secrets import restrict_secret
from tests.actors import LOCAL
from tests.api.helpers import set_local
from tests.web.helpers import WebWorld, signed_in

# SQLite only (tests/conftest.py, DATABASES): the audit page's rendering; the listing it renders is
# core's, on both databases in tests/core/test_audit.py.
pytestmark = pytest.mark.databases("sqlite")

AUDIT_LINK = '<a href="/audit">Audit log</a>'


def test_the_keys_column_names_the_keys_and_versions(web: WebWorld) -> None:
    set_local(web.installation, web.stack_target, {"API_KEY": "v1"})
    set_local(web.installation, web.stack_target, {"API_KEY": "v2"})
    set_local(web.installation, web.account_target, {"SHARED": "s"})
    restrict_secret(web.installation, LOCAL, web.account_target, "SHARED", ["production"])
    client = signed_in(web.app, web.admin)
    page = client.get("/audit", params={"account": web.account.uid}).text
    keys = re.findall(r"<code>([^<]+)</code>", page)
    assert "API_KEY@2" in keys  # a write: key and version
    assert "API_KEY@1" in keys
    assert "SHARED" in keys  # a restriction names its key without a version
    for value in ("v1", "v2"):
        assert f">{value}<" not in page


def test_the_audit_link_shows_only_to_who_may_read_a_log(web: WebWorld) -> None:
    admin = signed_in(web.app, web.admin)
    assert AUDIT_LINK in admin.get("/").text
    viewer = signed_in(web.app, web.viewer)
    for path in ("/", web.account_url, web.stack_url, "/tokens"):
        assert "/audit" not in viewer.get(path).text, path
    assert viewer.get("/audit").status_code == 403  # refused as before
