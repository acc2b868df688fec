"""A real `runner web` subprocess on a free loopback port, for the CLI and browser tests."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.workspace import Workspace

_URL = re.compile(r"on (http://\S+/)")

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Requests to the console go straight to it, whatever proxy the environment names."""


@dataclass
class Running:
    """The console's process and the URL it printed."""

    proc: subprocess.Popen[str]
    url: str

    def stop(self) -> int:
        """SIGTERM, then its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@contextmanager
def console(
    ws: Workspace, *args: str, path: str = "pipeline.yaml", timeout: float = 60
) -> Iterator[Running]:
    """`runner web PATH --listen 127.0.0.1:0 ARGS`, until it says where it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "web", path, "--listen", "127.0.0.1:0", *args],
        cwd=ws.root,
        env={**os.environ, "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                line = proc.stderr.readline()
                seen += line
                found = _URL.search(line)
                if found:
                    yield Running(proc, found.group(1))
                    return
                if not line and proc.poll() is not None:
                    break
        raise AssertionError(f"the console did not start: {seen}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
