"""Metrics as the verbs show them: a number per name, whole numbers without a fraction.

The figures come from the state (`StateStore.metrics_of_*`): an attempt's metric is the last
value it reported for the name, an item's the sum over its attempts, a task's the sum over
its items.
"""

from __future__ import annotations

from collections.abc import Mapping


def metric_value(value: float) -> int | float:
    """A stored metric as shown: an int when whole, else the float rounded to 6 places."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else round(value, 6)


def metrics_json(values: Mapping[str, float]) -> dict[str, int | float]:
    """The `metrics` object of a `--json` output, names sorted."""
    return {name: metric_value(values[name]) for name in sorted(values)}


def metrics_text(values: Mapping[str, float]) -> str:
    """`bytes=1234 seconds=2.5`, names sorted; empty when there are none."""
    return " ".join(f"{name}={value}" for name, value in metrics_json(values).items())
