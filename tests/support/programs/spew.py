"""Write many bytes fast: `spew.py STDOUT_BYTES STDERR_BYTES [--no-newline]`.

Each stream ends with `END-OF-<stream>` so a test can check the tail was kept.
"""

from __future__ import annotations

import os
import sys

BLOCK = 1024 * 1024


def main() -> None:
    remaining = {1: int(sys.argv[1]), 2: int(sys.argv[2])}
    no_newline = "--no-newline" in sys.argv
    lines = (b"0123456789abcdef" * 4)[:63] + b"\n"
    block = b"x" * BLOCK if no_newline else lines * (BLOCK // len(lines))
    while any(remaining.values()):
        for fd in (1, 2):
            size = min(remaining[fd], len(block))
            if size:
                view = memoryview(block)[:size]
                while view:
                    view = view[os.write(fd, view) :]
                remaining[fd] -= size
    os.write(1, b"END-OF-STDOUT")
    os.write(2, b"END-OF-STDERR")


if __name__ == "__main__":
    main()
