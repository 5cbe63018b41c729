"""The pages: security headers, values absent until revealed, reveal permission and audit,
writes with the CLI's and API's messages, history and rollback, and the admin pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from stacksafe.core import transfer
from stacksafe.core.audit_events import list_events
from stacksafe.core.secrets import get_secret, list_secrets, restrict_secret
from stacksafe.core.validation import validate_key
from stacksafe.errors import InvalidInput
from stacksafe.web.headers import CSP
from tests.actors import LOCAL
from tests.api.helpers import set_local, snapshot
from tests.clock import Clock
from tests.web.helpers import BASE, SAME_ORIGIN, WebWorld, csrf_in, notice, page_csrf, signed_in

# SQLite only (tests/conftest.py, DATABASES): templates, headers and forms over core calls that
# tests/core makes on both databases.
pytestmark = pytest.mark.databases("sqlite")

VALUE = "s3cret-value-of-the-account"
OVERRIDE = "stack-override-value"


@pytest.fixture
def seeded(web: WebWorld) -> WebWorld:
    set_local(
        web.installation, web.account_target, {"DATABASE_PASSWORD": VALUE, "ONLY_ACCOUNT": "x1y2"}
    )
    set_local(
        web.installation, web.stack_target, {"DATABASE_PASSWORD": OVERRIDE, "API_KEY": "own-k3y"}
    )
    return web


def _post(client: TestClient, path: str, form: dict[str, str], page: str = "/") -> Response:
    answer: Response = client.post(
        path, data={**form, "csrf": page_csrf(client, page)}, headers=SAME_ORIGIN
    )
    return answer


def test_pages_carry_the_security_headers_and_the_api_does_not(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    page = client.get(seeded.stack_url)
    assert page.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP
    assert "script-src 'self'" in CSP
    assert "frame-ancestors 'none'" in CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in page.text.replace('<script src="/static/app.js" defer></script>', "")
    assert not re.search(r"<[^>]+\son[a-z]+=", page.text)  # no inline event handlers either
    api = client.get("/api/3/openapi.json")
    assert "content-security-policy" not in api.headers
    assert not any(p for p in api.json()["paths"] if not p.startswith("/api/3/") and "z" not in p)
    js = client.get("/static/app.js")
    assert js.status_code == 200
    assert "no-store" not in js.headers.get("cache-control", "")


def test_no_value_in_the_html_before_a_reveal(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    for path in (seeded.stack_url, seeded.account_url, "/"):
        html = client.get(path).text
        for value in (VALUE, OVERRIDE, "own-k3y", "x1y2", "encrypted:AES256"):
            assert value not in html, (path, value)
    html = client.get(seeded.stack_url).text
    assert "DATABASE_PASSWORD" in html
    assert "overrides account" in html
    assert "inherited from account" in html  # ONLY_ACCOUNT


def test_reveal_is_a_post_that_is_audited_as_the_sessions_user(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    html = client.get(seeded.stack_url).text
    assert "Reveal" in html
    url = f"{seeded.stack_url}/secrets/DATABASE_PASSWORD/reveal"
    assert client.get(url).status_code == 405  # never a GET: nothing to leave in a history
    answer = _post(client, url, {}, seeded.stack_url)
    assert answer.status_code == 200
    assert answer.json() == {"key": "DATABASE_PASSWORD", "value": OVERRIDE}
    assert answer.headers["cache-control"] == "no-store"
    event = list_events(seeded.installation, key="DATABASE_PASSWORD", limit=1)[0]
    assert event.action == "reveal"
    assert event.outcome == "ok"
    assert event.actor == seeded.admin
    assert event.token_uid is not None
    assert event.token_uid.startswith("web_")
    assert event.source_ip == "198.51.100.7"
    assert event.stack_uid == seeded.stack.uid
    assert OVERRIDE not in str(event.to_json())


def test_a_viewer_sees_no_reveal_button_and_a_crafted_reveal_is_refused(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.viewer)
    html = client.get(seeded.stack_url).text
    assert "DATABASE_PASSWORD" in html
    assert "Reveal" not in html
    assert "/reveal" not in html
    assert "Add a secret" not in html
    answer = _post(client, f"{seeded.stack_url}/secrets/DATABASE_PASSWORD/reveal", {})
    assert answer.status_code == 403
    assert OVERRIDE not in answer.text
    assert answer.json()["error"] == "forbidden"
    event = list_events(seeded.installation, actor=seeded.viewer, limit=1)[0]
    assert (event.action, event.outcome) == ("reveal", "denied")


def test_a_crafted_write_by_a_viewer_is_refused_and_changes_nothing(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.viewer)
    before = snapshot(seeded.installation)
    answer = _post(client, f"{seeded.stack_url}/secrets", {"key": "K", "value": "v"})
    assert notice(answer) == "not allowed to write stack secrets with role 'viewer'"
    assert snapshot(seeded.installation) == before


def test_set_override_and_delete_through_the_forms(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    done = _post(client, f"{seeded.stack_url}/secrets", {"key": "ONLY_ACCOUNT", "value": "mine"})
    assert notice(done) == "Saved ONLY_ACCOUNT (version 1)."
    found = get_secret(seeded.installation, LOCAL, seeded.stack_target, "ONLY_ACCOUNT", reveal=True)
    assert not found.inherited
    assert found.raw_value is not None
    assert found.raw_value.reveal() == "mine"
    assert "overrides account" in done.text
    gone = _post(client, f"{seeded.stack_url}/secrets/ONLY_ACCOUNT/delete", {})
    assert notice(gone) == f"Deleted ONLY_ACCOUNT from {seeded.stack_target.describe()}."
    again = get_secret(seeded.installation, LOCAL, seeded.stack_target, "ONLY_ACCOUNT")
    assert again.inherited
    refused = _post(client, f"{seeded.stack_url}/secrets/ONLY_ACCOUNT/delete", {})
    assert "is inherited from account 'acme'" in (notice(refused) or "")


def test_forms_do_not_silently_replace_what_someone_else_wrote(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    url = f"{seeded.stack_url}/secrets"
    added = _post(client, url, {"key": "API_KEY", "value": "v", "expected_version": "0"})
    assert notice(added) == "secret 'API_KEY' already exists here; use its Edit form to replace it"
    set_local(
        seeded.installation, seeded.stack_target, {"API_KEY": "written meanwhile"}
    )  # version 2
    stale = _post(client, url, {"key": "API_KEY", "value": "mine", "expected_version": "1"})
    assert notice(stale) == (
        "'API_KEY' is at version 2, not 1: someone else wrote it first; read it again and retry"
    )
    fresh = _post(client, url, {"key": "API_KEY", "value": "mine", "expected_version": "2"})
    assert notice(fresh) == "Saved API_KEY (version 3)."


def test_writes_give_the_same_messages_as_the_core(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    with pytest.raises(InvalidInput) as bad_key:
        validate_key("db pass")
    answer = _post(client, f"{seeded.stack_url}/secrets", {"key": "db pass", "value": "v"})
    assert notice(answer) == bad_key.value.message
    pasted = "GOOD=1\nthis line is not dotenv\n"
    with pytest.raises(InvalidInput) as bad_paste:
        transfer.parse(pasted, "dotenv", "the pasted text")
    before = snapshot(seeded.installation)
    answer = _post(client, f"{seeded.stack_url}/import", {"dotenv": pasted})
    assert notice(answer) == bad_paste.value.message
    assert snapshot(seeded.installation) == before  # all or nothing


def test_bulk_paste_imports_all_keys(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    answer = _post(
        client,
        f"{seeded.stack_url}/import",
        {"dotenv": "NEW_A=1\nNEW_B='two words'\nAPI_KEY=own-k3y\n"},
    )
    assert notice(answer) == (
        f"Imported into {seeded.stack_target.describe()}: 2 added, 0 changed, 1 unchanged."
    )
    values = {
        s.key: s.raw_value.reveal()
        for s in list_secrets(seeded.installation, LOCAL, seeded.stack_target, reveal=True)
        if s.raw_value is not None
    }
    assert values["NEW_B"] == "two words"


def test_history_and_rollback(seeded: WebWorld) -> None:
    set_local(seeded.installation, seeded.stack_target, {"API_KEY": "second"})
    client = signed_in(seeded.app, seeded.admin)
    history_url = f"{seeded.stack_url}/secrets/API_KEY/history"
    html = client.get(history_url).text
    assert "Roll back to version 1" in html
    assert "own-k3y" not in html
    answer = _post(client, f"{seeded.stack_url}/secrets/API_KEY/rollback", {"to_version": "1"})
    assert notice(answer) == "Rolled API_KEY back to version 1's value (version 3)."
    found = get_secret(seeded.installation, LOCAL, seeded.stack_target, "API_KEY", reveal=True)
    assert found.raw_value is not None
    assert found.raw_value.reveal() == "own-k3y"


def test_audit_viewer_filters_and_the_owner_rule(seeded: WebWorld) -> None:
    admin = signed_in(seeded.app, seeded.admin)
    _post(admin, f"{seeded.stack_url}/secrets/API_KEY/reveal", {})
    page = admin.get("/audit", params={"key": "API_KEY", "actor": seeded.admin})
    assert page.status_code == 200
    assert "reveal" in page.text
    assert "web_" in page.text
    assert "own-k3y" not in page.text
    viewer = signed_in(seeded.app, seeded.viewer)
    assert viewer.get("/audit").status_code == 403
    assert viewer.get("/audit", params={"account": seeded.account.uid}).status_code == 403


def test_tokens_are_created_shown_once_and_revoked(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.viewer)
    created = _post(client, "/tokens", {"scopes": "public", "environments": "development"})
    token = re.search(r'id="new-token">(ssk_[^<]+)<', created.text)
    assert token is not None
    assert created.headers["cache-control"] == "no-store"
    listing = client.get("/tokens").text
    assert token.group(1) not in listing
    token_id = re.search(r"<code>(tok_[0-9a-f]{16})</code>", listing)
    assert token_id is not None
    api = TestClient(seeded.app, headers={"Authorization": f"Bearer {token.group(1)}"})
    assert api.get("/api/3/accounts").status_code == 200
    revoked = _post(client, f"/tokens/{token_id.group(1)}/revoke", {}, "/tokens")
    assert notice(revoked) == f"Revoked {token_id.group(1)}."
    assert api.get("/api/3/accounts").status_code == 401
    # A session is an unnarrowed token with both scopes, no more: the viewer still cannot reveal.
    wider = _post(client, "/tokens", {"scopes": "admin"})
    assert wider.status_code == 200


def test_rotation_status_shows_what_is_overdue_and_expiring(web: WebWorld, clock: Clock) -> None:
    from datetime import timedelta

    from stacksafe.core.rotation import set_policy

    set_local(web.installation, web.stack_target, {"OLD_KEY": "a", "EXPIRING": "b", "FRESH": "c"})
    set_policy(web.installation, LOCAL, web.stack_target, "OLD_KEY", rotate_every=timedelta(days=1))
    set_policy(
        web.installation,
        LOCAL,
        web.stack_target,
        "EXPIRING",
        expires_at=clock.now + timedelta(days=10),
    )
    set_policy(web.installation, LOCAL, web.stack_target, "FRESH", rotate_every=timedelta(days=90))
    clock.tick(60 * 24 * 5)  # five days later
    client = signed_in(web.app, web.admin)
    page = client.get(f"{web.account_url}/rotation").text
    assert re.search(r"state-overdue\">overdue</span></td>\s*<th scope=\"row\"><code>OLD_KEY", page)
    assert re.search(
        r"state-expiring\">expiring</span></td>\s*<th scope=\"row\"><code>EXPIRING", page
    )
    assert "FRESH" not in page
    everything = client.get(f"{web.account_url}/rotation", params={"all": "true"}).text
    assert "FRESH" in everything
    assert "a" not in re.findall(r"<code>([^<]*)</code>", everything)  # keys, never values


def test_rotation_and_diff_pages(seeded: WebWorld) -> None:
    from stacksafe.core.tenancy import create_stack

    create_stack(seeded.installation, LOCAL, "acme", "dev", "development")
    client = signed_in(seeded.app, seeded.admin)
    rotation = client.get(f"{seeded.account_url}/rotation")
    assert rotation.status_code == 200
    form = client.get(f"{seeded.stack_url}/diff").text
    other = re.findall(r'<option value="([0-9a-f]{32})"', form)
    assert other
    assert 'method="post"' in form
    diff = client.post(
        f"{seeded.stack_url}/diff",
        data={"other": other[0], "csrf": csrf_in(form)},
        headers=SAME_ORIGIN,
    )
    assert diff.status_code == 200
    assert "API_KEY" in diff.text
    assert "only in web" in diff.text
    for value in (VALUE, OVERRIDE, "own-k3y"):
        assert value not in diff.text
    assert list_events(seeded.installation, actor=seeded.admin, limit=1)[0].action == "reveal"


def test_a_diff_needs_a_checked_post_and_a_get_audits_nothing(seeded: WebWorld) -> None:
    """The comparison is audited as a reveal: a GET (a link, an image on another site) must not
    run it, and a POST needs this site's Origin and the session's CSRF token."""
    from stacksafe.core.tenancy import create_stack

    dev = create_stack(seeded.installation, LOCAL, "acme", "dev", "development")
    client = signed_in(seeded.app, seeded.admin)

    def reveals() -> int:
        return len([e for e in list_events(seeded.installation, limit=200) if e.action == "reveal"])

    before = reveals()
    got = client.get(f"{seeded.stack_url}/diff", params={"other": dev.uid})
    assert got.status_code == 200
    assert "only in web" not in got.text  # no comparison shown
    assert f'<option value="{dev.uid}" selected' in got.text  # only preselected
    token = csrf_in(got.text)
    for data, headers in (
        ({"other": dev.uid}, SAME_ORIGIN),
        ({"other": dev.uid, "csrf": "0" * 64}, SAME_ORIGIN),
        ({"other": dev.uid, "csrf": token}, {"Origin": "https://evil.example"}),
    ):
        refused = client.post(f"{seeded.stack_url}/diff", data=data, headers=headers)
        assert refused.status_code == 403
        assert "only in web" not in refused.text
    assert reveals() == before
    done = client.post(
        f"{seeded.stack_url}/diff", data={"other": dev.uid, "csrf": token}, headers=SAME_ORIGIN
    )
    assert "only in web" in done.text
    assert reveals() > before


def test_someone_elses_stack_is_not_found(seeded: WebWorld) -> None:
    from stacksafe.core.tenancy import create_account, create_stack

    create_account(seeded.installation, LOCAL, "other")
    foreign = create_stack(seeded.installation, LOCAL, "other", "theirs", "production")
    client = signed_in(seeded.app, seeded.admin)
    answer = client.get(f"/stacks/{foreign.uid}")
    assert answer.status_code == 404
    assert "does not exist" in answer.text
    reveal = _post(client, f"/stacks/{foreign.uid}/secrets/X/reveal", {})
    assert reveal.status_code == 404


def test_names_are_escaped_not_markup(seeded: WebWorld) -> None:
    from stacksafe.core.tenancy import create_stack

    hostile = '<img src=x onerror="alert(1)">'
    create_stack(seeded.installation, LOCAL, "acme", hostile, "development")
    client = signed_in(seeded.app, seeded.admin)
    for path in ("/", seeded.account_url):
        html = client.get(path).text
        assert hostile not in html
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_a_stack_role_above_the_account_role_shows_on_that_stack_only(seeded: WebWorld) -> None:
    from stacksafe.core.principals import create_user, set_password
    from stacksafe.model import SecretValue
    from tests.web.helpers import PASSWORD

    create_user(seeded.installation, LOCAL, "dev@acme.test", "acme", "viewer", {"web": "developer"})
    set_password(seeded.installation, LOCAL, "dev@acme.test", SecretValue(PASSWORD))
    client = signed_in(seeded.app, "dev@acme.test")
    page = client.get(seeded.stack_url).text
    assert "Reveal API_KEY" in page  # developer on the stack
    assert "overrides account" in page  # viewer of the account: describes its keys
    account = client.get(seeded.account_url).text
    assert "Reveal DATABASE_PASSWORD" not in account  # a viewer at account level
    assert "Add a secret" not in account


def test_the_owner_creates_accounts_and_an_administrator_stacks(seeded: WebWorld) -> None:
    from stacksafe.core.principals import bootstrap_owner, set_password
    from stacksafe.model import SecretValue
    from tests.web.helpers import PASSWORD

    bootstrap_owner(seeded.installation, "owner@acme.test")
    set_password(seeded.installation, LOCAL, "owner@acme.test", SecretValue(PASSWORD))
    owner = signed_in(seeded.app, "owner@acme.test")
    assert notice(_post(owner, "/accounts", {"name": "globex"})) == "Created account globex."
    admin = signed_in(seeded.app, seeded.admin)
    assert "New account" not in admin.get("/").text
    refused = _post(admin, "/accounts", {"name": "initech"})
    assert notice(refused) == "only the server owner may create accounts"
    made = _post(admin, f"{seeded.account_url}/stacks", {"name": "api", "environment": "qa"})
    assert notice(made) == "Created stack api (qa)."
    assert "env-qa" in made.text
    bad = _post(admin, f"{seeded.account_url}/stacks", {"name": "x", "environment": "no way"})
    assert (notice(bad) or "").startswith("environment 'no way' is not valid")


def test_audit_since_filter_and_a_malformed_time(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    future = client.get("/audit", params={"since": "2999-01-01T00:00:00Z"})
    assert "No events match." in future.text
    bad = client.get("/audit", params={"since": "yesterday"})
    assert bad.status_code == 400
    assert "is not an ISO 8601 time" in bad.text


def test_token_form_errors_come_back_as_notices(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.viewer)
    bad = _post(client, "/tokens", {"scopes": "root"}, "/tokens")
    assert (notice(bad) or "").startswith("scopes must be chosen from public, admin")
    unknown = _post(client, "/tokens/tok_0000000000000000/revoke", {}, "/tokens")
    assert notice(unknown) == "token 'tok_0000000000000000' does not exist"


def test_a_tampered_notice_cookie_is_ignored(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    for junk in ("%7Bnot-json", "%5B1%2C2%5D"):
        client.cookies.set("stacksafe_flash", junk)
        page = client.get("/")
        assert page.status_code == 200
        assert notice(page) is None


def test_not_signed_in_pages_redirect_to_sign_in(seeded: WebWorld) -> None:
    anonymous = TestClient(seeded.app, base_url=BASE)
    for path in ("/", seeded.stack_url, "/audit", "/tokens"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sign-in"


def _origin_cell(page: str, key: str) -> str:
    row = re.search(rf'<tr data-key="{key}">.*?</tr>', page, re.S)
    assert row is not None, key
    cell = re.search(r'<td><span class="origin.*?</td>', row.group(0), re.S)
    assert cell is not None, key
    return re.sub(r"<[^>]+>", "", cell.group(0)).strip()


def test_provenance_and_environment_restrictions_on_the_level_pages(seeded: WebWorld) -> None:
    set_local(seeded.installation, seeded.account_target, {"STAGING_ONLY": "s"})
    restrict_secret(seeded.installation, LOCAL, seeded.account_target, "STAGING_ONLY", ["staging"])
    # web is production: its own STAGING_ONLY overrides nothing it would inherit.
    set_local(seeded.installation, seeded.stack_target, {"STAGING_ONLY": "w"})
    client = signed_in(seeded.app, seeded.admin)

    stack_page = client.get(seeded.stack_url).text
    assert _origin_cell(stack_page, "DATABASE_PASSWORD") == "overrides account"
    assert _origin_cell(stack_page, "STAGING_ONLY") == "own"
    assert _origin_cell(stack_page, "ONLY_ACCOUNT") == "inherited from account"

    account_page = client.get(seeded.account_url).text
    assert "only staging" in _origin_cell(account_page, "STAGING_ONLY")
    assert "all environments" in _origin_cell(account_page, "ONLY_ACCOUNT")
