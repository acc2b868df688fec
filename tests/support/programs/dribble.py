"""Write text to stdout and stderr in tiny pieces with pauses, so reads split it anywhere.

`dribble.py TEXT PIECE_SIZE`
"""

from __future__ import annotations

import os
import sys
import threading


def main() -> None:
    text, size = sys.argv[1].encode(), int(sys.argv[2])
    pause = threading.Event()
    for start in range(0, len(text), size):
        piece = text[start : start + size]
        os.write(1, piece)
        os.write(2, piece)
        pause.wait(0.005)


if __name__ == "__main__":
    main()
