"""The web UI and the API answer an error with the same HTTP status: the one its class carries
(StacksafeError.http_status), not a table of each face's own."""

from __future__ import annotations

import pytest

from stacksafe import errors
from stacksafe.core import audit_events
from stacksafe.core.principals import create_token
from stacksafe.errors import StacksafeError, Throttled
from tests.actors import LOCAL
from tests.api.helpers import client_for
from tests.web.helpers import WebWorld, signed_in

# SQLite only (tests/conftest.py, DATABASES): an error class's HTTP status: no database in it.
pytestmark = pytest.mark.databases("sqlite")

CLASSES = [
    cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, StacksafeError)
]


def test_web_and_api_answer_an_error_alike(web: WebWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same error out of the core, read through the API's and the UI's audit routes."""
    token = create_token(web.installation, LOCAL, web.admin, scopes=["public", "admin"]).token
    api = client_for(web.app, token)
    browser = signed_in(web.app, web.admin)
    for cls in CLASSES:
        raised = Throttled("slow down", retry_after=7) if cls is Throttled else cls("refused")

        def failing(*args: object, raised: StacksafeError = raised, **kwargs: object) -> None:
            raise raised

        monkeypatch.setattr(audit_events, "list_events", failing)
        by_api = api.get(f"/api/3/accounts/{web.account.uid}/audit_logs")
        by_web = browser.get(f"/audit?account={web.account.uid}")
        assert by_api.status_code == by_web.status_code == cls.http_status, cls
        assert by_api.json()["error"] == cls.code
        if cls is Throttled:
            assert by_api.headers["retry-after"] == by_web.headers["retry-after"] == "7"
