"""Values assigned to secret-sounding names (rules/assignments.py)."""

from __future__ import annotations

import pytest

from tests.scan.rules.helpers import fake, found, ids

PW = "n84ASM54y4!"
TOKEN = fake(10, 32)


@pytest.mark.parametrize(
    "line",
    [
        f'password = "{PW}"',  # Python
        f"db_password: '{PW}'",  # YAML
        f'"password": "{PW}",',  # JSON
        f"DB_PASSWORD={PW}",  # .env / shell
        f'export MYSQL_PASSWORD="{PW}"',
        f"spring.datasource.password={PW}",  # .properties
        f'passwd := "{PW}"',  # Go
        f'val password: String = "{PW}"',  # Kotlin/Scala
        f'def connect(passwd: str = "{PW}"):',  # Python annotation
        f"'password' => '{PW}',",  # PHP / Ruby
        f"define( 'PASSWORD', '{PW}' );",  # PHP define
        f'if (password == "{PW}") {{',  # comparison
        f'#define PASSWORD "{PW}"',  # C
        f'admin_password = "{PW}"',  # Terraform .tfvars
        f"X3_PSWD={PW}",
        f"PW:={PW}",
        f"<password>{PW}</password>",  # XML element
        f'<add key="DbPassword" value="{PW}"/>',  # .NET appSettings
        f"Server=db;Database=app;User Id=sa;Password={PW};",  # ADO.NET
    ],
)
def test_password_assignments_are_found(line: str) -> None:
    text = "# config\n" + line
    matches = found(text)
    assert [(r, n) for r, n, _ in matches] == [("generic-password", 2)], matches
    assert line[matches[0][2] - 1 :].startswith(PW)


@pytest.mark.parametrize(
    "line",
    [
        'password = "abc"',  # too short
        "password = getpass.getpass()",  # a call
        'password = os.environ["DB_PASSWORD"]',
        "password = config.get('db', 'password')",
        "password = self.password",
        "password: ${DB_PASSWORD}",  # a reference
        "PASSWORD=$DB_PASS",
        'password = "%(password)s"',
        "password = None",
        'password = ""',
        "password: passwordFromVault",  # a bare word is a variable
        'label = "Enter your password"',  # i18n text
        'password = "your_password_here"',  # placeholder
        'password = "changeme"',
        'password = "********"',
        "password_length = 12345678",  # a number
        "pwdump=n0NeKreD",  # not a password name
        'password = "somefakekey"',
        "#define PASSWORD 0x0dead1beef7cafe2",
        'secretKey: "ENC(2dfRFqV/cS6TzRd+JyO=)"',  # jasypt-encrypted
        'password = "<password>"',
    ],
)
def test_non_passwords_are_not_found(line: str) -> None:
    assert found(line) == []


@pytest.mark.parametrize(
    "line",
    [
        f'api_key = "{TOKEN}"',
        f"API-KEY: {TOKEN}",
        f'"client_secret": "{TOKEN}"',
        f"GITHUB_TOKEN={TOKEN}",
        f'aws_secret_access_key = "{TOKEN}"',
        f"$key = '{TOKEN}';",
        f'"kerberos_authentication": "{TOKEN}"',
        f"token: {TOKEN}",
    ],
)
def test_token_assignments_are_found(line: str) -> None:
    matches = found(line)
    assert [r for r, _, _ in matches] == ["secret-keyword"], matches
    assert TOKEN in line[matches[0][2] - 1 :].split()[0]


@pytest.mark.parametrize(
    "line",
    [
        'secret_key = "real_secret_value"',  # words, not generated
        '"key": "attached_file_0"',
        '"key": "someone@example.org"',
        "token: ${{ secrets.GITHUB_TOKEN }}",
        'api_key = "xxxxxxxxxxxxxxxxxxxxxxxx"',
        "token_type = 'Bearer'",
        'secret = "short1"',  # too short for a token name
        "monkey_version = 12.4.1",
    ],
)
def test_non_tokens_are_not_found(line: str) -> None:
    assert found(line) == []


def test_an_allow_marker_silences_the_line() -> None:
    assert found(f'password = "{PW}"  # stacksafe:allow') == []
    assert ids(f'password = "{PW}"') == {"generic-password"}


@pytest.mark.parametrize(
    "line",
    [
        f'if ("{PW}" == db_password) {{',  # reversed comparison
        f"MYSQLPASS: {PW}",  # a short name right before its operator
        f"pass:{PW}",
        f"db_pw={PW}",
        f'std::string password("{PW}");',  # a literal given to a constructor
        f'char password[25] = "{PW}";',  # C array
        f'my_password_super_secure = @"{PW}";',  # a name continued, Objective-C literal
        f"passwords: {PW}",
    ],
)
def test_more_password_shapes_are_found(line: str) -> None:
    matches = found(line)
    assert [r for r, _, _ in matches] == ["generic-password"], matches
    assert line[matches[0][2] - 1 :].startswith(PW)


@pytest.mark.parametrize(
    "line",
    [
        "ID/PW:master/iPp0@GRq",  # a document's id/password pair: the value holds the user
        'bypass = "cackle!12"',  # not a password name
        "password_hash = 5f4dcc3b5aa765d61d8327deb882cf99",
        "PASSWORD_FILE=/run/secrets/db",
        'password: "real_key"',  # an identifier, not a password
        "if (pass == null) {",
        '"""Keys derived from a passphrase: Argon2id (RFC 9106) with parameters in a file."""',
        "password = '{db_password}'",  # a format field filled in later
    ],
)
def test_password_lookalikes_are_not_found(line: str) -> None:
    assert found(line) == []


@pytest.mark.parametrize(
    "line",
    [
        f'var genericToken string = "{TOKEN}"',  # Go typed declaration
        f'System.setProperty("GENERIC_TOKEN", "{TOKEN}")',  # a (name, value) call
        f'$genericToken .= "{TOKEN}"',  # PHP
        f'generic_TOKEN ?= "{TOKEN}"',  # make
        f"softlayer_key: {TOKEN}",  # a service's key
        f'"credentials" : "{TOKEN}"',
        f'if ("{TOKEN}" !== secret) {{',
        f"some_api_token_123 = {TOKEN}",
        f"mySecretString={TOKEN}",  # a camelCase tail that still names the secret
        f"token: s.{TOKEN}",  # dotted, but its parts are no words
    ],
)
def test_more_token_shapes_are_found(line: str) -> None:
    matches = found(line)
    assert [r for r, _, _ in matches] == ["secret-keyword"], matches
    assert TOKEN in line[matches[0][2] - 1 :].split()[0]


@pytest.mark.parametrize(
    "line",
    [
        f'public_key = "{TOKEN}"',  # public
        f"csrf-token={TOKEN}",  # sent to every browser
        f'<input type="hidden" name="authenticity_token" value="{TOKEN}">',
        f'DOTENV_PUBLIC_KEY="{TOKEN}"',
        f'sort_key = "{TOKEN}"',
        "_authToken=743b294a-cd03-11ec-9d64-0242ac120002",  # a time-based UUID
        'key: "Control+Shift+T"',  # a keyboard shortcut
        'token = "jjwt-jackson-0.11.2"',  # a version
        "browserToken = browser.launchOptions?.channel ?? browser?.browserName;",
        "'Authorization': v4auth_header",  # a variable
        'token_url = "https://auth.example.org/oauth2/v1/token"',
        '<entry key="jetbrains.mps.v8_elimination" value="executed" />',
        "ANY_KEY = ZHVtbXkgdGV4dCBkYXRhIGRhdGEgZGF0YQ==",  # base64 of "dummy text ..."
    ],
)
def test_token_lookalikes_are_not_found(line: str) -> None:
    assert found(line) == []
