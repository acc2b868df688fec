"""Safe creation of the runner's own files and directories.

State, lock and log paths are never followed through symlinks, new files are
0600 and new directories 0700, and a directory others can write to is refused:
someone else could swap our files there.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from urllib.parse import quote

from runner.errors import UnsafePathError


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700 if missing; refuse a symlink or a directory writable by others."""
    if path.is_symlink():
        raise UnsafePathError(f"{path} is a symbolic link; point the setting at a real directory")
    if not path.exists():
        _make_private_dirs(path)
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(
            f"{path} exists and is not a directory; remove it or choose another path"
        )
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise UnsafePathError(
            f"{path} is writable by every user; run `chmod o-w {path}` or choose a private directory"
        )
    return path


def _make_private_dirs(path: Path) -> None:
    """Create `path` and each missing ancestor as 0700 (`mkdir(parents=True)` would make them 0755)."""
    missing: list[Path] = []
    probe = path
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # created meanwhile by someone else: checked like any existing directory


def open_private_file(path: Path, flags: int = os.O_RDWR) -> int:
    """Open (creating as 0600) a regular file without following a symlink; return the descriptor."""
    if path.is_symlink():
        raise UnsafePathError(f"{path} is a symbolic link; the runner refuses to write through it")
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise UnsafePathError(f"cannot open {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(f"{path} is not a regular file; remove it or choose another path")
    return fd


def ensure_private_file(path: Path) -> Path:
    """Make sure `path` exists as a regular 0600 file that is not a symlink."""
    ensure_private_dir(path.parent)
    os.close(open_private_file(path))
    return path


_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def safe_name(text: str, *, limit: int = 40) -> str:
    """Encode an untrusted name (an item id) as one safe path component: readable prefix + hash."""
    readable = _UNSAFE.sub("_", text[:limit]).lstrip(".")
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable or 'x'}-{digest}"


_SITE_NAME_MAX = 80
"""Longest encoded site name put in a file name; longer ones are shortened with a hash."""


def site_file(state_path: Path, site: str, kind: str) -> Path:
    """A file of one runner site next to the state file: `<state path>.<site>.<kind>`.

    The site name is percent-encoded (no `/`, NUL or `%` survive; distinct
    names give distinct files), and a very long one is cut and suffixed with a
    hash so the file name stays within file-system limits.
    """
    encoded = quote(site, safe="") or "%"
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if len(encoded) > _SITE_NAME_MAX:
        digest = hashlib.sha256(site.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        encoded = f"{encoded[: _SITE_NAME_MAX - 17]}~{digest}"
    return state_path.with_name(f"{state_path.name}.{encoded}.{kind}")
