"""A three-level process tree for kill tests; every process prints `<role> <pid>` and waits.

top -> middle -> {stubborn (ignores SIGTERM), escapee (called setsid: its own session)}
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading


def announce(role: str) -> None:
    """Tell the test which pid plays which role."""
    os.write(1, f"{role} {os.getpid()}\n".encode())


def spawn(role: str, *, new_session: bool = False) -> None:
    """Start this program again in another role (never waited for: the tree is killed)."""
    subprocess.Popen([sys.executable, __file__, role], start_new_session=new_session)


def main() -> None:
    role = sys.argv[1]
    if role == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    announce(role)
    if role == "top":
        spawn("middle")
    elif role == "middle":
        spawn("stubborn")
        spawn("escapee", new_session=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
