"""Files that hold key material must be private to their owner, as ssh insists for private keys.

A master key file (or the file of the passphrase it is derived from) that other users may read
gives them every value; one they may write lets them swap the key. ssh refuses a private key
whose mode grants anything to group or others ("UNPROTECTED PRIVATE KEY FILE"), when the file is
the user's own: a file owned by someone else (root, a secrets volume) is that owner's to
protect. stacksafe refuses the same way, naming the file and the chmod that fixes it.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from stacksafe.errors import ConfigurationError

__all__ = ["read_private_file"]

_OTHERS = 0o077  # any permission for group or others


def _exposure(mode: int) -> str:
    if mode & 0o044:
        return "readable by other users"
    if mode & 0o022:
        return "writable by other users"
    return "open to other users"


def read_private_file(path: Path, what: str) -> bytes:
    """The bytes of ``path`` (``what`` names it in messages), refused with ``ConfigurationError``
    when it is the caller's own and grants group or others any permission. ``OSError`` (a
    missing file included) is left to the caller, which knows what to say about it."""
    with path.open("rb") as handle:
        # The mode of the file that is read, not of whatever the path named a moment before.
        info = os.fstat(handle.fileno())
        mode = stat.S_IMODE(info.st_mode)
        if mode & _OTHERS and info.st_uid == os.getuid():
            raise ConfigurationError(
                f"{what} {path} is {_exposure(mode)} (mode {mode:04o}); it must be private "
                f"to its owner, as ssh insists for private keys: run `chmod 600 "
                f"{shlex.quote(str(path))}`; nothing was read"
            )
        return handle.read()
