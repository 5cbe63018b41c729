"""Email, SMS and customer-messaging services' credentials: Twilio, SendGrid, Mailgun, Mailchimp,
Brevo (Sendinblue), MessageBird, Postmark, SparkPost, Mandrill, Intercom, Zendesk.

SendGrid (``SG.``), Brevo (``xkeysib-``, ``xsmtpsib-``), Mailgun (``key-``, ``pubkey-``) and
Twilio API keys (``SK`` and 32 hex digits) have a shape of their own; Mailchimp's ends with its
data centre (``-us21``). The others are opaque strings known by the service's name before them.
"""

from __future__ import annotations

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import UUID, Rule, token

__all__ = ["RULES"]

_MESSAGEBIRD = ("messagebird", "message-bird", "message_bird")

RULES: tuple[Rule, ...] = (
    # Keywords are "sk" and a hex digit: "sk" alone would be found on most lines.
    token(
        "twilio-api-key",
        "Twilio API key",
        tuple(f"sk{c}" for c in "0123456789abcdef"),
        r"SK[0-9a-fA-F]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "twilio-auth-token",
        "Twilio auth token",
        ("twilio",),
        r"[0-9a-f]{32}",
        min_entropy=3.0,
    ),
    token(
        "sendgrid-api-key",
        "SendGrid API key",
        ("sg.",),
        r"SG\.(?:[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}|[A-Za-z0-9_=.-]{66})",
        min_entropy=3.0,
    ),
    token(
        "mailgun-api-key",
        "Mailgun private API key",
        ("key-",),
        r"key-[0-9a-f]{32}",
        min_entropy=3.0,
    ),
    token(
        "mailgun-public-key",
        "Mailgun public validation key",
        ("pubkey-",),
        r"pubkey-[0-9a-f]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "mailgun-signing-key",
        "Mailgun webhook signing key",
        ("mailgun",),
        r"[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}",
        min_entropy=3.0,
    ),
    token(
        "mailchimp-api-key",
        "Mailchimp API key",
        ("-us",),
        r"[0-9a-f]{32}-us[0-9]{1,2}",
        min_entropy=3.0,
    ),
    # Any letters and digits, where a name mentioning Mailchimp says what the value is.
    keyed(
        "mailchimp-api-key-assigned",
        "Mailchimp API key",
        ("mailchimp",),
        r"[0-9A-Za-z]{32}-us[0-9]{1,2}",
        min_entropy=3.3,
        generic=True,
    ),
    token(
        "brevo-api-key",
        "Brevo (Sendinblue) API or SMTP key",
        ("xkeysib-", "xsmtpsib-"),
        r"x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}",
        min_entropy=3.0,
    ),
    keyed(
        "messagebird-api-key",
        "MessageBird API key",
        _MESSAGEBIRD,
        r"[A-Za-z0-9]{25}",
        min_entropy=3.0,
    ),
    keyed("messagebird-client-id", "MessageBird client id", _MESSAGEBIRD, UUID, min_entropy=3.0),
    keyed(
        "postmark-server-token",
        "Postmark server or account token",
        ("postmark",),
        UUID,
        min_entropy=3.0,
    ),
    keyed(
        "sparkpost-api-key",
        "SparkPost API key",
        ("sparkpost",),
        r"[a-f0-9]{40}",
        min_entropy=3.0,
    ),
    keyed(
        "mandrill-api-key",
        "Mandrill (Mailchimp Transactional) API key",
        ("mandrill",),
        r"[A-Za-z0-9_-]{22}",
        min_entropy=3.5,
    ),
    keyed(
        "intercom-access-token",
        "Intercom access token",
        ("intercom",),
        r"[A-Za-z0-9=_-]{60}",
        min_entropy=3.5,
    ),
    keyed(
        "zendesk-api-token",
        "Zendesk API token",
        ("zendesk",),
        r"[A-Za-z0-9]{40}",
        min_entropy=3.5,
    ),
)
