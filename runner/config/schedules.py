"""The `schedules` section: a cron expression in a time zone, and an optional window."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from runner.config.durations import PositiveDuration
from runner.config.fields import CRON_NICKNAMES, STRICT, suggest


def _check_cron(expression: str) -> str:
    fields = expression.split()
    if not fields:
        raise ValueError("a cron expression cannot be empty; write e.g. '0 18 * * 1-5' or '@daily'")
    if fields[0].startswith("@"):
        if len(fields) != 1 or fields[0].lower() not in CRON_NICKNAMES:
            raise ValueError(
                f"{expression!r} is not a cron nickname; use one of: {', '.join(CRON_NICKNAMES)}"
            )
        return expression
    if len(fields) != 5:
        extra = " (seconds and years are not supported)" if len(fields) in (6, 7) else ""
        raise ValueError(
            f"the cron expression {expression!r} has {len(fields)} fields; write the 5 fields "
            f"'minute hour day-of-month month day-of-week'{extra}, or a nickname such as @daily"
        )
    # Imported here: croniter loads subprocess, which `import runner.config` must not.
    from croniter import CroniterBadDateError, croniter

    try:
        iterator = croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{expression!r} is not a valid cron expression ({exc}); write the 5 fields "
            "'minute hour day-of-month month day-of-week', e.g. '0 18 * * 1-5'"
        ) from None
    try:
        iterator.get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(
            f"the cron expression {expression!r} never fires; check the day of month and month"
        ) from None
    return expression


def _check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zones = sorted(zoneinfo.available_timezones())
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/London' or 'UTC'"
            f"{suggest(name, zones)}"
        ) from None
    return name


CronExpression = Annotated[str, AfterValidator(_check_cron)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


class Schedule(BaseModel):
    """When tasks on this schedule start: a cron expression in a time zone, and an optional window
    after each fire within which items may start."""

    model_config = STRICT

    cron: CronExpression = Field(
        description="A 5-field cron expression ('minute hour day-of-month month day-of-week', e.g. "
        "'0 18 * * 1-5') or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
        "@hourly.",
    )
    timezone: TimeZoneName = Field(
        default="UTC",
        description="The IANA time zone the cron expression is read in (e.g. Europe/London); "
        "daylight saving changes are handled.",
    )
    window: PositiveDuration | None = Field(
        default=None,
        description="If set, items may START only within this long after a fire; running items "
        "finish. Unset: no limit.",
    )
