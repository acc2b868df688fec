"""Run a timed-out process tree as a child subreaper and report what is left, as JSON.

`subreaper_check.py HELPERS_DIR`: becomes a subreaper, runs tree.py with a timeout, and
prints {"subreaper", "outcome", "pids", "children_left", "zombies_left"}.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import psutil

from runner.process import LaunchSpec, become_subreaper, reap_orphans, run_process


def main() -> None:
    helpers = Path(sys.argv[1])
    subreaper = become_subreaper()
    result = run_process(
        LaunchSpec(
            argv=[sys.executable, str(helpers / "tree.py"), "top"],
            cwd=helpers,
            env=dict(os.environ),
            timeout=2.0,
            grace=0.3,
            marker=f"subreaper-{uuid.uuid4().hex}",
        )
    )
    reap_orphans()
    children = psutil.Process().children()
    print(
        json.dumps(
            {
                "subreaper": subreaper,
                "outcome": result.outcome,
                "pids": [int(line.split()[1]) for line in result.stdout_tail.splitlines()],
                "children_left": [child.pid for child in children],
                "zombies_left": [
                    child.pid for child in children if child.status() == psutil.STATUS_ZOMBIE
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
