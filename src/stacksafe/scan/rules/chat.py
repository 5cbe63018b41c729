"""Chat platforms' credentials: Slack, Discord, Telegram, Microsoft Teams, Mattermost, Sendbird.

Slack's tokens carry their kind in the prefix (``xoxb-`` bot, ``xoxp-`` user, ``xapp-`` app-level,
``xoxe.xoxp-`` configuration, ``xoxe-`` refresh; ``xoxa-``/``xoxr-``/``xoxo-``/``xoxs-`` legacy)
followed by numeric team and user ids; an incoming webhook's URL is itself the credential, as
are Discord's and Teams' webhook URLs. A Telegram bot token is the bot's numeric id, a colon and
35 characters that start with ``AA``.
"""

from __future__ import annotations

import base64
import re

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import UUID, Rule, token

__all__ = ["RULES"]

_DISCORD = ("discord",)


def _snowflake_starts() -> tuple[str, ...]:
    """How a Discord bot token starts: base64 of the bot's id, a number of 17 digits or more.
    Its first four characters encode the first three digits (1-9, then 0-9) and the fifth is
    "M", "N" or "O" (the fourth digit's high bits): 2,700 keywords of five characters, where
    "M", "N" or "O" alone would be found on every line and four, case-folded, in "index"."""
    digits = "0123456789"
    starts = (
        base64.b64encode(f"{a}{b}{c}".encode()).decode() + fifth
        for a in digits[1:]
        for b in digits
        for c in digits
        for fifth in "MNO"
    )
    return tuple(sorted({s.lower() for s in starts}))


_SNOWFLAKE_STARTS = _snowflake_starts()
_WORD = re.compile(r"[a-z]{2,10}")


def _not_prose(url: str) -> bool:
    """False for a webhook "token" written as words joined by dashes (``...-you-are-looking-for``):
    a random token's dash-separated pieces are long and mixed-case, never three short words."""
    pieces = re.split(r"[-_]", url.rsplit("/", 1)[-1])
    return sum(1 for piece in pieces if _WORD.fullmatch(piece)) < 3


# Teams webhook URLs hold UUIDs; fixtures often fake them with any letters.
_ID = r"[A-Za-z0-9]{8}-(?:[A-Za-z0-9]{4}-){3}[A-Za-z0-9]{6,12}"

RULES: tuple[Rule, ...] = (
    token(
        "slack-bot-token",
        "Slack bot token",
        ("xoxb-",),
        r"xoxb-[0-9]{10,13}-[0-9]{10,13}(?:-[A-Za-z0-9]{20,40})?",
        min_entropy=3.0,
    ),
    token(
        "slack-legacy-bot-token",
        "Slack legacy bot token",
        ("xoxb-",),
        r"xoxb-[0-9]{8,14}-[A-Za-z0-9]{18,26}",
        min_entropy=3.0,
    ),
    token(
        "slack-user-token",
        "Slack user token",
        ("xoxp-", "xoxe-", "xoxc-"),
        r"xox[pec](?:-[0-9]{6,13}){3}-[A-Za-z0-9]{18,64}",
        min_entropy=3.0,
    ),
    token(
        "slack-app-token",
        "Slack app-level token",
        ("xapp-",),
        r"xapp-[0-9]-[A-Z0-9]{9,14}-[0-9]{9,16}-[A-Za-z0-9]{32,80}",
        min_entropy=3.0,
    ),
    token(
        "slack-config-access-token",
        "Slack configuration access token",
        ("xoxe.xoxb-", "xoxe.xoxp-", "xoxb-", "xoxp-"),
        r"(?:xoxe\.)?xox[bp]-[0-9]-[A-Za-z0-9]{150,180}",
        min_entropy=3.0,
    ),
    token(
        "slack-config-refresh-token",
        "Slack configuration refresh token",
        ("xoxe-",),
        r"xoxe-[0-9]-[A-Za-z0-9]{140,180}",
        min_entropy=3.0,
    ),
    token(
        "slack-legacy-token",
        "Slack legacy token",
        ("xoxo-", "xoxs-"),
        r"xox[os]-[0-9]{6,16}-[0-9]{6,16}(?:-[0-9]{1,16})?(?:-[a-fA-F0-9]{8,64})?",
        min_entropy=3.0,
    ),
    token(
        "slack-legacy-workspace-token",
        "Slack legacy workspace token",
        ("xoxa-", "xoxr-"),
        r"xox[ar]-(?:[0-9]-)?[A-Za-z0-9]{6,48}(?:-[A-Za-z0-9]{1,48}){0,4}",
        min_entropy=2.5,
    ),
    token(
        "slack-webhook-url",
        "Slack incoming webhook URL",
        ("hooks.slack.com/",),
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,90}",
        min_entropy=3.0,
    ),
    token(
        "discord-webhook-url",
        "Discord webhook URL",
        ("discord.com/api/webhooks/", "discordapp.com/api/webhooks/"),
        r"discord(?:app)?\.com/api/webhooks/[0-9]{16,22}/[A-Za-z0-9_-]{60,100}",
        min_entropy=3.5,
        check=_not_prose,
    ),
    token(
        "discord-bot-token",
        "Discord bot token",
        _SNOWFLAKE_STARTS,
        r"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}",
        min_entropy=3.5,
    ),
    keyed(
        "discord-api-token",
        "Discord API token",
        _DISCORD,
        r"[a-fA-F0-9]{64}",
        min_entropy=3.0,
    ),
    keyed(
        "discord-client-id",
        "Discord client id",
        _DISCORD,
        r"[0-9]{18}",
        min_entropy=2.0,
        check=None,
    ),
    keyed(
        "discord-client-secret",
        "Discord client secret",
        _DISCORD,
        r"[A-Za-z0-9=_-]{32}",
        min_entropy=3.0,
    ),
    token(
        "telegram-bot-token",
        "Telegram bot token",
        (":aa",),
        r"[0-9]{8,10}:AA[A-Za-z0-9_-]{33}",
        min_entropy=3.5,
    ),
    # An older or unusual bot token, recognised only next to a name mentioning Telegram.
    keyed(
        "telegram-bot-token-assigned",
        "Telegram bot token",
        ("telegr",),
        r"[0-9]{5,16}:A[A-Za-z0-9_-]{34}",
        min_entropy=3.0,
        generic=True,
    ),
    token(
        "microsoft-teams-webhook-url",
        "Microsoft Teams incoming webhook URL",
        ("webhook.office.com/", "outlook.office.com/webhook", "outlook.office365.com/webhook"),
        rf"(?:[A-Za-z0-9-]{{1,40}}\.webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)"
        rf"/{_ID}@{_ID}/IncomingWebhook/[A-Za-z0-9]{{32}}/{_ID}(?:/[A-Za-z0-9_-]{{20,60}})?",
    ),
    keyed(
        "mattermost-access-token",
        "Mattermost access token",
        ("mattermost",),
        r"[A-Za-z0-9]{26}",
        min_entropy=3.0,
    ),
    keyed("sendbird-access-id", "Sendbird application id", ("sendbird",), UUID, min_entropy=3.0),
    keyed(
        "sendbird-access-token",
        "Sendbird API token",
        ("sendbird",),
        r"[a-fA-F0-9]{40}",
        min_entropy=3.0,
    ),
)
