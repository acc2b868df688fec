"""Who is acting: the name recorded for moves and configuration changes made on this machine."""

from __future__ import annotations

import os


def os_user() -> str:
    """The name of the user this process runs as (`$USER` where the password database has none)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "unknown")
