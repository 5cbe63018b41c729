"""An audit line as an RFC 5424 syslog message, and the octet-counting frame of RFC 6587 3.4.1.

``<PRI>1 TIMESTAMP HOSTNAME stacksafe PROCID audit - BOM{json}``: STRUCTURED-DATA is ``-``
because an SD-ID of our own would need an IANA enterprise number stacksafe does not have (and
borrowing one would be a lie); the event's ``seq`` and chain hash are in the JSON message,
where rsyslog's mmjsonparse and syslog-ng's json-parser find them. The BOM marks the message as
UTF-8 (RFC 5424 6.4), which the JSON line is.
"""

from __future__ import annotations

import datetime

__all__ = [
    "APP_NAME",
    "BOM",
    "FACILITIES",
    "MSGID",
    "SEVERITIES",
    "facility_code",
    "header_name",
    "octet_frame",
    "syslog_message",
]

APP_NAME = "stacksafe"
MSGID = "audit"
BOM = b"\xef\xbb\xbf"

# RFC 5424 6.2.1, with the names syslog.conf and rsyslog use.
FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{n}": 16 + n for n in range(8)},
}
SEVERITIES: dict[str, int] = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}


def facility_code(name: str) -> int:
    """The number of a facility given by name (``local0``) or number (``16``); ``ValueError``
    naming the choices otherwise."""
    text = name.strip().lower()
    if text.isascii() and text.isdigit() and int(text) in FACILITIES.values():
        return int(text)
    if text in FACILITIES:
        return FACILITIES[text]
    raise ValueError(
        f"{name[:40]!r} is no syslog facility (one of {', '.join(FACILITIES)}, or 0-23)"
    )


def header_name(text: str, limit: int) -> str:
    """``text`` as a header field of RFC 5424 (printable ASCII without spaces, at most ``limit``
    characters), ``-`` (the NILVALUE) when nothing is left."""
    kept = "".join(c if "!" <= c <= "~" else "-" for c in text)[:limit]
    return kept or "-"


def syslog_message(
    line: bytes,
    *,
    priority: int,
    hostname: str,
    procid: str,
    at: datetime.datetime,
) -> bytes:
    """The RFC 5424 message carrying ``line``; ``at`` (UTC) is when it is sent."""
    stamp = at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    head = f"<{priority}>1 {stamp} {hostname} {APP_NAME} {procid} {MSGID} - "
    return head.encode("ascii") + BOM + line


def octet_frame(message: bytes) -> bytes:
    """``MSG-LEN SP SYSLOG-MSG`` (RFC 6587 3.4.1): a message may hold any byte, newlines too."""
    return b"%d " % len(message) + message
