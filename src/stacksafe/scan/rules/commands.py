"""Credentials passed as arguments: command-line options, SQL statements, PowerShell.

``mysql --password=...``, ``openssl -passin pass:...``, ``gpg --passphrase ...``,
``ConvertTo-SecureString "..." -AsPlainText``, ``CREATE USER ... IDENTIFIED BY '...'``,
``ALTER ROLE ... PASSWORD '...'``: the option or the statement says what the value is.
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.assignments import plausible, value_after
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES"]

RULES: tuple[Rule, ...] = (
    Rule(
        id="cli-password",
        description="Password or token given as a command-line option",
        keywords=("-pass", "-token", "-secret", "-api-key", "-apikey", "-bearer", "pass:"),
        pattern=re.compile(
            r"(?:(?<![\w\-])--?(?i:[a-z0-9]{0,20}[\-_]?)?"
            r"(?i:password|passwd|passphrase|pass|token|secret|api-?key|oauth2-bearer|bearer)"
            r"(?i:[\-_][a-z0-9]{1,12})?(?:=|[ \t]{1,3})"
            # openssl's -passin/-passout take "pass:<password>"
            r"|(?<![\w\-])-pass(?:in|out)[ \t]{1,3}[\"']?pass:)" + value_after(6, words_after=True)
        ),
        check=plausible,
        min_entropy=2.5,
    ),
    Rule(
        id="sql-password",
        description="Password in an SQL statement",
        keywords=("identified", "password '", 'password "', "password="),
        # MySQL/Oracle: IDENTIFIED [WITH plugin] BY '...'; PostgreSQL: [ENCRYPTED] PASSWORD '...'
        # in CREATE/ALTER USER/ROLE. (IDENTIFIED ... AS '*hash' is a hash, not matched.)
        pattern=re.compile(
            r"(?i:(?:create|alter|grant)\s+(?:user|role|login|all|usage)\b[^;\n]{0,200}?"
            r"(?:identified\s+(?:with\s+[\"']?\w+[\"']?\s+)?by(?:\s+password)?|\bpassword))"
            r"\s{1,3}[\"']?(?P<secret>[^\s\"';$<{\[][^\s\"';]{3,127})"
        ),
        check=plausible,
        min_entropy=2.0,
    ),
    Rule(
        id="powershell-secure-string",
        description="Plain-text password made into a PowerShell SecureString",
        keywords=("convertto-securestring",),
        pattern=re.compile(
            r"(?i:convertto-securestring)(?:\s+-(?i:string|asplaintext|force)\b)*\s+"
            r"\\?[\"']?(?P<secret>[^\s\"'\\\-|)][^\s\"'\\|)]{5,127})"
        ),
        check=plausible,
        min_entropy=2.5,
    ),
)
