"""`runner logs`: the time arguments and the pipeline's log events, read or followed."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline
    from runner.logs import EventStream, LogFilter


def parse_when(text: str, *, now: float | None = None) -> datetime:
    """A `--since`/`--until` value: ISO 8601 (without a zone: UTC), or a duration ago (`10m`)."""
    from runner.config.durations import parse_duration

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise UsageError(
                f"{text!r} is not a time; write ISO 8601 (2026-11-21T18:00, 2026-11-21T18:00+01:00) "
                "or a duration ago (90s, 10m, 2h, 1d)"
            ) from None
        instant = (time.time() if now is None else now) - seconds
        return datetime.fromtimestamp(instant, UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def log_events(
    pipeline: Pipeline,
    flt: LogFilter,
    *,
    follow: bool = False,
    backlog: int = 10,
) -> EventStream:
    """The pipeline's log events that pass `flt`, oldest first; with `follow`, the last
    `backlog` matching events of the newest file and then every new one, until closed.
    """
    from runner.logs import view

    log_dir = pipeline.logs_dir
    if follow:
        return view.follow(log_dir, flt, backlog=backlog)
    return view.read_events(log_dir, flt)
