"""Credentials given as command-line options, in SQL and to PowerShell (rules/commands.py)."""

from __future__ import annotations

import pytest

from tests.scan.rules.helpers import found

PW = "Q7v!pZr29x"


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (f"mysql -u root --password={PW} app", "cli-password"),
        (f"gpg --decrypt --passphrase {PW} --output out.txt in.gpg", "cli-password"),
        (f'openssl pkcs12 -export -passout "pass:{PW}" -out a.p12', "cli-password"),
        (f"vault login --token {PW}x3kd9", "cli-password"),
        (f"CREATE USER app WITH ENCRYPTED PASSWORD '{PW}';", "sql-password"),
        (f"ALTER ROLE postgres PASSWORD '{PW}';", "sql-password"),
        (
            f"ALTER USER 'root'@'localhost' IDENTIFIED WITH mysql_native_password BY '{PW}';",
            "sql-password",
        ),
        (f"CREATE USER scott IDENTIFIED BY {PW};", "sql-password"),
        (f'$p = ConvertTo-SecureString "{PW}" -AsPlainText -Force', "powershell-secure-string"),
    ],
)
def test_credentials_in_commands_are_found(line: str, rule: str) -> None:
    matches = found(line)
    assert [r for r, _, _ in matches] == [rule], matches
    assert line[matches[0][2] - 1 :].startswith(PW)


@pytest.mark.parametrize(
    "line",
    [
        'mysql -u root --password="$MYSQL_PASSWORD"',
        "mysql --password=${PASS} app",
        "openssl x509 -passin file:pass.txt -in a.csr",
        "ALTER USER bob IDENTIFIED WITH sha256_password BY '<enter password>';",
        "CREATE USER $USER WITH PASSWORD '$TEST_USER_PASS';",
        "ConvertTo-SecureString $plain -AsPlainText -Force",
        "app --token-file /run/secrets/token",
    ],
)
def test_references_and_placeholders_are_not_found(line: str) -> None:
    assert found(line) == []
