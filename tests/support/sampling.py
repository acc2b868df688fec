"""Sampling a running process: its peak memory and the zombie children it leaves unreaped."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import psutil


def zombies_of(pid: int) -> set[int]:
    """Pids of zombie processes whose parent is `pid` (read from /proc)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces or parentheses, so split after the last ')'
        rest = text[text.rfind(")") + 2 :].split()
        if len(rest) >= 2 and rest[0] == "Z" and int(rest[1]) == pid:
            found.add(int(entry))
    return found


@dataclass
class Sampler:
    """Samples a running process: its peak RSS, and zombie children that outlive REAP windows."""

    pid: int
    stale_after: float = 3.0
    max_rss: int = 0
    max_zombies: int = 0
    stale_zombies: set[int] = field(default_factory=set)
    _first_seen: dict[int, float] = field(default_factory=dict)

    def sample(self) -> bool:
        """Take one sample; False once the process is gone."""
        try:
            proc = psutil.Process(self.pid)
            rss = proc.memory_info().rss
        except psutil.Error:
            return False
        self.max_rss = max(self.max_rss, rss)
        now = time.monotonic()
        zombies = zombies_of(self.pid)
        self.max_zombies = max(self.max_zombies, len(zombies))
        for pid in zombies:
            first = self._first_seen.setdefault(pid, now)
            if now - first >= self.stale_after:
                self.stale_zombies.add(pid)
        for pid in list(self._first_seen):
            if pid not in zombies:
                del self._first_seen[pid]
        return True

    def follow(self, proc: subprocess.Popen[Any], *, every: float = 0.1) -> None:
        """Sample until `proc` exits."""
        while proc.poll() is None and self.sample():
            time.sleep(every)
