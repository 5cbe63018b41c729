"""Our own negative corpus cases: placeholders, documentation example keys and lookalikes (hashes,
ids, encoded media, public keys, i18n strings) in the files where they really occur. A scanner
that flags any of them produces a false positive.
"""

# ruff: noqa: E501 - fixture lines are kept whole, as they appear in the files they imitate

from __future__ import annotations

import base64
import hashlib

from scan_corpus_tokens import B64, HEX, Maker

_m = Maker("own:negatives")


def _sha(kind: str, n: int) -> str:
    return base64.b64encode(hashlib.new(kind, f"{kind}:{n}".encode()).digest()).decode()


def _hex(n: int) -> str:
    return _m.chars(HEX, n)


def _uuid() -> str:
    h = _hex(32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _b64_lines(n: int) -> str:
    return "\n".join(_m.chars(B64, 64) for _ in range(n))


_PNG = base64.b64encode(bytes(range(256)) * 2).decode()[:400]

# name: (path, text); texts are whole files (the builder adds no newline of its own but the last)
_PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "env-example": (
        ".env.example",
        "DB_PASSWORD=changeme\nAPI_KEY=your_api_key_here\nSECRET_KEY=<SECRET_KEY>",
    ),
    "env-empty": (".env.sample", "DB_PASSWORD=\nSTRIPE_SECRET_KEY=\nGITHUB_TOKEN="),
    "compose-interpolation": (
        "docker-compose.yml",
        """services:
  db:
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_USER: ${DB_USER:-app}""",
    ),
    "compose-secret-file": (
        "compose.yaml",
        """services:
  db:
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
secrets:
  db_password:
    file: ./db_password.txt""",
    ),
    "python-environ": (
        "settings.py",
        """import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DB_PASSWORD = os.environ.get("DB_PASSWORD")
API_TOKEN = os.getenv("API_TOKEN", "")""",
    ),
    "python-getpass": (
        "login.py",
        """from getpass import getpass

password = getpass("Password: ")
token = None
api_key = load_key(path)""",
    ),
    "python-none": (
        "models.py",
        """class User:
    password = None
    password_hash: str = ''
    api_key: str | None = None""",
    ),
    "python-argparse": (
        "cli.py",
        """parser.add_argument("--password", default=None, help="the admin password")
parser.add_argument("--token", required=True)""",
    ),
    "yaml-empty": ("config.yaml", 'database:\n  password: ""\n  user: app\nsmtp:\n  password: ~'),
    "yaml-xxx": (
        "application.yml",
        "spring:\n  datasource:\n    password: xxxxxxxx\n    username: sa",
    ),
    "helm-template": (
        "secret.yaml",
        """apiVersion: v1
kind: Secret
stringData:
  password: {{ .Values.db.password | quote }}
  token: {{ required "token" .Values.token }}""",
    ),
    "js-process-env": (
        "config.js",
        """module.exports = {
  stripeKey: process.env.STRIPE_SECRET_KEY,
  password: process.env.DB_PASSWORD || '',
};""",
    ),
    "go-env": ("main.go", 'package main\n\nimport "os"\n\nvar apiToken = os.Getenv("API_TOKEN")'),
    "readme-angle": (
        "README.md",
        """## Configure

```
export OPENAI_API_KEY=<your-openai-key>
export GITHUB_TOKEN=<TOKEN>
```""",
    ),
    "readme-stars": (
        "INSTALL.md",
        """Set `password: ********` in config.yml, then run:

    curl -u admin:<password> http://localhost:8080/api""",
    ),
    "curl-variable": (
        "deploy.sh",
        """#!/bin/sh
curl -sS -u "$DEPLOY_USER:$DEPLOY_PASSWORD" https://artifacts.example.com/upload
curl -H "Authorization: Bearer ${TOKEN}" https://api.example.com""",
    ),
    "terraform-var": (
        "main.tf",
        """resource "aws_db_instance" "db" {
  username = var.db_username
  password = var.db_password
}""",
    ),
    "terraform-sensitive": (
        "variables.tf",
        """variable "db_password" {
  type      = string
  sensitive = true
}""",
    ),
    "k8s-secret-ref": (
        "deployment.yaml",
        """env:
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef:
        name: db
        key: password""",
    ),
    "redacted-log": (
        "app.log",
        """2024-05-01T10:00:00Z INFO login user=jane password=[REDACTED]
2024-05-01T10:00:01Z INFO token=*** refreshed""",
    ),
    "db-url-placeholder": (
        ".env.template",
        """DATABASE_URL=postgres://user:password@localhost:5432/dbname
REDIS_URL=redis://localhost:6379""",
    ),
    "replace-me": (
        "config.ini",
        "[auth]\nclient_secret = REPLACE_ME\napi_key = TODO\npassword = dummy",
    ),
    "java-annotation": (
        "Config.java",
        """@Value("${db.password}")
private String password;
private static final String PASSWORD_FIELD = "password";""",
    ),
    "csharp-config": (
        "appsettings.json",
        """{
  "ConnectionStrings": {
    "Default": "Server=.;Database=App;Trusted_Connection=True;"
  }
}""",
    ),
    "php-env": (
        "config.php",
        """<?php
return [
    'password' => env('DB_PASSWORD'),
    'key' => env('APP_KEY'),
];""",
    ),
    "github-actions-secret": (
        "deploy.yml",
        """env:
  AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}
  AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}""",
    ),
    "ansible-vault-ref": (
        "group_vars.yml",
        "db_password: \"{{ vault_db_password }}\"\napi_token: \"{{ lookup('env', 'API_TOKEN') }}\"",
    ),
    "spring-placeholder": (
        "application.properties",
        "spring.datasource.password=${DB_PASSWORD}\nspring.mail.password=${MAIL_PASSWORD:}",
    ),
    "rails-credentials-ref": (
        "database.yml",
        "production:\n  password: <%= ENV['DATABASE_PASSWORD'] %>\n  username: app",
    ),
    "powershell-prompt": (
        "setup.ps1",
        '$cred = Get-Credential\n$password = Read-Host -AsSecureString "Password"',
    ),
    "typescript-type": (
        "types.ts",
        "export interface Login {\n  username: string;\n  password: string;\n  token?: string;\n}",
    ),
    "sql-column": (
        "schema.sql",
        "CREATE TABLE users (\n  id BIGINT PRIMARY KEY,\n  password_hash TEXT NOT NULL,\n  api_token_prefix CHAR(8)\n);",
    ),
    "form-html": (
        "login.html",
        '<form method="post">\n  <input type="password" name="password" placeholder="Password">\n</form>',
    ),
    "mask-default": (
        "defaults.toml",
        '[smtp]\nhost = "localhost"\npassword = "<redacted>"\ntoken = "..."',
    ),
    "vault-path": ("vault.hcl", 'path "secret/data/db/password" {\n  capabilities = ["read"]\n}'),
    "keychain-call": (
        "keys.swift",
        'let password = try keychain.get("db-password")\nlet token = KeychainHelper.token(for: "api")',
    ),
}

_EXAMPLE_KEYS: dict[str, tuple[str, str]] = {
    "aws-doc-example": (
        "README.md",
        """```ini
[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
```""",
    ),
    "aws-doc-example-env": (
        "docs.sh",
        """export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY""",
    ),
    "jwt-doc": (
        "auth.md",
        "Send `Authorization: Bearer <jwt>`.\n\nTokens look like `xxxxx.yyyyy.zzzzz`.",
    ),
    "fake-key-marker": (
        "test_keys.py",
        """FAKE_TOKEN = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
DUMMY_KEY = "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\"""",
    ),
    "slack-doc-webhook": (
        "slack.md",
        "Post to `https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX`.",
    ),
    "pem-truncated-doc": (
        "tls.md",
        "Paste your key:\n\n```\n-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n```",
    ),
    "basic-auth-doc": (
        "api.md",
        "Authenticate with `curl -u USERNAME:PASSWORD https://api.example.com/v1/me`.",
    ),
    "stripe-doc-key": (
        "payments.md",
        "Your key starts with `sk_live_` followed by random characters: `sk_live_...`.",
    ),
    "openai-doc": ("llm.md", "export OPENAI_API_KEY=sk-...\nexport ANTHROPIC_API_KEY=sk-ant-..."),
}


def _lookalikes() -> dict[str, tuple[str, str]]:
    uuids = ",\n".join(f'  {{"id": "{_uuid()}", "tenant_id": "{_uuid()}"}}' for _ in range(4))
    colors = "\n".join(f"  --c{i}: #{_hex(6)};" for i in range(6))
    sri = _sha("sha384", 4)
    go_sum = "\n".join(
        f"github.com/pkg/errors v0.9.{i} h1:{_sha('sha256', 10 + i)}" for i in range(4)
    )
    return {
        "uuids": ("fixtures.json", f"[\n{uuids}\n]"),
        "git-shas": ("CHANGELOG.md", "\n".join(f"- fix retry loop ({_hex(40)})" for _ in range(5))),
        "git-rev-lock": (
            "flake.lock",
            f"""{{
  "nodes": {{
    "nixpkgs": {{
      "rev": "{_hex(40)}",
      "narHash": "sha256-{_sha("sha256", 1)}"
    }}
  }}
}}""",
        ),
        "npm-integrity": (
            "package-lock.json",
            f"""{{
  "packages": {{
    "node_modules/lodash": {{
      "version": "4.17.21",
      "integrity": "sha512-{_sha("sha512", 2)}"
    }}
  }}
}}""",
        ),
        "yarn-lock": (
            "yarn.lock",
            f""""chalk@^4.1.0":
  version "4.1.2"
  resolved "https://registry.yarnpkg.com/chalk/-/chalk-4.1.2.tgz"
  integrity sha512-{_sha("sha512", 3)}""",
        ),
        "go-sum": ("go.sum", go_sum),
        "cargo-lock": (
            "Cargo.lock",
            f'[[package]]\nname = "serde"\nversion = "1.0.197"\nchecksum = "{_hex(64)}"',
        ),
        "poetry-lock": (
            "poetry.lock",
            f"""[[package]]
name = "requests"
files = [
    {{file = "requests-2.31.0.tar.gz", hash = "sha256:{_hex(64)}"}},
]""",
        ),
        "pip-hashes": ("requirements.txt", f"requests==2.31.0 \\\n    --hash=sha256:{_hex(64)}"),
        "docker-digest": (
            "Dockerfile",
            f"FROM python:3.11-slim@sha256:{_hex(64)}\nRUN pip install -r requirements.txt",
        ),
        "sri-html": (
            "index.html",
            f'<script src="/lib.js" integrity="sha384-{sri}" crossorigin="anonymous"></script>',
        ),
        "base64-image": (
            "logo.css",
            f".logo {{\n  background: url(data:image/png;base64,{_PNG});\n}}",
        ),
        "base64-font": (
            "fonts.css",
            f"@font-face {{\n  font-family: Inter;\n  src: url(data:font/woff2;base64,{_m.chars(B64, 300)}) format('woff2');\n}}",
        ),
        "base64-svg-md": ("README.md", f"![badge](data:image/svg+xml;base64,{_m.chars(B64, 240)})"),
        "css-colors": ("theme.css", f":root {{\n{colors}\n}}"),
        "long-identifiers": (
            "Service.java",
            """public class AccountPasswordResetTokenValidationService {
    public boolean validatePasswordResetTokenExpiration(String accountId) {
        return passwordResetTokenRepository.existsByAccountId(accountId);
    }
}""",
        ),
        "i18n-password": (
            "en.json",
            """{
  "password_label": "Password",
  "password_reset_title": "Reset your password",
  "password_too_short": "Your password must be at least 12 characters",
  "token_expired": "Your session token has expired"
}""",
        ),
        "i18n-yaml": (
            "fr.yml",
            "fr:\n  auth:\n    password: Mot de passe\n    secret_question: Question secrète",
        ),
        "i18n-po": (
            "messages.po",
            'msgid "Enter your password"\nmsgstr "Geben Sie Ihr Passwort ein"',
        ),
        "ssh-public-key": (
            "authorized_keys",
            f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{_m.chars(B64, 43)} deploy@ci",
        ),
        "certificate": (
            "ca.crt",
            f"-----BEGIN CERTIFICATE-----\n{_b64_lines(8)}\n-----END CERTIFICATE-----",
        ),
        "public-key-pem": (
            "jwt.pub",
            f"-----BEGIN PUBLIC KEY-----\n{_b64_lines(6)}\n-----END PUBLIC KEY-----",
        ),
        "pgp-public": (
            "KEYS",
            f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{_b64_lines(6)}\n-----END PGP PUBLIC KEY BLOCK-----",
        ),
        "csr": (
            "server.csr",
            f"-----BEGIN CERTIFICATE REQUEST-----\n{_b64_lines(5)}\n-----END CERTIFICATE REQUEST-----",
        ),
        "semver-and-ports": ("versions.txt", "openssl 3.0.13\nnode 20.11.1\nlisten 0.0.0.0:8443"),
        "test-names": (
            "test_auth.py",
            """def test_password_is_hashed_with_argon2():
    assert hash_password('x') != 'x'
def test_token_rotation_keeps_old_token_valid_for_grace_period():
    pass""",
        ),
        "password-policy": (
            "policy.yaml",
            "password_policy:\n  min_length: 12\n  require_symbols: true\n  max_age_days: 90",
        ),
        "hex-color-array": (
            "palette.py",
            "PALETTE = [" + ", ".join(f"'#{_hex(6)}'" for _ in range(4)) + "]",
        ),
        "checksum-file": (
            "SHA256SUMS",
            f"{_hex(64)}  app-linux-amd64.tar.gz\n{_hex(64)}  app-darwin-arm64.tar.gz",
        ),
        "object-ids": (
            "seed.js",
            "\n".join(f"db.users.insertOne({{ _id: ObjectId('{_hex(24)}') }});" for _ in range(3)),
        ),
        "test-vector": (
            "hmac_test.go",
            f'// test vector from RFC 4231\nvar expected = "{_hex(64)}"',
        ),
        "etag-header": (
            "response.http",
            f'HTTP/1.1 200 OK\nETag: "{_hex(32)}"\nX-Request-Id: {_uuid()}',
        ),
        "android-resource-ids": (
            "R.txt",
            "\n".join(f"int id password_field 0x7f0{_hex(5)}" for _ in range(3)),
        ),
        "url-without-credentials": (
            "links.md",
            "See https://user-guide.example.com/password-reset and postgres://db.example.com:5432/app",
        ),
        "html-entity-heavy": (
            "page.html",
            "<p>Passwort &amp; Benutzername &#x27;vergessen&#x27;?</p>",
        ),
        "git-lfs-pointer": (
            "model.bin",
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{_hex(64)}\nsize 104857600",
        ),
        "k8s-configmap": (
            "configmap.yaml",
            'apiVersion: v1\nkind: ConfigMap\ndata:\n  LOG_LEVEL: info\n  PASSWORD_MIN_LENGTH: "12"',
        ),
    }


NEGATIVES: dict[str, tuple[str, str]] = {**_PLACEHOLDERS, **_EXAMPLE_KEYS, **_lookalikes()}
