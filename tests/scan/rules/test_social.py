"""Social networks' rules: real-format tokens found, placeholders, base64 data and lookalikes
not."""

from __future__ import annotations

from stacksafe.scan.rules import social
from stacksafe.scan.ruleset import RuleSet
from tests.scan.rules.fakes import Fakes, family_tests

F = Fakes(707)

CASES = [
    ("facebook-access-token", "EAAB" + F.alnum(180), "FB_TOKEN={}"),
    ("facebook-app-token", f"{F.digits(16)}|{F.b64url(27)}", "facebook app token {}"),
    ("facebook-secret", F.hex(32), "FACEBOOK_APP_SECRET={}"),
    ("instagram-access-token", "IGQVJ" + F.b64url(160), "token: {}"),
    ("twitter-bearer-token", "A" * 22 + F.alnum(40) + "%3D" + F.alnum(50), "BEARER={}"),
    ("twitter-api-key", F.alnum(25), "TWITTER_API_KEY={}"),
    ("twitter-api-secret", F.alnum(50), "twitter_api_secret: {}"),
    ("twitter-access-token", f"{F.digits(19)}-{F.alnum(31)}", "TWITTER_ACCESS_TOKEN={}"),
    ("twitter-access-secret", F.alnum(45), "twitterAccessSecret = '{}'"),
    ("linkedin-client-id", F.lower(14), "LINKEDIN_CLIENT_ID={}"),
    ("linkedin-client-secret", F.alnum(16), "linkedin_secret: {}"),
    ("twitch-api-token", F.lower(30), "TWITCH_OAUTH={}"),
    ("flickr-access-token", F.hex(32), "flickr_key = '{}'"),
    ("nytimes-access-token", F.b64url(32), "NYTIMES_API_KEY={}"),
]


def test_app_token_on_the_line_after_facebook() -> None:
    token = f"{F.digits(16)}|{F.b64url(27)}"
    [match] = RuleSet(social.RULES).matches(f"# Facebook\n{token}\n")
    assert (match.rule.id, match.line, match.column) == ("facebook-app-token", 2, 1)


LOOKALIKES = [
    # "EAA" and a run of "A"s inside base64 image data.
    "src='data:image/jpg;base64,/9j/4AAQSkZJRgABAQIAHAAcAAD/EAA" + F.alnum(120) + "/2wBD'",
    "data:font/woff2;base64,d09GMgABAAAAAAAAAAAAAAAAAAAAAAAAA" + F.alnum(100) + "+Qw",
    f"app_id = {F.hex(32)}",
    f"twitter_handle = {'a' * 25}",
    # Placeholders where the credentials go.
    "TWITTER_API_KEY=" + "x" * 25,
    "FACEBOOK_APP_SECRET=<your facebook app secret>",
    "twitter_api_secret: ${TWITTER_API_SECRET}",
    "FB_TOKEN=EAAB" + "x" * 180,
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    social.RULES, CASES, LOOKALIKES
)
