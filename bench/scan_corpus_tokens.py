"""Seeded makers of fake credentials in the published formats of their issuers (prefix, alphabet,
length, checksum), the values our own corpus cases are written with.

Every value is random characters of the right shape drawn from a ``random.Random`` seeded by the
case's name: realistic for a scanner, valid for no service.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


class Maker:
    """Token formats, drawn from one seeded generator."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def password(self, n: int = 18) -> str:
        # at least one of each class, as a password policy would ask
        pool = [
            *self.chars(ALNUM, n - 3),
            self.rng.choice("!#%&*+-=?@^_"),
            *self.chars(string.digits, 1),
        ]
        pool.append(self.rng.choice(string.ascii_uppercase))
        self.rng.shuffle(pool)
        return "".join(pool)

    def github_classic(self, prefix: str = "ghp_") -> str:
        # 30 random characters, then the CRC32 of them in base62 (6 characters), as GitHub does
        body = self.chars(ALNUM, 30)
        crc = zlib.crc32(body.encode())
        digits = ""
        while crc:
            crc, rem = divmod(crc, 62)
            digits = (string.digits + string.ascii_uppercase + string.ascii_lowercase)[rem] + digits
        return prefix + body + digits.rjust(6, "0")

    def github_fine_grained(self) -> str:
        return f"github_pat_{self.chars(ALNUM, 22)}_{self.chars(ALNUM, 59)}"

    def slack_bot(self) -> str:
        team, bot = self.chars(string.digits, 12), self.chars(string.digits, 13)
        return f"xoxb-{team}-{bot}-{self.chars(ALNUM, 24)}"

    def slack_webhook(self) -> str:
        up = string.ascii_uppercase + string.digits
        return (
            f"https://hooks.slack.com/services/T{self.chars(up, 10)}/B{self.chars(up, 10)}/"
            f"{self.chars(ALNUM, 24)}"
        )

    def stripe_live(self, kind: str = "sk") -> str:
        return f"{kind}_live_{self.chars(ALNUM, 99 if self.rng.random() < 0.5 else 24)}"

    def openai(self) -> str:
        if self.rng.random() < 0.5:
            return f"sk-{self.chars(ALNUM, 20)}T3BlbkFJ{self.chars(ALNUM, 20)}"
        return f"sk-proj-{self.chars(B64URL, 74)}T3BlbkFJ{self.chars(B64URL, 74)}"

    def aws_key_id(self) -> str:
        return "AKIA" + self.chars(string.ascii_uppercase + "234567", 16)

    def aws_secret(self) -> str:
        return self.chars(B64, 40)

    def twilio_key(self) -> str:
        return "SK" + self.chars(HEX, 32)

    def sendgrid(self) -> str:
        return f"SG.{self.chars(B64URL, 22)}.{self.chars(B64URL, 43)}"

    def npm(self) -> str:
        return "npm_" + self.chars(ALNUM, 36)

    def pypi(self) -> str:
        return "pypi-AgEIcHlwaS5vcmc" + self.chars(B64URL, 140)

    def huggingface(self) -> str:
        return "hf_" + self.chars(string.ascii_letters, 34)

    def anthropic(self) -> str:
        return f"sk-ant-api03-{self.chars(B64URL, 93)}AA"

    def gitlab(self) -> str:
        return "glpat-" + self.chars(B64URL, 20)

    def jwt(self) -> str:
        def seg(obj: dict[str, object]) -> str:
            raw = json.dumps(obj, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        header = seg({"alg": "HS256", "typ": "JWT"})
        payload = seg(
            {
                "sub": self.chars(string.digits, 8),
                "name": self.rng.choice(["svc-billing", "deploy-bot", "jane.doe"]),
                "iat": 1700000000 + self.rng.randrange(10**7),
                "scope": "admin",
            }
        )
        return f"{header}.{payload}.{self.chars(B64URL, 43)}"

    def pem(self, label: str, der_head: str, lines: int) -> str:
        body = der_head + self.chars(B64, 64 * lines - len(der_head) - 20)
        rows = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([f"-----BEGIN {label}-----", *rows, f"-----END {label}-----"])

    def rsa_key(self) -> str:
        return self.pem("RSA PRIVATE KEY", "MIIEowIBAAKCAQEA", 25)

    def pkcs8_key(self) -> str:
        return self.pem("PRIVATE KEY", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ", 26)

    def ec_key(self) -> str:
        return self.pem("EC PRIVATE KEY", "MHcCAQEEI", 3)

    def openssh_key(self) -> str:
        head = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
        return self.pem("OPENSSH PRIVATE KEY", head, 6)

    def b64(self, raw: str) -> str:
        return base64.b64encode(raw.encode()).decode()

    # composites the templates use (one placeholder each)
    def hex(self, n: int) -> str:
        return self.chars(HEX, n)

    def digits(self, n: int) -> str:
        return self.chars(string.digits, n)

    def stripe_restricted(self) -> str:
        return self.stripe_live("rk")

    def b64password(self, n: int) -> str:
        return self.b64(self.password(n))

    def basic_auth(self, n: int) -> str:
        return self.b64(f"svc-report:{self.password(n)}")

    def django_key(self) -> str:
        return self.chars(string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)", 50)

    def pkcs8_key_json(self) -> str:
        return self.pkcs8_key().replace("\n", "\\n") + "\\n"

    def any_pem_key(self) -> str:
        return self.rng.choice([self.rsa_key, self.pkcs8_key, self.ec_key])()

    def rsa_key_indented(self) -> str:
        return "\n".join("    " + line for line in self.rsa_key().split("\n"))
