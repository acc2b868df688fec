"""Structured logging for this process: structlog set up to write through one `Sink`.

Every event is one JSON object on one line whose first keys are ``ts`` (UTC,
ISO 8601 with milliseconds and ``Z``), ``level`` and ``event``, followed by the
caller's keys in the order they were bound or passed::

    {"ts":"2026-11-21T09:00:00.123Z","level":"info","event":"item.finished","task":"nightly",...}

Destinations (see `runner.logs.sink`):

- a file ``runner-YYYY-MM-DD.jsonl`` under the log directory, chosen by the
  event's UTC date (a long-running process rolls over at midnight UTC). The
  file gets ``info`` and above (``debug`` too when the level is ``debug``).
- stderr: the same JSON lines, or readable console lines (`format_event`) when
  the format is ``console``, or ``auto`` and stderr is a terminal. Events below
  the configured level are not shown there.

The keys ``ts``, ``level`` and ``event`` are reserved: a caller's own values
under these names are replaced. Call `configure_logging` before the first
event; a logger used before that is configured with the defaults (stderr only,
``info``), and a logger object kept from before a reconfiguration keeps its old
level threshold (structlog caches loggers on first use).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, Final, TextIO, TypeAlias, cast

import structlog
from structlog.typing import FilteringBoundLogger

from runner.errors import UsageError
from runner.logs.levels import level_number
from runner.logs.sink import Sink, isatty
from runner.masking import Masker

BoundLogger: TypeAlias = FilteringBoundLogger
"""The logger type `get_logger` returns: ``debug``/``info``/``warning``/``error``, ``bind``."""

STDERR_FORMATS: Final = ("auto", "json", "console")
"""Accepted values of ``stderr_format``."""

_SINK: Sink | None = None


def set_status_line(text: str) -> bool:
    """Show a live status line under the console log lines on a terminal.

    Returns False (and shows nothing) when stderr is not a terminal or carries JSON: the
    status line never mixes with the JSON stream. An empty text removes the line.
    """
    sink = _SINK
    return sink.set_footer(text) if sink is not None else False


# --------------------------------------------------------------------------
# structlog glue: one processor renders, one "logger" writes.


Listener: TypeAlias = Callable[[dict[str, Any]], None]

_LISTENERS: list[tuple[frozenset[str], Listener]] = []


def add_listener(events: frozenset[str], listener: Listener) -> Callable[[], None]:
    """Call `listener` with each of these events as written (a dict of the JSON line: masked,
    with `ts`, `level`, `event`), on the logging thread: it must return at once and never
    raise. Returns the function that removes it."""
    entry = (events, listener)
    _LISTENERS.append(entry)

    def remove() -> None:
        if entry in _LISTENERS:
            _LISTENERS.remove(entry)

    return remove


def _tell_listeners(name: object, line: str) -> None:
    wanted = [listener for events, listener in _LISTENERS if name in events]
    if not wanted:
        return
    event = json.loads(line)
    for listener in wanted:
        listener(dict(event))


def _render(
    _logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The only processor: the sink orders, masks and serializes the event into one JSON line."""
    sink = _SINK
    if sink is None:
        raise structlog.DropEvent
    name = event_dict.get("event")
    encoded = sink.encode(method_name, event_dict)
    if encoded is None:
        raise structlog.DropEvent
    if _LISTENERS:
        _tell_listeners(name, encoded[2])
    return (sink, *encoded), {}


class _Output:
    """The structlog "logger": hands each rendered line to the sink that rendered it."""

    def _write(self, sink: Sink, level_no: int, date: str, line: str) -> None:
        sink.write(level_no, date, line)

    debug = info = warning = warn = error = exception = critical = fatal = msg = _write


_OUTPUT: Final = _Output()


def _output_factory(*_args: Any) -> _Output:
    return _OUTPUT


def configure_logging(
    *,
    log_dir: Path | None,
    stderr_format: str = "auto",
    masker: Masker | None = None,
    level: str = "info",
    stderr: TextIO | None = None,
    clock: Callable[[], float] | None = None,
    compact_items: bool = False,
) -> None:
    """Set up logging for this process (again: a previous file is closed).

    ``log_dir``: where ``runner-YYYY-MM-DD.jsonl`` files go (created 0700), or
    None for stderr only. ``stderr_format``: ``auto`` (console lines on a
    terminal, JSON otherwise), ``json`` or ``console``. ``masker``: secrets to
    mask in every event. ``level``: the stderr threshold; the file gets
    ``info`` and above, ``debug`` too when the level is ``debug``. ``stderr``:
    the stream for stderr output (default `sys.stderr`). ``clock``: seconds
    since the epoch (default `time.time`), injectable for tests. ``compact_items``:
    on a terminal (console lines, stderr a tty) and above ``debug``, show only the items
    that did not end ``ok``, one short line each (`runner.logs.terminal`).

    Raises `UsageError` for an unknown level or format, `UnsafePathError` when
    the log directory is unsafe (a symlink, writable by others), and
    `LogSetupError` when it or today's file cannot be created.
    """
    global _SINK
    stderr_level = level_number(level)
    if stderr_format not in STDERR_FORMATS:
        choices = ", ".join(STDERR_FORMATS)
        raise UsageError(f"unknown log format {stderr_format!r}; use one of {choices}")
    stream = stderr if stderr is not None else sys.stderr
    tty = isatty(stream)
    console = stderr_format == "console" or (stderr_format == "auto" and tty)
    sink = Sink(
        log_dir=log_dir,
        stderr=stream,
        console=console,
        color=console and tty and "NO_COLOR" not in os.environ,
        stderr_level=stderr_level,
        masker=masker,
        clock=clock if clock is not None else time.time,
    )
    sink.compact = compact_items and sink.footer_allowed and level != "debug"
    if log_dir is not None:
        sink.open()
    previous, _SINK = _SINK, sink
    if previous is not None:
        previous.close()
    structlog.configure(
        processors=[_render],
        wrapper_class=structlog.make_filtering_bound_logger(sink.min_level),
        logger_factory=_output_factory,
        context_class=dict,
        cache_logger_on_first_use=True,
    )


def get_logger(**initial_values: Any) -> BoundLogger:
    """Return a logger with `initial_values` bound (e.g. ``task=...``, ``run_id=...``).

    When logging was never configured, it is configured first with the
    defaults: stderr only, level ``info``, format ``auto``.
    """
    if _SINK is None or not structlog.is_configured():
        configure_logging(log_dir=None)
    return cast(BoundLogger, structlog.get_logger(**initial_values))


def grouped_output() -> contextlib.AbstractContextManager[None]:
    """Write the events this thread logs inside the block together when it ends (one write
    per destination instead of one per event); a no-op before logging is configured."""
    sink = _SINK
    return sink.grouped() if sink is not None else contextlib.nullcontext()


def close_logging() -> None:
    """Flush and close the log file; later events go to stderr only until reconfigured."""
    sink = _SINK
    if sink is not None:
        sink.close()
