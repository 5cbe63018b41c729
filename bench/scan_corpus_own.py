"""Our own corpus cases (source "own"): realistic files holding fake credentials (positives) and
the placeholders, example keys and lookalikes a scanner must leave alone (negatives, in
``scan_corpus_own_negatives.py``).

Each positive is written a few times (``VARIANTS``) with different seeded values, so no rule is
judged on one string.
"""

from __future__ import annotations

from collections.abc import Callable

from scan_corpus_own_negatives import NEGATIVES
from scan_corpus_tokens import HEX, Maker, Part, Secret, document

VARIANTS = 3
Template = Callable[[Maker], tuple[str, list[Part]]]


def _env(m: Maker) -> tuple[str, list[Part]]:
    return ".env", [
        "# local settings, do not commit",
        "APP_ENV=production",
        "DB_HOST=db.internal",
        Secret(f"DB_PASSWORD={m.password()}"),
        Secret(f"STRIPE_SECRET_KEY={m.stripe_live()}"),
        "LOG_LEVEL=info",
    ]


def _compose(m: Maker) -> tuple[str, list[Part]]:
    return "docker-compose.yml", [
        "services:",
        "  db:",
        "    image: postgres:16",
        "    environment:",
        "      POSTGRES_USER: app",
        Secret(f"      POSTGRES_PASSWORD: {m.password(20)}"),
        "    ports:",
        '      - "5432:5432"',
    ]


def _k8s_secret(m: Maker) -> tuple[str, list[Part]]:
    return "secret.yaml", [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: api-credentials",
        "type: Opaque",
        "data:",
        "  username: " + m.b64("api-user"),
        Secret("  password: " + m.b64(m.password(22))),
    ]


def _curl_user(m: Maker) -> tuple[str, list[Part]]:
    return "deploy.sh", [
        "#!/bin/sh",
        "set -eu",
        Secret(f"curl -sS -u deploy:{m.password(16)} https://artifacts.example.com/upload \\"),
        '  -F "file=@build.tar.gz"',
    ]


def _bearer(m: Maker) -> tuple[str, list[Part]]:
    return "request.http", [
        "GET https://api.example.com/v2/accounts HTTP/1.1",
        "Accept: application/json",
        Secret(f"Authorization: Bearer {m.jwt()}"),
    ]


def _basic_header(m: Maker) -> tuple[str, list[Part]]:
    return "client.py", [
        "import requests",
        "",
        "HEADERS = {",
        Secret(f'    "Authorization": "Basic {m.b64("svc-report:" + m.password(14))}",'),
        "}",
        'requests.get("https://reports.example.com/daily", headers=HEADERS, timeout=10)',
    ]


def _db_url(m: Maker) -> tuple[str, list[Part]]:
    return "config.yaml", [
        "database:",
        Secret(f"  url: postgresql://app_user:{m.password(16)}@db.example.com:5432/app"),
        "  pool_size: 10",
        "cache:",
        "  url: redis://cache:6379/0",
    ]


def _django(m: Maker) -> tuple[str, list[Part]]:
    key = m.chars("abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)", 50)
    return "settings.py", [
        "from pathlib import Path",
        "",
        "BASE_DIR = Path(__file__).resolve().parent.parent",
        Secret(f"SECRET_KEY = '{key}'"),
        "DEBUG = False",
        "DATABASES = {",
        "    'default': {",
        "        'ENGINE': 'django.db.backends.postgresql',",
        "        'USER': 'shop',",
        Secret(f"        'PASSWORD': '{m.password(18)}',"),
        "    }",
        "}",
    ]


def _flask(m: Maker) -> tuple[str, list[Part]]:
    return "app.py", [
        "from flask import Flask",
        "",
        "app = Flask(__name__)",
        Secret(f'app.config["SECRET_KEY"] = "{m.chars(HEX, 64)}"'),
        Secret(f'app.config["MAIL_PASSWORD"] = "{m.password(15)}"'),
    ]


def _terraform(m: Maker) -> tuple[str, list[Part]]:
    return "terraform.tfvars", [
        'region      = "eu-west-1"',
        'db_username = "admin"',
        Secret(f'db_password = "{m.password(20)}"'),
        Secret(f'aws_access_key = "{m.aws_key_id()}"'),
        Secret(f'aws_secret_key = "{m.aws_secret()}"'),
    ]


def _terraform_variable(m: Maker) -> tuple[str, list[Part]]:
    return "variables.tf", [
        'variable "admin_password" {',
        "  type    = string",
        Secret(f'  default = "{m.password(17)}"'),
        "}",
    ]


def _aws_credentials(m: Maker) -> tuple[str, list[Part]]:
    return "credentials", [
        "[default]",
        Secret(f"aws_access_key_id = {m.aws_key_id()}"),
        Secret(f"aws_secret_access_key = {m.aws_secret()}"),
        "region = us-east-1",
    ]


def _gcp_service_account(m: Maker) -> tuple[str, list[Part]]:
    key = m.pkcs8_key().replace("\n", "\\n")
    return "service-account.json", [
        "{",
        '  "type": "service_account",',
        '  "project_id": "billing-prod-4471",',
        f'  "private_key_id": "{m.chars("0123456789abcdef", 40)}",',
        Secret(f'  "private_key": "{key}\\n",'),
        '  "client_email": "exporter@billing-prod-4471.iam.gserviceaccount.com",',
        f'  "client_id": "{m.chars("0123456789", 21)}",',
        '  "token_uri": "https://oauth2.googleapis.com/token"',
        "}",
    ]


def _pem_file(m: Maker) -> tuple[str, list[Part]]:
    key = m.rng.choice([m.rsa_key, m.pkcs8_key, m.ec_key])()
    return "server.key", [Secret(key)]


def _openssh(m: Maker) -> tuple[str, list[Part]]:
    return "id_ed25519", [Secret(m.openssh_key())]


def _key_in_yaml(m: Maker) -> tuple[str, list[Part]]:
    key = "\n".join("    " + line for line in m.rsa_key().split("\n"))
    return "values.yaml", ["tls:", "  enabled: true", "  key: |", Secret(key), "  port: 8443"]


def _jwt_in_code(m: Maker) -> tuple[str, list[Part]]:
    return "api.test.js", [
        "const request = require('supertest');",
        "",
        Secret(f"const token = '{m.jwt()}';"),
        "request(app).get('/admin').set('Authorization', `Bearer ${token}`);",
    ]


def _service_tokens(m: Maker) -> list[tuple[str, list[Part]]]:
    return [
        ("ci.yml", ["env:", Secret(f"  GITHUB_TOKEN: {m.github_classic()}"), "  CI: true"]),
        (
            "release.sh",
            [Secret(f'export GH_TOKEN="{m.github_fine_grained()}"'), "gh release create"],
        ),
        ("notify.py", ["import os", Secret(f'SLACK_BOT_TOKEN = "{m.slack_bot()}"')]),
        (
            "alerts.json",
            ["{", Secret(f'  "webhook": "{m.slack_webhook()}",'), '  "channel": "#ops"', "}"],
        ),
        ("billing.rb", [Secret(f"Stripe.api_key = '{m.stripe_live()}'"), "Stripe::Charge.list"]),
        ("restricted.env", [Secret(f"STRIPE_RESTRICTED_KEY={m.stripe_live('rk')}")]),
        (
            "llm.py",
            ["from openai import OpenAI", Secret(f'client = OpenAI(api_key="{m.openai()}")')],
        ),
        (
            "twilio.env",
            [
                Secret(f"TWILIO_API_KEY={m.twilio_key()}"),
                Secret(f"TWILIO_AUTH_TOKEN={m.chars('0123456789abcdef', 32)}"),
            ],
        ),
        ("mail.ts", [Secret(f"sgMail.setApiKey('{m.sendgrid()}');")]),
        (
            ".npmrc",
            [
                "registry=https://registry.npmjs.org/",
                Secret(f"//registry.npmjs.org/:_authToken={m.npm()}"),
            ],
        ),
        (".pypirc", ["[pypi]", "username = __token__", Secret(f"password = {m.pypi()}")]),
        (
            "download.py",
            ["from huggingface_hub import login", Secret(f'login(token="{m.huggingface()}")')],
        ),
        ("claude.go", [Secret(f'const anthropicKey = "{m.anthropic()}"'), "func init() {}"]),
        ("gitlab-ci.yml", ["variables:", Secret(f"  GITLAB_TOKEN: {m.gitlab()}")]),
        (
            "aws.go",
            [
                Secret(f'const awsKeyID = "{m.aws_key_id()}"'),
                Secret(f'const awsSecret = "{m.aws_secret()}"'),
            ],
        ),
    ]


TEMPLATES: dict[str, Template] = {
    "dotenv": _env,
    "docker-compose": _compose,
    "k8s-secret": _k8s_secret,
    "curl-user": _curl_user,
    "bearer-header": _bearer,
    "basic-header": _basic_header,
    "database-url": _db_url,
    "django-settings": _django,
    "flask-config": _flask,
    "terraform-tfvars": _terraform,
    "terraform-variable": _terraform_variable,
    "aws-credentials": _aws_credentials,
    "gcp-service-account": _gcp_service_account,
    "pem-key": _pem_file,
    "openssh-key": _openssh,
    "key-in-yaml": _key_in_yaml,
    "jwt-in-code": _jwt_in_code,
}


def own_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []

    def add(case_id: str, rule: str, path: str, parts: list[Part]) -> None:
        text, spans = document(*parts)
        cases.append(
            {
                "id": case_id,
                "source": "own",
                "rule": rule,
                "path": path,
                "text": text,
                "secrets": spans,
            }
        )

    for name, template in TEMPLATES.items():
        for n in range(1, VARIANTS + 1):
            path, parts = template(Maker(f"own:{name}:{n}"))
            add(f"own/{name}/tp-{n}", name, path, parts)
    for n in range(1, VARIANTS + 1):
        for path, parts in _service_tokens(Maker(f"own:service-tokens:{n}")):
            stem = path.lstrip(".").split(".")[0]
            add(f"own/service-token/{stem}-tp-{n}", "service-token", path, parts)
    for name, (path, text) in NEGATIVES.items():
        add(f"own/negative/{name}", "negative", path, [text])
    return cases
