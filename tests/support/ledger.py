"""The ledger the multi-host torture items write, read back into item process lives.

Each item process appends `start`, then `end` or `killed` (see
tests/support/programs/ledger_item.py). A process SIGKILLed (a runner's sweep of the
leftovers of its previous life, a late writer killing its children) writes neither: its
end is when it was found gone. `ProcessWatch` tails the ledger while the test runs and
watches the process of every `start` until it is gone, recording two instants:

- `alive_at`: the last time it was seen alive (it certainly ran until then);
- `gone_at`: the first time it was seen gone (it certainly ended by then).

It died somewhere in between (one poll, about 10 ms). An overlap check that takes
`alive_at` as the end never blames a process that had already died; the window between
the two instants is covered exactly by the items' flock (an `overlap` line), which the
kernel releases the instant the process dies.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

CLOSING = ("end", "killed")
"""The kinds of line an item process writes as its last."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger line."""

    kind: str
    host: str
    item: str
    attempt: int
    pid: int
    at: float
    detail: str
    line: str

    @classmethod
    def parse(cls, line: str) -> Entry:
        kind, host, item, attempt, pid, at, *detail = line.split(" ")
        return cls(kind, host, item, int(attempt), int(pid), float(at), " ".join(detail), line)


def read_ledger(path: Path) -> list[Entry]:
    """Every complete line of the ledger, in the order written."""
    if not path.exists():
        return []
    text = path.read_text()
    return [Entry.parse(line) for line in text.splitlines() if line]


@dataclass(frozen=True, slots=True)
class Life:
    """One item process, from its `start` line to its end."""

    start: Entry
    close: Entry | None
    """Its `end` or `killed` line, None when it was SIGKILLed."""
    alive_at: float
    """The last instant it is known to have been alive (its close line, else the watch's)."""
    gone_at: float | None
    """When it was found gone, for a life without a close line (None: never found gone)."""

    @property
    def end(self) -> float:
        """When it ended: its close line, else when it was found gone (+inf: never)."""
        if self.close is not None:
            return self.close.at
        return self.gone_at if self.gone_at is not None else float("inf")

    def describe(self) -> str:
        lines = [self.start.line]
        if self.close is not None:
            lines.append(self.close.line)
        elif self.gone_at is None:
            lines.append(f"  (no end line; never found gone; last seen alive {self.alive_at:.6f})")
        else:
            lines.append(
                f"  (no end line; last seen alive {self.alive_at:.6f}, found gone {self.gone_at:.6f})"
            )
        return "\n".join(lines)


class ProcessWatch(threading.Thread):
    """Tails a ledger and watches each started item process until it is gone (see the module)."""

    def __init__(self, path: Path, poll: float = 0.01) -> None:
        super().__init__(name="ledger-watch", daemon=True)
        self.path = path
        self.poll = poll
        self._offset = 0
        self._partial = b""
        self._watched: dict[tuple[str, int, int], tuple[psutil.Process | None, Entry]] = {}
        self.alive_at: dict[tuple[str, int, int], float] = {}
        self.gone_at: dict[tuple[str, int, int], float] = {}
        self._halt = threading.Event()
        self._lock = threading.Lock()

    @staticmethod
    def key(entry: Entry) -> tuple[str, int, int]:
        return (entry.item, entry.attempt, entry.pid)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sweep()
            self._halt.wait(self.poll)

    def stop(self) -> None:
        """End the thread after one last pass."""
        self._halt.set()
        self.join(timeout=30)
        self.sweep()

    def _new_lines(self) -> list[Entry]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        return [Entry.parse(line) for line in complete.decode().splitlines() if line]

    def sweep(self) -> None:
        """Read the new ledger lines, then look at every watched process once."""
        with self._lock:
            for entry in self._new_lines():
                key = self.key(entry)
                if entry.kind == "start":
                    self.alive_at[key] = entry.at
                    process: psutil.Process | None = None
                    with contextlib.suppress(psutil.Error):
                        process = psutil.Process(entry.pid)
                    self._watched[key] = (process, entry)
                elif entry.kind in CLOSING:
                    self._watched.pop(key, None)
            for key, (process, entry) in list(self._watched.items()):
                before = time.time()
                if process is not None and _alive(process, entry):
                    self.alive_at[key] = max(self.alive_at[key], before)
                    continue
                self.gone_at[key] = time.time()
                del self._watched[key]

    def running(self) -> list[Entry]:
        """The start lines of item processes not yet seen gone nor closed."""
        with self._lock:
            return [entry for _, entry in self._watched.values()]


def _alive(process: psutil.Process, entry: Entry) -> bool:
    """The process of this start line still runs (same process: its start time predates the line)."""
    try:
        if process.create_time() > entry.at + 1:
            return False  # the pid was reused by a later process
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def lives(entries: list[Entry], watch: ProcessWatch) -> list[Life]:
    """Each `start` with its closing line, or with the watch's instants when it had none."""
    closes = {ProcessWatch.key(e): e for e in entries if e.kind in CLOSING}
    found: list[Life] = []
    for entry in entries:
        if entry.kind != "start":
            continue
        key = ProcessWatch.key(entry)
        close = closes.get(key)
        if close is not None:
            found.append(Life(entry, close, close.at, None))
        else:
            found.append(
                Life(entry, None, watch.alive_at.get(key, entry.at), watch.gone_at.get(key))
            )
    return found
