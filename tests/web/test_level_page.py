"""An account's or a stack's page: account secrets edited and deleted where they live, large
levels paged and filtered on the server, environment restrictions shown, a failed .env paste
given back with its error."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from stacksafe.core.bulk import NewStack, load_stacks
from stacksafe.core.secrets import get_secret, restrict_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.errors import NotFound
from stacksafe.model import SecretValue
from stacksafe.paging import WEB_SECRETS_PER_PAGE
from tests.actors import LOCAL
from tests.api.helpers import set_local, snapshot
from tests.web.helpers import SAME_ORIGIN, WebWorld, csrf_in, notice, page_csrf, signed_in


def _post(client: TestClient, path: str, form: dict[str, str], page: str = "/") -> Response:
    answer: Response = client.post(
        path, data={**form, "csrf": page_csrf(client, page)}, headers=SAME_ORIGIN
    )
    return answer


def _row(page: str, key: str) -> str:
    found = re.search(rf'<tr data-key="{re.escape(key)}">(.*?)</tr>', page, re.S)
    assert found is not None, f"no row for {key}"
    return found.group(1)


def _keys(page: str) -> list[str]:
    return re.findall(r'<tr data-key="([^"]+)">', page)


def test_an_account_secret_is_edited_and_deleted_on_the_accounts_page(web: WebWorld) -> None:
    set_local(web.installation, web.account_target, {"SHARED": "first"})
    client = signed_in(web.app, web.admin)
    row = _row(client.get(web.account_url).text, "SHARED")
    assert "inherited from account" not in row
    assert "Override" not in row
    assert ">Edit<" in row
    assert 'name="expected_version" value="1"' in row
    assert f'action="{web.account_url}/secrets/SHARED/delete"' in row

    saved = _post(
        client,
        f"{web.account_url}/secrets",
        {"key": "SHARED", "value": "second", "expected_version": "1"},
        web.account_url,
    )
    assert notice(saved) == "Saved SHARED (version 2)."
    found = get_secret(web.installation, LOCAL, web.account_target, "SHARED", reveal=True)
    assert found.raw_value is not None
    assert found.raw_value.reveal() == "second"

    gone = _post(client, f"{web.account_url}/secrets/SHARED/delete", {}, web.account_url)
    assert notice(gone) == f"Deleted SHARED from {web.account_target.describe()}."
    with pytest.raises(NotFound):
        get_secret(web.installation, LOCAL, web.account_target, "SHARED")


# Paging and filtering are the web layer's, over the core's list (tested on both databases):
# SQLite alone keeps the 5,000 keys' seeding out of CI's time twice.
@pytest.mark.databases("sqlite")
def test_a_5000_key_stack_is_paged_and_filtered_on_the_server(web: WebWorld) -> None:
    keys = [f"KEY_{n:05d}" for n in range(5000)]
    (big,) = load_stacks(  # the bulk loader: seeding 5,000 keys one by one takes seconds
        web.installation,
        LOCAL,
        "acme",
        [NewStack("big", "production", {k: SecretValue(f"value-{k}") for k in keys})],
    )
    url = f"/stacks/{big.uid}"
    client = signed_in(web.app, web.admin)
    # What keeps the page fast at any size is that it holds one page of rows, whatever the
    # level's size: bounded here by size, not timed (speed is bench/'s, not a unit test's).
    first = client.get(url)
    assert first.status_code == 200
    assert len(first.content) < 200_000, len(first.content)
    assert _keys(first.text) == keys[:WEB_SECRETS_PER_PAGE]
    assert "of 5,000" in first.text
    assert "?page=2" in html.unescape(first.text)

    second = client.get(url, params={"page": "2"})
    assert _keys(second.text) == keys[WEB_SECRETS_PER_PAGE : 2 * WEB_SECRETS_PER_PAGE]
    assert "page=1" in html.unescape(second.text)  # back to the first

    last = client.get(url, params={"page": "50"})
    assert _keys(last.text) == keys[49 * WEB_SECRETS_PER_PAGE :]
    assert "page=51" not in last.text
    beyond = client.get(url, params={"page": "51"})
    assert beyond.status_code == 200
    assert _keys(beyond.text) == []

    filtered = client.get(url, params={"q": "key_0420"})  # any case
    assert _keys(filtered.text) == [f"KEY_0420{d}" for d in range(10)]
    assert "10 of 5,000" in filtered.text
    assert 'value="key_0420"' in filtered.text  # the filter box keeps what was typed
    none = client.get(url, params={"q": "NOPE"})
    assert _keys(none.text) == []
    assert "No key matches" in none.text
    paged_filter = client.get(url, params={"q": "KEY_01", "page": "2"})
    assert _keys(paged_filter.text) == keys[1000 + WEB_SECRETS_PER_PAGE : 1000 + 200]
    assert "q=KEY_01" in html.unescape(paged_filter.text)  # the pager keeps the filter
    assert client.get(url, params={"page": "0"}).status_code == 400

    # A write from a page returns to that page, with its filter.
    edit = re.search(
        r'<tr data-key="KEY_01100">.*?<form method="post" action="([^"]+)" class="stack-form">',
        paged_filter.text,
        re.S,
    )
    assert edit is not None
    action = html.unescape(edit.group(1))
    assert action == f"{url}/secrets?q=KEY_01&page=2"
    saved = client.post(
        action,
        data={
            "key": "KEY_01100",
            "value": "new",
            "expected_version": "1",
            "csrf": csrf_in(first.text),
        },
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{url}?q=KEY_01&page=2"


def test_environment_restrictions_show_on_both_levels(web: WebWorld) -> None:
    set_local(web.installation, web.account_target, {"PROD_ONLY": "p", "EVERYWHERE": "e"})
    restrict_secret(
        web.installation, LOCAL, web.account_target, "PROD_ONLY", ["production", "staging"]
    )
    dev = create_stack(web.installation, LOCAL, "acme", "dev", "development")
    set_local(web.installation, Target(web.account, dev), {"PROD_ONLY": "d"})
    client = signed_in(web.app, web.admin)
    account = client.get(web.account_url).text
    assert "only production, staging" in _row(account, "PROD_ONLY")
    assert "all environments" in _row(account, "EVERYWHERE")
    stack = client.get(web.stack_url).text  # production: inherits it
    assert "only production, staging" in _row(stack, "PROD_ONLY")
    assert "inherited from account" in _row(stack, "PROD_ONLY")
    # development does not inherit it: dev's own PROD_ONLY overrides nothing.
    dev_page = client.get(f"/stacks/{dev.uid}").text
    assert "overrides account" not in _row(dev_page, "PROD_ONLY")
    assert ">own<" in _row(dev_page, "PROD_ONLY")


def test_a_failed_paste_keeps_the_text_and_shows_the_error(web: WebWorld) -> None:
    client = signed_in(web.app, web.admin)
    pasted = "\nGOOD=1\nthis line is not dotenv\nOTHER=<b>two</b>\n"
    before = snapshot(web.installation)
    answer = _post(client, f"{web.stack_url}/import", {"dotenv": pasted}, web.stack_url)
    assert answer.status_code == 400
    assert notice(answer) == "the pasted text, line 3: cannot parse this line as KEY=VALUE"
    textarea = re.search(r'<textarea id="dotenv"[^>]*>(.*?)</textarea>', answer.text, re.S)
    assert textarea is not None
    # The parser drops a textarea's first newline: the page puts one before the text.
    assert html.unescape(textarea.group(1)) == "\n" + pasted
    assert "<b>two</b>" not in answer.text  # given back escaped, as text
    assert answer.headers["cache-control"] == "no-store"
    assert snapshot(web.installation) == before
    done = _post(client, f"{web.stack_url}/import", {"dotenv": "GOOD=1\n"}, web.stack_url)
    assert (notice(done) or "").startswith("Imported into")
    assert re.search(r'<textarea id="dotenv"[^>]*></textarea>', done.text)
