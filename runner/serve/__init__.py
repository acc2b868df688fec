"""`runner serve`: a long-running runner that starts runs as schedules fire.

service.py  serve(): one runner session running the engine on the schedule source
source.py   the run source: due fires, run-now items, stalled runs; reports reloads
reload.py   noticing changed pipeline files; loading and checking them
control.py  stop, reload, wake a serving runner (signals use it)
"""

from runner.serve.control import ServeControl
from runner.serve.reload import ConfigWatcher
from runner.serve.service import serve
from runner.serve.source import ScheduleSource

__all__ = ["ConfigWatcher", "ScheduleSource", "ServeControl", "serve"]
