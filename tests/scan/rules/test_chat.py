"""Chat platforms' rules: each real-format credential is found, lookalikes are not."""

from __future__ import annotations

import base64

from stacksafe.scan.rules import chat
from stacksafe.scan.ruleset import RuleSet
from tests.scan.rules.fakes import Fakes, family_tests

F = Fakes(101)
_BOT_ID = base64.b64encode(b"1" + F.digits(17).encode()).decode().rstrip("=")

# (rule id, secret, the line that holds it)
CASES = [
    ("slack-bot-token", f"xoxb-{F.digits(12)}-{F.digits(13)}-{F.alnum(24)}", 'bot = "{}"'),
    ("slack-legacy-bot-token", f"xoxb-{F.digits(10)}-{F.alnum(22)}", "SLACK={}"),
    (
        "slack-user-token",
        f"xoxp-{F.digits(11)}-{F.digits(10)}-{F.digits(11)}-{F.hex(32)}",
        "token: {}",
    ),
    (
        "slack-app-token",
        f"xapp-1-A{F.digits(10)}-{F.digits(13)}-{F.hex(64)}",
        "SLACK_APP_TOKEN={}",
    ),
    ("slack-config-access-token", f"xoxe.xoxp-1-{F.alnum(166)}", "config {}"),
    ("slack-config-refresh-token", f"xoxe-1-{F.alnum(146)}", "refresh={}"),
    ("slack-legacy-token", f"xoxs-{F.digits(6)}-{F.digits(6)}-{F.digits(6)}-{F.hex(18)}", "{}"),
    ("slack-legacy-workspace-token", f"xoxa-2-{F.alnum(30)}", "legacy: {}"),
    (
        "slack-webhook-url",
        f"hooks.slack.com/services/T{F.alnum(10).upper()}/B{F.alnum(10).upper()}/{F.alnum(24)}",
        "url = https://{}",
    ),
    (
        "discord-webhook-url",
        f"discord.com/api/webhooks/{F.digits(18)}/{F.b64url(68)}",
        "hook: https://{}",
    ),
    ("discord-bot-token", f"{_BOT_ID}.{F.b64url(6)}.{F.b64url(27)}", "client.run('{}')"),
    ("discord-api-token", F.hex(64), 'discord_token = "{}"'),
    ("discord-client-id", "1" + F.digits(17), "DISCORD_CLIENT_ID={}"),
    ("discord-client-secret", F.b64url(32), "discordSecret: {}"),
    ("telegram-bot-token", f"{F.digits(10)}:AA{F.b64url(33)}", "bot {}"),
    ("telegram-bot-token-assigned", f"{F.digits(7)}:A{F.b64url(34)}", "TELEGRAM_TOKEN={}"),
    (
        "microsoft-teams-webhook-url",
        f"acme.webhook.office.com/webhookb2/{F.uuid()}@{F.uuid()}/IncomingWebhook/"
        f"{F.hex(32)}/{F.uuid()}",
        "https://{}",
    ),
    ("mattermost-access-token", F.lower(26), "MATTERMOST_TOKEN={}"),
    ("sendbird-access-id", F.uuid().upper(), "sendbird_app_id: {}"),
    ("sendbird-access-token", F.hex(40), "sendbirdToken = '{}'"),
    # A browser session's client token has the user token's shape.
    ("slack-user-token", f"xoxc-{F.digits(12)}-{F.digits(12)}-{F.digits(13)}-{F.hex(64)}", "c={}"),
]


def test_value_on_the_line_after_its_name() -> None:
    secret = F.hex(40)
    text = f"<sendbirdToken>\n    {secret}\n</sendbirdToken>\n"
    [match] = RuleSet(chat.RULES).matches(text)
    assert (match.rule.id, match.line, match.column) == ("sendbird-access-token", 2, 5)


LOOKALIKES = [
    "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
    "xoxb-12345-abcd234",
    "xoxp-1234-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d",
    "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX",
    # A bot token right after other letters, and a Telegram-like pair without "AA".
    "bot110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
    "arn:aws:sns:aaa:111122223333:aaaaaaaaaaaaaaaaaaassssssddddddddddddd",
    # Discord's token needs 24-26, 6 and 27+ characters.
    "MZ1yGvKTj0rY0cV8i47CjAa.uHQPq.Xb1Mk2nEhe-4icrGOuegj57zMC",
    "discord.com/api/webhooks/148392840000482200/OsnNHsifi5q3u2_there-are-not-the-webhook-you-are"
    "-looking-for_8HZjFgIi",
    # A 64-hex value with no Discord name before it.
    f"checksum = {F.hex(64)}",
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    chat.RULES, CASES, LOOKALIKES
)
