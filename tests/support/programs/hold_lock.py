"""Take a RunnerLock in another process.

`hold_lock.py PATH hold`: acquire, print `locked <pid>`, then wait until stdin closes.
`hold_lock.py PATH try`: try to acquire once and print a JSON report.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from runner.errors import LockHeldError
from runner.system.lock import RunnerLock


def main() -> None:
    lock = RunnerLock(Path(sys.argv[1]))
    if sys.argv[2] == "hold":
        lock.acquire()
        print(f"locked {os.getpid()}", flush=True)
        sys.stdin.read()
        lock.release()
        return
    try:
        lock.acquire()
    except LockHeldError as exc:
        print(json.dumps({"acquired": False, "holder_pid": exc.holder_pid, "message": str(exc)}))
    else:
        print(json.dumps({"acquired": True}))
        lock.release()


if __name__ == "__main__":
    main()
