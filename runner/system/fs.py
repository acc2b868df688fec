"""Safe creation of the runner's own files and directories, with the one set of modes.

State, lock and log paths are never followed through symlinks, and a directory
every user can write to is refused: someone else could swap our files there.

The modes come from `settings.file_mode`, chosen once for a session with
`file_modes(...)`; nothing else in the package spells a mode. `private` (the
default) keeps everything to the runner's user: files 0600, directories 0700.
`group` lets the file's group read: files 0640, directories 0750, except the
state file and its directory. A reader of a WAL database (`runner status`)
needs write access to the state's `-shm` file and, when no runner has the file
open, must create `-wal` and `-shm` in the state directory; SQLite gives both
the state file's own mode. So under `group` the state file is 0660 and its
directory 0770: members of the group are trusted with the state.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from runner.errors import UnsafePathError

FileModeName = Literal["private", "group"]


@dataclass(frozen=True)
class FileModes:
    """The modes of what the runner creates: logs, locks, journals, attempt output; the state."""

    file: int
    directory: int
    state_file: int
    state_directory: int

    @property
    def read_only_file(self) -> int:
        """A file children may read and nobody should write (the shared empty processed file)."""
        return self.file & ~0o222


FILE_MODES: dict[FileModeName, FileModes] = {
    "private": FileModes(file=0o600, directory=0o700, state_file=0o600, state_directory=0o700),
    "group": FileModes(file=0o640, directory=0o750, state_file=0o660, state_directory=0o770),
}

_current: list[FileModes] = [FILE_MODES["private"]]


@contextmanager
def file_modes(name: FileModeName) -> Iterator[FileModes]:
    """Use the modes of `settings.file_mode` == `name` in this process until the block ends."""
    _current.append(FILE_MODES[name])
    try:
        yield _current[-1]
    finally:
        _current.pop()


def current_modes() -> FileModes:
    """The modes in use now (`private` outside any `file_modes` block)."""
    return _current[-1]


def ensure_runner_dir(path: Path, *, state: bool = False) -> Path:
    """Create `path` (and parents) with the directory mode if missing; refuse a symlink or a
    directory writable by every user. `state`: the directory of the state file."""
    modes = current_modes()
    wanted = modes.state_directory if state else modes.directory
    if path.is_symlink():
        raise UnsafePathError(f"{path} is a symbolic link; point the setting at a real directory")
    if not path.exists():
        make_dirs(path)
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(
            f"{path} exists and is not a directory; remove it or choose another path"
        )
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise UnsafePathError(
            f"{path} is writable by every user; run `chmod o-w {path}` or choose a private directory"
        )
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & wanted != wanted:
        path.chmod(stat.S_IMODE(info.st_mode) | wanted)
    return path


def make_dirs(path: Path) -> None:
    """Create `path` and each missing ancestor with the directory mode, whatever the umask
    (`mkdir(parents=True)` would make them 0777 less the umask)."""
    mode = current_modes().directory
    missing: list[Path] = []
    probe = path
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue  # created meanwhile by someone else: checked like any existing directory
        # the umask may have cut the mode; a setgid bit inherited from the parent stays
        directory.chmod(mode | (directory.stat().st_mode & stat.S_ISGID))


def open_runner_file(path: Path, flags: int = os.O_RDWR, *, state: bool = False) -> int:
    """Open (creating with the file mode) a regular file without following a symlink.

    The umask cannot weaken the mode: a file the runner owns gets the bits it lacks.
    `state`: the state file. Returns the descriptor.
    """
    modes = current_modes()
    wanted = modes.state_file if state else modes.file
    if path.is_symlink():
        raise UnsafePathError(f"{path} is a symbolic link; the runner refuses to write through it")
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, wanted)
    except OSError as exc:
        raise UnsafePathError(f"cannot open {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(f"{path} is not a regular file; remove it or choose another path")
    give_mode(fd, wanted)
    return fd


def give_mode(fd: int, wanted: int, *, exact: bool = False) -> None:
    """Add to an open file the runner owns the bits of `wanted` it lacks (the umask cut them);
    `exact`: also take away the others (a file the runner rewrites from scratch)."""
    info = os.fstat(fd)
    have = stat.S_IMODE(info.st_mode)
    mode = wanted if exact else have | wanted
    if info.st_uid == os.geteuid() and have != mode:
        os.fchmod(fd, mode)


def ensure_runner_file(path: Path, *, state: bool = False) -> Path:
    """Make sure `path` exists as a regular file with the file mode that is not a symlink."""
    ensure_runner_dir(path.parent, state=state)
    os.close(open_runner_file(path, state=state))
    return path


def nearest_existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (what a file system question can ask about)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def on_read_only_mount(path: Path) -> bool:
    """Whether `path` (or, when missing, its nearest existing ancestor) is on a file system
    mounted read-only: nothing can be created or written there, whatever the modes."""
    return bool(os.statvfs(nearest_existing(path)).f_flag & os.ST_RDONLY)


def make_read_only(path: Path) -> None:
    """Take the write bits off a file the runner made (children may only read it)."""
    path.chmod(current_modes().read_only_file)


def replace_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` at once for its readers: a temporary file beside it (a dot name,
    so collectors reading `*.prom` or the like skip it), written with the file mode, synced,
    then renamed over `path`. A symlink at `path` is refused, not followed."""
    if path.is_symlink():
        raise UnsafePathError(f"{path} is a symbolic link; the runner refuses to write through it")
    if path.exists() and not path.is_file():
        raise UnsafePathError(f"{path} is not a regular file; remove it or choose another path")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_runner_file(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        give_mode(fd, current_modes().file, exact=True)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
