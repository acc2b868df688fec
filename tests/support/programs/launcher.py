"""Start a background sleeper (same process group), write its pid to a file, then exit or wait.

`launcher.py PIDFILE EXIT_CODE` exits at once with EXIT_CODE;
`launcher.py PIDFILE wait` waits forever instead. The sleeper inherits the output pipes but
never writes to them.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

SLEEPER = "import threading; threading.Event().wait()"


def main() -> None:
    pidfile, then = Path(sys.argv[1]), sys.argv[2]
    sleeper = subprocess.Popen([sys.executable, "-c", SLEEPER])
    pidfile.write_text(str(sleeper.pid), encoding="ascii")
    if then == "wait":
        threading.Event().wait()
    sys.exit(int(then))


if __name__ == "__main__":
    main()
