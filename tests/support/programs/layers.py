"""A process tree where each layer of the whole-tree kill is the only one that finds someone.

`layers.py top` prints `<role> <pid>` for every member, then `ready`, and waits:

- `hidden`: a child of top in its own session with an empty environment. Neither the
  process group nor the attempt marker reaches it; only collecting top's descendants does.
- `stray`: in top's process group, ignores SIGTERM, empty environment, and its parent has
  exited (so it is nobody's descendant). Only the final SIGKILL of the group ends it.
- `runaway`: its own session, its parent has exited, the environment kept. Only the marker
  sweep finds it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading


def announce(role: str) -> None:
    os.write(1, f"{role} {os.getpid()}\n".encode())


def start(role: str, *, new_session: bool, clear_env: bool) -> None:
    """Start this program in `role` and relay the line it announces itself with."""
    child = subprocess.Popen(
        [sys.executable, __file__, role],
        start_new_session=new_session,
        env={} if clear_env else None,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    os.write(1, child.stdout.readline())


def main() -> None:
    role = sys.argv[1]
    if role == "stray":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if role != "orphaner":
        announce(role)
    if role == "top":
        start("hidden", new_session=True, clear_env=True)
        orphaner = subprocess.Popen([sys.executable, __file__, "orphaner"])
        orphaner.wait()
        os.write(1, b"ready\n")
    elif role == "orphaner":
        start("stray", new_session=False, clear_env=True)
        start("runaway", new_session=True, clear_env=False)
        return
    threading.Event().wait()


if __name__ == "__main__":
    main()
