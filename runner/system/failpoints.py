"""Named fault points for crash testing: the process kills itself with SIGKILL at a chosen line.

Set `RUNNER_FAILPOINT=<name>` (or `<name>:<n>` to die at the n-th pass) in the runner's
environment. Unset, a fault point costs one dictionary lookup. The torture suite uses these
to prove that a crash at each critical line loses nothing recorded and repeats nothing
finished. Names (stable):

- `before-attempt-commit`: attempts are written but the transaction is not committed
- `after-attempt-commit`: attempts are durable, their processes not yet launched
- `after-exit-before-outcome`: processes ended, their outcomes not yet written
- `during-checkpoint-write`: inside the transaction that writes checkpoint events
- `during-move`: inside the transaction of an operator move
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("RUNNER_FAILPOINT", "")
_NAME, _, _COUNT = _SPEC.partition(":")
_REMAINING = int(_COUNT) if _COUNT.isdigit() else 1


def hit(name: str) -> None:
    """Die here (SIGKILL, no cleanup) if this fault point was chosen; otherwise do nothing."""
    global _REMAINING
    if name != _NAME:
        return
    _REMAINING -= 1
    if _REMAINING <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
