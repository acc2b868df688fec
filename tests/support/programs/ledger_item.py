"""An item of the multi-host torture test: ledger its life, work a little, sometimes fail.

`ledger_item.py LEDGER LOCKS SEED FAIL_RATE PAUSE_SCALE ITEM`

Appends one line per event to LEDGER (O_APPEND, one write() per line, so lines from many
processes never interleave): `<kind> <host> <item> <attempt> <pid> <unix time>[ <detail>]`,
the host being SIM_HOST (the simulated host whose runner launched it) and the attempt
RUNNER_ATTEMPT. Kinds:

- `start`: before the work; written while holding an exclusive flock on LOCKS/ITEM;
- `overlap`: the flock was held by another live process (written before `start`): two
  processes of one item at once, caught by the kernel, not by comparing clocks;
- `end`: after the work, with the exit code it is about to exit with;
- `killed`: SIGTERM arrived (written instead of `end`; exits 143).

A SIGKILL leaves a `start` with neither `end` nor `killed`. The lock is released by the
kernel when the process exits, however it dies. The work is a pause of 20-150 ms (times
PAUSE_SCALE), and the attempt fails (exit 1) with probability FAIL_RATE; both are drawn from SEED, the item and
the attempt, so a run can be replayed. Imports only the standard library (run with -S).
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import sys
import threading
import time


def main() -> None:
    ledger, locks, seed, fail_rate, scale, item = sys.argv[1:7]
    host = os.environ.get("SIM_HOST", "-")
    attempt = os.environ.get("RUNNER_ATTEMPT", "0")
    out = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(kind: str, detail: str = "") -> None:
        line = f"{kind} {host} {item} {attempt} {os.getpid()} {time.time():.6f}"
        os.write(out, (line + (f" {detail}" if detail else "") + "\n").encode())

    def on_term(signum: int, frame: object) -> None:
        note("killed")
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    lock = os.open(os.path.join(locks, item), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        note("overlap")
    note("start")
    rng = random.Random(f"{seed}/{item}/{attempt}")
    threading.Event().wait(rng.uniform(0.02, 0.15) * float(scale))
    code = 1 if rng.random() < float(fail_rate) else 0
    note("end", str(code))
    sys.exit(code)


if __name__ == "__main__":
    main()
