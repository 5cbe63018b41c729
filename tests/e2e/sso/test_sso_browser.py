"""Single sign-on in a real browser against a real OpenID provider: Playwright driving Debian's
Chromium, a real ``stacksafe serve`` over TLS, and oidc-provider (npm, OpenID-certified) started
on loopback with a client for that server and users from a file the test rewrites.

Each sign-in uses a fresh browser context (no cookie of the provider or of stacksafe left from
the one before). The provider's own pages are its development interactions: a login form that
takes any password for a known login, then a consent page.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import Served, TlsFiles, serve_seeded
from tests.e2e.sso.provider import RunningProvider, running_provider
from tests.e2e.test_web_browser import browser as browser

pytestmark = pytest.mark.databases("sqlite")  # one server and its browser; core tests do both

CLIENT_ID, CLIENT_SECRET = "stacksafe-web", "client-secret-for-tests"
ADA = {"email": "ada@acme.test", "email_verified": True, "groups": ["acme-admins"], "name": "Ada"}
USERS = {
    "ada": ADA,
    "unverified": {"email": "eve@acme.test", "email_verified": False, "groups": ["acme-admins"]},
    "outsider": {"email": "mallory@other.test", "email_verified": True, "groups": ["acme-admins"]},
    "grace": {"email": "grace@acme.test", "email_verified": True, "groups": ["acme-devs"]},
    "linus": {"email": "linus@acme.test", "email_verified": True, "groups": ["acme-devs"]},
}


@dataclass
class Site:
    served: Served
    provider: RunningProvider
    database: Path

    def users(self) -> dict[str, dict[str, str]]:
        """Every user's email -> {account name: role}, from the database itself."""
        with sqlite3.connect(self.database) as db:
            found: dict[str, dict[str, str]] = {
                email: {} for (email,) in db.execute("SELECT email FROM users")
            }
            for email, account, role in db.execute(
                "SELECT u.email, a.name, m.role FROM memberships m "
                "JOIN users u ON u.id = m.user_id JOIN accounts a ON a.id = m.account_id"
            ):
                found[email][account] = role
        return found

    def configure(self, *extra: str) -> None:
        secret = self.database.parent / "client-secret"
        secret.write_text(CLIENT_SECRET + "\n")
        self.served.local.in_process().ok(
            "auth", "oidc", "configure",
            "--issuer", self.provider.issuer,
            "--client-id", CLIENT_ID,
            "--client-secret-file", str(secret),
            "--groups-claim", "groups",
            "--scope", "groups",
            "--map-group", "acme-admins=acme:administrator",
            "--map-group", "acme-devs=acme:developer",
            "--allowed-domain", "acme.test",
            *extra,
        )  # fmt: skip


@pytest.fixture(scope="module")
def site(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("sso")
    database = base / "stacksafe.db"
    for served in serve_seeded(base, f"sqlite:///{database}", tls):
        with running_provider(
            base,
            redirect_uri=f"{served.address}/sign-in/sso/callback",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            users=USERS,
        ) as provider:
            made = Site(served, provider, database)
            made.configure()
            yield made


@pytest.fixture
def fresh(browser: Browser, site: Site) -> Iterator[Callable[[], BrowserContext]]:
    made: list[BrowserContext] = []

    def new() -> BrowserContext:
        context = browser.new_context(base_url=site.served.address, ignore_https_errors=True)
        context.set_default_timeout(15_000)
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def at_provider(page: Page, login: str) -> None:
    """Sign in at the provider (its development login form, then its consent page)."""
    page.goto("/sign-in")
    page.get_by_role("link", name="Sign in with SSO").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password: the provider's dev form")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def signed_in(page: Page, email: str) -> None:
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    expect(page.locator(".who")).to_have_text(email)


def refused(page: Page, check: str) -> None:
    expect(page.get_by_role("heading", name="Not signed in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(f"single sign-on refused ({check})")
    expect(page.get_by_role("alert")).to_contain_text("nothing was changed")


def test_first_sign_in_creates_the_user_with_the_mapped_role(
    site: Site, fresh: Callable[[], BrowserContext]
) -> None:
    assert "ada@acme.test" not in site.users()
    page = fresh().new_page()
    at_provider(page, "ada")
    signed_in(page, "ada@acme.test")
    expect(page.get_by_role("link", name="acme").first).to_be_visible()
    assert site.users()["ada@acme.test"] == {"acme": "administrator"}
    events = site.served.local.in_process().json(
        "audit", "list", "--actor", "ada@acme.test", "--format", "json"
    )
    started = [e for e in events if e["action"] == "session.start"]
    assert started[0]["detail"]["method"] == "sso"
    assert started[0]["detail"]["iss"] == site.provider.issuer
    assert started[0]["token_id"].startswith("web_")
    # The same session as a password sign-in: the sign-out form works and ends it.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")


def test_a_group_change_between_two_sign_ins_changes_the_role(
    site: Site, fresh: Callable[[], BrowserContext]
) -> None:
    page = fresh().new_page()
    at_provider(page, "grace")
    signed_in(page, "grace@acme.test")
    assert site.users()["grace@acme.test"] == {"acme": "developer"}

    site.provider.set_users({**USERS, "grace": {**USERS["grace"], "groups": ["acme-admins"]}})
    page = fresh().new_page()
    at_provider(page, "grace")
    signed_in(page, "grace@acme.test")
    assert site.users()["grace@acme.test"] == {"acme": "administrator"}

    # Out of every mapped group: the role goes at the next sign-in.
    site.provider.set_users({**USERS, "grace": {**USERS["grace"], "groups": ["marketing"]}})
    page = fresh().new_page()
    at_provider(page, "grace")
    signed_in(page, "grace@acme.test")
    assert site.users()["grace@acme.test"] == {}
    expect(page.get_by_role("link", name="acme")).to_have_count(0)
    site.provider.set_users(USERS)


@pytest.mark.parametrize(
    ("login", "check"),
    [("unverified", "email not verified"), ("outsider", "domain")],
)
def test_an_unverified_email_or_another_domain_is_refused_and_nothing_created(
    site: Site, fresh: Callable[[], BrowserContext], login: str, check: str
) -> None:
    before = site.users()
    page = fresh().new_page()
    at_provider(page, login)
    refused(page, check)
    assert site.users() == before
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))  # no session either


def _changed(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return parts._replace(query=urlencode(query)).geturl()


def started(context: BrowserContext) -> str:
    """A sign-in started in ``context`` (its flow cookie kept there): the provider's URL."""
    answer = context.request.get("/sign-in/sso", max_redirects=0)
    assert answer.status == 303
    return answer.headers["location"]


def test_a_wrong_nonce_in_the_id_token_is_refused(
    site: Site, fresh: Callable[[], BrowserContext]
) -> None:
    """The authorization request is changed on its way to the provider, which then signs an ID
    token with another nonce than this sign-in's."""
    context = fresh()
    page = context.new_page()
    page.goto(_changed(started(context), nonce="someone-elses-nonce"))
    before = site.users()
    page.locator("input[name=login]").fill("linus")
    page.locator("input[name=password]").fill("any")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    refused(page, "nonce")
    assert site.users() == before


def test_a_bad_state_is_refused(site: Site, fresh: Callable[[], BrowserContext]) -> None:
    context = fresh()
    url = started(context)  # a sign-in under way in this browser...
    state = parse_qs(urlsplit(url).query)["state"][0]
    page = context.new_page()
    # ... and a callback with another state (and a code the provider never gave).
    page.goto("/sign-in/sso/callback?" + urlencode({"state": state[::-1], "code": "forged"}))
    refused(page, "state")
    # The flow is used up by the refusal: its true state is refused now too.
    page.goto("/sign-in/sso/callback?" + urlencode({"state": state, "code": "forged"}))
    refused(page, "state")


def test_a_replayed_state_is_refused(site: Site, fresh: Callable[[], BrowserContext]) -> None:
    """The callback's URL and flow cookie, taken from a sign-in that succeeded, do not sign in
    a second time (the flow is used up)."""
    context = fresh()
    page = context.new_page()
    callbacks: list[str] = []
    page.on(
        "request",
        lambda r: callbacks.append(r.url) if "/sign-in/sso/callback?" in r.url else None,
    )
    page.goto("/sign-in")
    page.get_by_role("link", name="Sign in with SSO").click()
    flow = [c for c in context.cookies() if c["name"].endswith("stacksafe_sso")]
    assert len(flow) == 1
    page.locator("input[name=login]").fill("ada")
    page.locator("input[name=password]").fill("any")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    signed_in(page, "ada@acme.test")
    assert len(callbacks) == 1

    replay = fresh()
    cookie = flow[0]
    replay.add_cookies(
        [
            {
                "name": cookie["name"],
                "value": cookie["value"],
                "url": site.served.address,
                "secure": True,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    again = replay.new_page()
    again.goto(callbacks[0])
    refused(again, "state")
    again.goto("/")
    expect(again).to_have_url(re.compile(r"/sign-in$"))

    # The same callback in another browser, with a sign-in of its own under way (login CSRF:
    # someone's code and state pushed into a victim's browser) is refused as well.
    victim = fresh()
    started(victim)
    pushed = victim.new_page()
    pushed.goto(callbacks[0])
    refused(pushed, "state")


def test_password_sign_in_switched_off_refuses_the_form(
    site: Site, fresh: Callable[[], BrowserContext]
) -> None:
    page = fresh().new_page()
    page.goto("/sign-in")
    expect(page.get_by_label("Password")).to_be_visible()  # on, beside SSO
    site.configure("--no-password-sign-in")
    try:
        page.goto("/sign-in")
        expect(page.get_by_role("link", name="Sign in with SSO")).to_be_visible()
        expect(page.get_by_label("Password")).to_have_count(0)
        csrf = page.locator("input[name=csrf]")
        expect(csrf).to_have_count(0)  # no form at all
        posted = page.request.post(
            "/sign-in",
            form={"email": "admin@acme.test", "password": "whatever", "csrf": "x"},
            headers={"Origin": site.served.address},
            max_redirects=0,
        )
        assert posted.status == 403
        assert "password sign-in is switched off" in posted.text()
        at_provider(page, "ada")
        signed_in(page, "ada@acme.test")
    finally:
        site.configure()
