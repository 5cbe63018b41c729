"""Email, SMS and customer-messaging rules: real-format credentials found, lookalikes not."""

from __future__ import annotations

from stacksafe.scan.rules import mail
from tests.scan.rules.fakes import Fakes, family_tests

F = Fakes(202)

CASES = [
    ("twilio-api-key", "SK" + F.hex(32), "TWILIO_API_KEY={}"),
    ("twilio-auth-token", F.hex(32), 'twilio_auth_token = "{}"'),
    ("sendgrid-api-key", f"SG.{F.b64url(22)}.{F.b64url(43)}", "SENDGRID_API_KEY={}"),
    ("mailgun-api-key", "key-" + F.hex(32), "api_key: '{}'"),
    ("mailgun-public-key", "pubkey-" + F.hex(32), "validation = {}"),
    ("mailgun-signing-key", f"{F.hex(32)}-{F.hex(8)}-{F.hex(8)}", "MAILGUN_SIGNING_KEY={}"),
    ("mailchimp-api-key", F.hex(32) + "-us21", "apikey = '{}'"),
    ("mailchimp-api-key-assigned", F.alnum(32) + "-us6", 'mailchimp = "{}"'),
    ("brevo-api-key", f"xkeysib-{F.hex(64)}-{F.alnum(16)}", "BREVO_KEY={}"),
    ("messagebird-api-key", F.alnum(25), "messagebird_access_key: {}"),
    ("messagebird-client-id", F.uuid(), "MESSAGEBIRD_CLIENT_ID={}"),
    ("postmark-server-token", F.uuid(), "POSTMARK_SERVER_TOKEN={}"),
    ("sparkpost-api-key", F.hex(40), "SPARKPOST_API_KEY={}"),
    ("mandrill-api-key", F.b64url(22), "mandrill_key: '{}'"),
    ("intercom-access-token", F.b64url(60), "intercom_token = '{}'"),
    ("zendesk-api-token", F.alnum(40), "ZENDESK_API_TOKEN={}"),
]

LOOKALIKES = [
    "SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "SG.ngeVfQFYQlKU0ufo8x5d1A..TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    "AG.ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    "3ea4572956e2b381923ed34c31db76aa-2",
    "aea462953eb192d38c31a433e76257db-al32",
    "3a5633e829d3c71-us2",
    # Mailchimp issues lower-case hex; this case mix is not one of its keys.
    "9276a43e2951aa46e2b1c33ED38357DB-us2",
    f"xkeysib-{'0' * 64}-{'a' * 16}",
    # A hex value named after something else.
    f"commit = {F.hex(32)}",
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    mail.RULES, CASES, LOOKALIKES
)
