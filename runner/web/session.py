"""The console's session: a signed cookie holding who signed in and the session's CSRF token.

The cookie is `BASE64URL(JSON).HMAC-SHA256`, signed with a key made when the console starts (restarting
the console signs everyone out). It is HttpOnly and SameSite=Strict; the CSRF token every form
carries must equal the one in the cookie, compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "runner_console"
LIFETIME = 12 * 3600
"""A session lasts twelve hours, then the user signs in again."""


@dataclass(frozen=True, slots=True)
class Session:
    """Who this browser is (`user` None: not signed in) and its CSRF token."""

    user: str | None
    csrf: str
    expires: float

    @classmethod
    def fresh(cls, user: str | None = None, *, now: float | None = None) -> Session:
        """A new session with a new CSRF token."""
        instant = time.time() if now is None else now
        return cls(user, secrets.token_urlsafe(32), instant + LIFETIME)

    def csrf_ok(self, token: str | None) -> bool:
        """Whether a form's token is this session's."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Signer:
    """Seals sessions into cookie values and opens them again, refusing any other value."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = secrets.token_bytes(32) if key is None else key

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def seal(self, session: Session) -> str:
        """The cookie value of a session."""
        raw = json.dumps({"u": session.user, "c": session.csrf, "e": session.expires})
        body = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=")
        return f"{body.decode()}.{self._mac(body)}"

    def open(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None when it is missing, forged or expired."""
        if not value or "." not in value:
            return None
        body, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body.encode()).encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(data["u"], str(data["c"]), float(data["e"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if session.expires < (time.time() if now is None else now):
            return None
        return session
