"""A definition's `output_events`: rules turning lines of a tool's stdout/stderr into events.

Each rule's regular expression is searched in every complete output line (a line ends at a
newline or a carriage return, so progress redrawn with `\\r` counts; only the first
`RULE_LINE_LIMIT` characters of a line are searched). A matching line becomes one event of the
kind the rule names, with the same meaning as the same event written to RUNNER_EVENTS; which
named groups each kind takes is checked here, at load time.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from pydantic import BaseModel, Field, model_validator

from runner.config.fields import STRICT, Regex

RULE_LINE_LIMIT: Final = 4096
"""Characters of a line an output rule searches (the rest of a longer line is not searched)."""

EVENT_KINDS: Final = ("detail", "progress", "metric", "processed")

_GROUPS: Final = {
    "detail": "takes the group `detail` if the pattern has one, else the whole match",
    "progress": "needs the group `percent` (0-100), or the group `done` with the group `total` "
    "or the rule's `total`",
    "metric": "makes a metric of every named group, named after it (its text must be a number)",
    "processed": "needs the group `id`: the sub-id processed",
}


class OutputRule(BaseModel):
    """Turns each line of the attempt's output that matches `match` into one event."""

    model_config = STRICT

    match: Regex = Field(
        description="A regular expression (Python `re` syntax) searched in each line of output; "
        "named groups `(?P<name>...)` carry the values. Only the first 4096 characters of a line "
        "are searched.",
    )
    event: Literal["detail", "progress", "metric", "processed"] = Field(
        description="The event a matching line makes, as if written to RUNNER_EVENTS. detail: the "
        "group `detail`, else the whole match. progress: the group `percent` (0-100), or `done` "
        "over `total` (a group, or the rule's `total`). metric: every named group is a metric of "
        "that name; its text must be a number (`1,234` and `12.5` are read; put the unit in the "
        "group's name, e.g. `bytes`). processed: the group `id` is the sub-id.",
    )
    stream: Literal["stdout", "stderr", "both"] = Field(
        default="both",
        description="Which output stream the rule reads.",
    )
    total: float | None = Field(
        default=None,
        gt=0,
        description="progress only: the fixed total that the group `done` counts towards, for a "
        "tool that prints no total.",
    )

    @model_validator(mode="after")
    def _groups_fit_the_event(self) -> OutputRule:
        names = set(re.compile(self.match).groupindex)
        problem = _group_problem(self.event, names, self.total is not None)
        if problem:
            shown = ", ".join(sorted(names)) or "none"
            raise ValueError(
                f"{problem}; a {self.event} rule {_GROUPS[self.event]} (named groups in this "
                f"pattern: {shown})"
            )
        return self


def _group_problem(event: str, names: set[str], has_total: bool) -> str | None:
    """What is wrong with the named groups of a pattern for `event`, or None."""
    if event == "progress":
        if "percent" in names:
            extra = names & {"done", "total"}
            return (
                f"the groups percent and {', '.join(sorted(extra))} exclude each other"
                if extra
                else None
            )
        if "done" not in names:
            return "no group `percent` or `done`"
        if "total" not in names and not has_total:
            return "the group `done` counts towards nothing: add a group `total` or `total:`"
        if "total" in names and has_total:
            return "`total` is both a group and a key: keep one"
        return None
    if has_total:
        return f"`total` is for progress rules only, not {event}"
    if event == "metric" and not names:
        return "no named group"
    if event == "processed" and "id" not in names:
        return "no group `id`"
    return None
