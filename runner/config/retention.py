"""`settings.retention`: how long attempt output, log files and finished runs are kept."""

from __future__ import annotations

from pydantic import BaseModel, Field

from runner.config.durations import PositiveDuration
from runner.config.fields import STRICT


class Retention(BaseModel):
    """How long the runner keeps what it wrote; each unset key keeps that kind forever.

    `runner prune` (and `runner serve`, once a day) removes what is older. Never pruned:
    anything of a run that has not ended, an item's latest finished attempt (its row and its
    output), the processed sub-ids an item hands to its next attempt, and operator moves.
    """

    model_config = STRICT

    attempt_output: PositiveDuration | None = Field(
        default=None,
        description="Keep an attempt's stdout/stderr files this long after the attempt ended "
        "(e.g. `30d`); the attempt's row stays. An item's latest finished attempt keeps its "
        "output whatever its age. Unset: keep forever.",
    )
    logs: PositiveDuration | None = Field(
        default=None,
        description="Keep the daily JSON log files (`runner-YYYY-MM-DD.jsonl`) this long after "
        "their day ended (e.g. `90d`). Today's file, and files from the day the oldest open run "
        "started on, are kept. Unset: keep forever.",
    )
    runs: PositiveDuration | None = Field(
        default=None,
        description="Keep finished runs this long after they ended (e.g. `180d`): then their "
        "attempts (rows, announced events, output files) go, except each item's latest "
        "finished attempt, and the run's row, steps and step output go once no attempt of it "
        "is left. A task's most recent run is kept. Unset: keep forever.",
    )
