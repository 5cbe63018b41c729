"""The web UI in a real browser: Playwright driving Debian's Chromium against a real
``stacksafe serve`` over TLS (one server and one browser for the module, on SQLite).

Screenshots go to the test's temporary directory (``screenshots`` fixture, kept by pytest for
inspection); with ``STACKSAFE_UPDATE_SCREENSHOTS=1`` they are also written to docs/screenshots/
for the README. Every wait is Playwright's auto-waiting ``expect``; time in the page is moved with
its clock, never slept through.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.conftest import Served, TlsFiles, serve_seeded

CHROMIUM = Path(os.environ.get("STACKSAFE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
ADMIN, VIEWER = "admin@acme.test", "viewer@acme.test"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def web_served(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{base / 'stacksafe.db'}"
    for served in serve_seeded(base, url, tls):
        cli = served.local.in_process()
        for email, role in ((ADMIN, "administrator"), (VIEWER, "viewer")):
            cli.ok("users", "create", email, "--account", "acme", "--role", role)
            cli.ok("users", "set-password", email, "--stdin", input=PASSWORD + "\n")
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: the browser tests need it "
            "(apt-get install -y chromium; .ci/run installs it; or set STACKSAFE_CHROMIUM)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, web_served: Served) -> Iterator[BrowserContext]:
    made = browser.new_context(
        base_url=web_served.address,
        ignore_https_errors=True,  # the test CA is not the browser's
        viewport={"width": 1280, "height": 860},
    )
    made.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_served.address)
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return tmp_path


def shoot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=directory / f"{name}.png", full_page=True)
    if os.environ.get("STACKSAFE_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=DOCS_SCREENSHOTS / f"{name}.png", full_page=True)


def sign_in(page: Page, email: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()


def secret_row(page: Page, key: str) -> object:
    return page.locator("tr", has=page.locator("th", has_text=re.compile(f"^{key}$")))


def test_the_whole_flow_in_a_browser(context: BrowserContext, screenshots: Path) -> None:
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.clock.install()  # the page's timers, moved forward below instead of waited for
    page.goto("/sign-in")
    shoot(page, screenshots, "sign-in")
    sign_in(page, ADMIN)

    # Create a stack in the account.
    page.get_by_role("link", name="acme").first.click()
    expect(page.get_by_role("heading", name="Stacks", exact=True)).to_be_visible()
    page.get_by_label("Stack name").fill("shop")
    page.get_by_label("Environment").fill("staging")
    page.get_by_role("button", name="Create stack").click()
    expect(page.get_by_role("status")).to_have_text("Created stack shop (staging).")
    shoot(page, screenshots, "account")

    # An account secret, then the new stack inherits it.
    page.get_by_label("Key", exact=True).fill("SHOP_TOKEN")
    page.get_by_label("Value", exact=True).fill("account-value-1")
    page.get_by_role("button", name="Add secret").click()
    expect(page.get_by_role("status")).to_have_text("Saved SHOP_TOKEN (version 1).")
    page.get_by_role("link", name="shop").click()
    row = page.locator("tr[data-key='SHOP_TOKEN']")
    expect(row).to_contain_text("inherited from account")
    expect(row.locator(".value")).to_have_text("••••••••")
    assert "account-value-1" not in page.content()

    # Override it on the stack.
    row.locator("summary", has_text="Override").click()
    row.get_by_label("New value for SHOP_TOKEN on this stack").fill("stack-override-2")
    row.get_by_role("button", name="Save override").click()
    expect(page.get_by_role("status")).to_have_text("Saved SHOP_TOKEN (version 1).")
    row = page.locator("tr[data-key='SHOP_TOKEN']")
    expect(row).to_contain_text("overrides account")

    # Reveal, copy, and see it masked again after the reveal time.
    row.get_by_role("button", name="Reveal SHOP_TOKEN").click()
    expect(row.locator(".value")).to_have_text("stack-override-2")
    row.get_by_role("button", name="Copy SHOP_TOKEN").click()
    expect(row.get_by_role("button", name="Copy SHOP_TOKEN")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "stack-override-2"
    shoot(page, screenshots, "stack-revealed")
    page.clock.fast_forward("00:30")
    expect(row.locator(".value")).to_have_text("••••••••")
    expect(row.get_by_role("button", name="Copy SHOP_TOKEN")).to_be_hidden()

    # The reveal is in the audit log, with the session as its token id.
    page.get_by_role("link", name="Audit log").first.click()
    page.get_by_label("Key").fill("SHOP_TOKEN")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("status")).to_have_count(0)  # an earlier notice is shown once only
    reveal = page.locator("tr", has_text="reveal").first
    expect(reveal).to_contain_text(ADMIN)
    expect(reveal).to_contain_text(re.compile(r"web_[0-9a-f]{16}"))
    assert "stack-override-2" not in page.content()
    shoot(page, screenshots, "audit")

    # Write a second value, then roll back to the first from the history.
    page.go_back()
    page.go_back()
    row = page.locator("tr[data-key='SHOP_TOKEN']")
    row.locator("summary", has_text="Edit").click()
    row.get_by_label("New value for SHOP_TOKEN").fill("stack-value-3")
    row.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Saved SHOP_TOKEN (version 2).")
    page.locator("tr[data-key='SHOP_TOKEN']").get_by_role("link", name="History").click()
    page.get_by_role("button", name="Roll back to version 1").click()
    expect(page.get_by_role("status")).to_have_text(
        "Rolled SHOP_TOKEN back to version 1's value (version 3)."
    )
    shoot(page, screenshots, "history")
    page.get_by_role("link", name="shop").click()
    row = page.locator("tr[data-key='SHOP_TOKEN']")
    row.get_by_role("button", name="Reveal SHOP_TOKEN").click()
    expect(row.locator(".value")).to_have_text("stack-override-2")

    # Sign out: the pages are gone, and going back does not bring them.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))

    # No value (nor the password) was ever part of a URL the browser requested.
    values = ("account-value-1", "stack-override-2", "stack-value-3", "correct horse")
    assert urls
    assert not [u for u in urls if any(v in u or quote(v) in u for v in values)]


def test_an_account_secret_is_edited_and_deleted_and_a_refused_paste_is_kept(
    context: BrowserContext,
) -> None:
    page = context.new_page()
    sign_in(page, ADMIN)
    page.get_by_role("link", name="acme").first.click()
    page.get_by_label("Key", exact=True).fill("ACCOUNT_EDIT")
    page.get_by_label("Value", exact=True).fill("account-edit-1")
    page.get_by_role("button", name="Add secret").click()
    row = page.locator("tr[data-key='ACCOUNT_EDIT']")
    expect(row).to_contain_text("all environments")
    expect(row.locator("summary", has_text="Override")).to_have_count(0)
    row.locator("summary", has_text="Edit").click()
    row.get_by_label("New value for ACCOUNT_EDIT").fill("account-edit-2")
    row.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Saved ACCOUNT_EDIT (version 2).")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr[data-key='ACCOUNT_EDIT']").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted ACCOUNT_EDIT from account 'acme'.")
    expect(page.locator("tr[data-key='ACCOUNT_EDIT']")).to_have_count(0)

    pasted = "\nGOOD=1\nthis line is not dotenv\n"
    paste = page.get_by_label("KEY=VALUE lines, imported all or nothing")
    paste.fill(pasted)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_have_text(
        "the pasted text, line 3: cannot parse this line as KEY=VALUE"
    )
    expect(paste).to_have_value(pasted)  # as typed, to correct rather than paste again


def test_a_viewer_has_no_reveal_button_and_a_crafted_reveal_is_refused(
    context: BrowserContext, web_served: Served
) -> None:
    page = context.new_page()
    sign_in(page, VIEWER)
    page.goto(f"/stacks/{web_served.stack_uids['web']}")
    expect(page.get_by_role("heading", name=re.compile("web"))).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Reveal"))).to_have_count(0)
    expect(page.get_by_role("button", name="Add secret")).to_have_count(0)
    status = page.evaluate(
        """async (url) => {
            const csrf = document.querySelector("input[name=csrf]").value;
            const answer = await fetch(url, {method: "POST", body: new URLSearchParams({csrf})});
            return answer.status;
        }""",
        f"/stacks/{web_served.stack_uids['web']}/secrets/ANYTHING/reveal",
    )
    assert status == 403


def test_a_reveal_after_the_session_ended_says_so_and_reveals_nothing(
    context: BrowserContext, web_served: Served
) -> None:
    """The reveal request of a signed-out page is answered with a redirect to the sign-in page:
    the script must not take that page for an (empty) value."""
    page = context.new_page()
    sign_in(page, ADMIN)
    page.goto(f"/stacks/{web_served.stack_uids['dev']}")
    page.get_by_label("Key", exact=True).fill("ENDED_SESSION_KEY")
    page.get_by_label("Value", exact=True).fill("ended-session-value")
    page.get_by_role("button", name="Add secret").click()
    expect(page.get_by_role("status")).to_have_text("Saved ENDED_SESSION_KEY (version 1).")
    row = page.locator("tr[data-key='ENDED_SESSION_KEY']")
    context.clear_cookies()  # the session is gone (signed out elsewhere, expired)
    button = row.get_by_role("button", name="Reveal ENDED_SESSION_KEY")
    button.click()
    expect(row.locator(".value")).to_have_text("Signed out: sign in again")
    expect(button).to_have_text("Reveal")
    expect(row.get_by_role("button", name="Copy ENDED_SESSION_KEY")).to_be_hidden()
    assert "ended-session-value" not in page.content()


def test_keyboard_only_sign_in_and_a_phone_sized_page(
    browser: Browser, web_served: Served, screenshots: Path
) -> None:
    phone = browser.new_context(
        base_url=web_served.address,
        ignore_https_errors=True,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = phone.new_page()
        page.goto("/sign-in")
        expect(page.get_by_label("Email")).to_be_focused()  # autofocus
        page.keyboard.type(ADMIN)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
        page.goto(f"/stacks/{web_served.stack_uids['web']}")
        expect(page.get_by_role("heading", name="Add a secret")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a phone"
        shoot(page, screenshots, "phone")
    finally:
        phone.close()
