"""Our own corpus cases (source "own"): realistic files holding fake credentials (positives) and
the placeholders, example keys and lookalikes a scanner must leave alone (negatives, in
``scan_corpus_own_negatives.py``).

A positive is a template: ``{field}`` / ``{field_N}`` placeholders are filled by the
``scan_corpus_tokens.Maker`` method of that name (with N as its argument), and a line starting
with ``»`` holds a secret (the marker is removed; a value spanning lines labels all of them).
Each template is written ``VARIANTS`` times with differently seeded values, so no rule is judged
on one string.
"""

from __future__ import annotations

from scan_corpus_own_negatives import NEGATIVES
from scan_corpus_tokens import Maker

VARIANTS = 3
MARK = "»"

# rule: the file's path on the first line, then its template
TEMPLATES: dict[str, str] = {
    "dotenv": """.env
# local settings, do not commit
APP_ENV=production
DB_HOST=db.internal
»DB_PASSWORD={password_18}
»STRIPE_SECRET_KEY={stripe_live}
LOG_LEVEL=info""",
    "docker-compose": """docker-compose.yml
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: app
»      POSTGRES_PASSWORD: {password_20}
    ports:
      - "5432:5432\"""",
    "k8s-secret": """secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: api-credentials
type: Opaque
data:
  username: YXBpLXVzZXI=
»  password: {b64password_22}""",
    "curl-user": """deploy.sh
#!/bin/sh
set -eu
»curl -sS -u deploy:{password_16} https://artifacts.example.com/upload \\
  -F "file=@build.tar.gz\"""",
    "bearer-header": """request.http
GET https://api.example.com/v2/accounts HTTP/1.1
Accept: application/json
»Authorization: Bearer {jwt}""",
    "basic-header": """client.py
import requests

HEADERS = {{
»    "Authorization": "Basic {basic_auth_14}",
}}
requests.get("https://reports.example.com/daily", headers=HEADERS, timeout=10)""",
    "database-url": """config.yaml
database:
»  url: postgresql://app_user:{password_16}@db.example.com:5432/app
  pool_size: 10
cache:
  url: redis://cache:6379/0""",
    "django-settings": """settings.py
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
»SECRET_KEY = '{django_key}'
DEBUG = False
DATABASES = {{
    'default': {{
        'ENGINE': 'django.db.backends.postgresql',
        'USER': 'shop',
»        'PASSWORD': '{password_18}',
    }}
}}""",
    "flask-config": """app.py
from flask import Flask

app = Flask(__name__)
»app.config["SECRET_KEY"] = "{hex_64}"
»app.config["MAIL_PASSWORD"] = "{password_15}\"""",
    "terraform-tfvars": """terraform.tfvars
region      = "eu-west-1"
db_username = "admin"
»db_password = "{password_20}"
»aws_access_key = "{aws_key_id}"
»aws_secret_key = "{aws_secret}\"""",
    "terraform-variable": """variables.tf
variable "admin_password" {{
  type    = string
»  default = "{password_17}"
}}""",
    "aws-credentials": """credentials
[default]
»aws_access_key_id = {aws_key_id}
»aws_secret_access_key = {aws_secret}
region = us-east-1""",
    "gcp-service-account": """service-account.json
{{
  "type": "service_account",
  "project_id": "billing-prod-4471",
  "private_key_id": "{hex_40}",
»  "private_key": "{pkcs8_key_json}",
  "client_email": "exporter@billing-prod-4471.iam.gserviceaccount.com",
  "client_id": "{digits_21}",
  "token_uri": "https://oauth2.googleapis.com/token"
}}""",
    "pem-key": """server.key
»{any_pem_key}""",
    "openssh-key": """id_ed25519
»{openssh_key}""",
    "key-in-yaml": """values.yaml
tls:
  enabled: true
  key: |
»{rsa_key_indented}
  port: 8443""",
    "jwt-in-code": """api.test.js
const request = require('supertest');

»const token = '{jwt}';
request(app).get('/admin').set('Authorization', `Bearer ${{token}}`);""",
    "github-classic-token": """ci.yml
env:
»  GITHUB_TOKEN: {github_classic}
  CI: true""",
    "github-fine-grained-token": """release.sh
»export GH_TOKEN="{github_fine_grained}"
gh release create""",
    "slack-bot-token": """notify.py
import os
»SLACK_BOT_TOKEN = "{slack_bot}\"""",
    "slack-webhook": """alerts.json
{{
»  "webhook": "{slack_webhook}",
  "channel": "#ops"
}}""",
    "stripe-secret-key": """billing.rb
»Stripe.api_key = '{stripe_live}'
Stripe::Charge.list""",
    "stripe-restricted-key": """payments.env
»STRIPE_RESTRICTED_KEY={stripe_restricted}""",
    "openai-key": """llm.py
from openai import OpenAI
»client = OpenAI(api_key="{openai}")""",
    "twilio": """twilio.env
»TWILIO_API_KEY={twilio_key}
»TWILIO_AUTH_TOKEN={hex_32}""",
    "sendgrid-key": """mail.ts
»sgMail.setApiKey('{sendgrid}');""",
    "npm-token": """.npmrc
registry=https://registry.npmjs.org/
»//registry.npmjs.org/:_authToken={npm}""",
    "pypi-token": """.pypirc
[pypi]
username = __token__
»password = {pypi}""",
    "huggingface-token": """download.py
from huggingface_hub import login
»login(token="{huggingface}")""",
    "anthropic-key": """claude.go
»const anthropicKey = "{anthropic}"
func init() {{}}""",
    "gitlab-token": """gitlab-ci.yml
variables:
»  GITLAB_TOKEN: {gitlab}""",
    "aws-keys-in-code": """aws.go
»const awsKeyID = "{aws_key_id}"
»const awsSecret = "{aws_secret}\"""",
}


class _Fields(dict[str, str]):
    """``{name}`` -> ``maker.name()``, ``{name_N}`` -> ``maker.name(N)``, drawn when first used."""

    def __init__(self, maker: Maker) -> None:
        super().__init__()
        self.maker = maker

    def __missing__(self, key: str) -> str:
        name, _, arg = key.rpartition("_")
        if name and arg.isdigit():
            return str(getattr(self.maker, name)(int(arg)))
        return str(getattr(self.maker, key)())


def render(template: str, maker: Maker) -> tuple[str, list[list[int]]]:
    """The file's text (ending in a newline) and the spans of its marked lines."""
    lines: list[str] = []
    spans: list[list[int]] = []
    for raw in template.split("\n"):
        marked = raw.startswith(MARK)
        # each line is filled on its own, so a field's value may add lines to its span
        chunk = raw.removeprefix(MARK).format_map(_Fields(maker)).split("\n")
        if marked:
            spans.append([len(lines) + 1, len(lines) + len(chunk)])
        lines.extend(chunk)
    return "\n".join(lines) + "\n", spans


def own_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []

    def add(case_id: str, rule: str | None, path: str, text: str, spans: list[list[int]]) -> None:
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

    for rule, entry in TEMPLATES.items():
        path, template = entry.split("\n", 1)
        for n in range(1, VARIANTS + 1):
            add(f"own/{rule}/tp-{n}", rule, path, *render(template, Maker(f"own:{rule}:{n}")))
    for name, (path, text) in NEGATIVES.items():
        add(f"own/negative/{name}", None, path, text + "\n", [])
    return cases
