"""The console's auth file: one `USER:scrypt$N$r$p$SALT$HASH` line per user, salted scrypt hashes.

Made and changed with `runner web --auth-file FILE --add-user USER` (the password is read from
the terminal or standard input, never from the command line). The file is written with mode
0600 through a temporary file and a rename, so a reader never sees half of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from pathlib import Path

from runner.errors import UsageError
from runner.system.fs import file_modes, replace_file

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
"""scrypt's cost parameters (RFC 7914's interactive-login figures: about 16 MiB, tens of ms)."""

_MAX_PASSWORD = 1024


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$SALT$HASH` (hex) of a password, with a fresh random salt unless given."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"{SCHEME}${N}${R}${P}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    """Whether `password` hashes to `stored` (in constant time once the hash is computed)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or len(password) > _MAX_PASSWORD:
        return False
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**26
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


def basic_user(users: Mapping[str, str], header: str | None) -> str | None:
    """The user an HTTP Basic `Authorization` header names, if its password is theirs; else None
    (no header, another scheme, a malformed value, an unknown user or a wrong password)."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    stored = users.get(user)
    if not sep or stored is None or not check_password(stored, password):
        return None
    return user


def check_user_name(user: str) -> str:
    """`user` if it can be a name in the auth file, else UsageError saying what is allowed."""
    if not user or not user.isprintable() or ":" in user or user != user.strip():
        raise UsageError(
            f"{user!r} cannot be a console user name: use printable characters without ':' "
            "and without leading or trailing spaces"
        )
    return user


def read_users(path: Path) -> dict[str, str]:
    """User name -> stored hash, from the auth file; UsageError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"auth file {path} does not exist; make it with: "
            f"runner web --auth-file {path} --add-user NAME"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the auth file {path}: {exc}") from None
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        if not sep or not user or not stored.startswith(SCHEME + "$") or stored.count("$") != 5:
            raise UsageError(
                f"{path}:{number}: not a USER:scrypt$... line; make the file with: "
                f"runner web --auth-file {path} --add-user NAME"
            )
        users[user] = stored
    if not users:
        raise UsageError(
            f"auth file {path} names no user; add one with: "
            f"runner web --auth-file {path} --add-user NAME"
        )
    return users


def add_user(path: Path, user: str, password: str) -> bool:
    """Add `user` (or replace its password) in the auth file, creating it; True if it was new."""
    check_user_name(user)
    if not password:
        raise UsageError("the password is empty; nothing was written")
    if len(password) > _MAX_PASSWORD:
        raise UsageError(f"the password is longer than {_MAX_PASSWORD} characters")
    users = read_users(path) if path.exists() else {}
    new = user not in users
    users[user] = hash_password(password)
    body = "".join(f"{name}:{stored}\n" for name, stored in users.items())
    with file_modes("private"):  # passwords' hashes: the owner's alone, whatever the settings
        replace_file(path, body.encode())
    return new
