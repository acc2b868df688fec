"""Append JSON lines to an events file, printing nothing.

`events.py PATH COUNT INTERVAL [--stamped] [--then-wait]`: COUNT lines, INTERVAL seconds apart;
with --stamped each line also holds its write time (`at`, monotonic seconds, comparable across
processes on Linux); with --then-wait, wait forever afterwards (for cancel tests).
"""

from __future__ import annotations

import json
import sys
import threading
import time


def main() -> None:
    path, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    pause = threading.Event()
    for number in range(count):
        with open(path, "a", encoding="utf-8") as handle:
            line: dict[str, object] = {"processed": f"sub-{number}"}
            if "--stamped" in sys.argv:
                line["at"] = time.monotonic()
            handle.write(json.dumps(line) + "\n")
        pause.wait(interval)
    if "--then-wait" in sys.argv:
        pause.wait()


if __name__ == "__main__":
    main()
