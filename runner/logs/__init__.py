"""Logging and reading the logs back: the package's public face.

`setup` configures structlog for this process, `sink` writes each event as a masked JSON line
to the daily file and stderr, `render` turns an event into the readable line that both the live
console and `runner logs` show, `view` reads, filters and follows the log files; `levels` and
`files` hold the level names and the daily file names they share.
"""

from runner.logs.files import LogSetupError, iter_log_files, log_file_date, log_file_name
from runner.logs.filter import LogFilter
from runner.logs.levels import LEVELS, level_number
from runner.logs.render import format_event
from runner.logs.setup import (
    STDERR_FORMATS,
    BoundLogger,
    close_logging,
    configure_logging,
    get_logger,
    grouped_output,
    set_status_line,
)
from runner.logs.view import MAX_LINE, Event, EventStream, follow, read_events

__all__ = [
    "LEVELS",
    "MAX_LINE",
    "STDERR_FORMATS",
    "BoundLogger",
    "Event",
    "EventStream",
    "LogFilter",
    "LogSetupError",
    "close_logging",
    "configure_logging",
    "follow",
    "format_event",
    "get_logger",
    "grouped_output",
    "iter_log_files",
    "level_number",
    "log_file_date",
    "log_file_name",
    "read_events",
    "set_status_line",
]
