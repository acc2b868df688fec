"""Limits per attribute: at most N items of a task at once per value of an item attribute.

An item's value for a limit is its attribute's text; an item without the attribute counts
under the empty value (so all such items share one cap). Items count while they have an
open attempt (recorded as started, launched or about to be). Picking the next items to
start keeps the dispatch order (runner.domain.dispatch) and skips only the items a full
limit holds back, so an item with another value behind them is not starved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `most` items at once per value of attribute `per`."""

    per: str
    most: int


class Attributed(Protocol):
    """What the rule reads of an item."""

    @property
    def attributes(self) -> Mapping[str, str]: ...


Item = TypeVar("Item", bound=Attributed)

Running = Mapping[tuple[str, str], int]
"""How many items run now per (attribute, value)."""


def value_of(attributes: Mapping[str, str], per: str) -> str:
    """The item's value for a limit on `per` ('' when it lacks the attribute)."""
    return attributes.get(per, "")


def count_running(
    items: Iterable[Mapping[str, str]], limits: Sequence[Limit]
) -> dict[tuple[str, str], int]:
    """Per (attribute, value), how many of these running items' attributes fall under it."""
    counts: dict[tuple[str, str], int] = {}
    for attributes in items:
        for limit in limits:
            key = (limit.per, value_of(attributes, limit.per))
            counts[key] = counts.get(key, 0) + 1
    return counts


def holding(
    attributes: Mapping[str, str], limits: Sequence[Limit], running: Running
) -> tuple[Limit, str, int] | None:
    """The first limit that holds this item back now, with its value and running count."""
    for limit in limits:
        value = value_of(attributes, limit.per)
        count = running.get((limit.per, value), 0)
        if count >= limit.most:
            return limit, value, count
    return None


def full_values(limits: Sequence[Limit], running: Running) -> dict[str, set[str]]:
    """Per attribute, the values whose limit is reached (no item with them may start)."""
    full: dict[str, set[str]] = {}
    by_per = {limit.per: limit.most for limit in limits}
    for (per, value), count in running.items():
        most = by_per.get(per)
        if most is not None and count >= most:
            full.setdefault(per, set()).add(value)
    return full


def admit(
    candidates: Iterable[Item], limits: Sequence[Limit], running: Running, free: int
) -> list[Item]:
    """The first `free` candidates (in their order) that no limit holds back, counting the
    ones admitted before them."""
    counts = dict(running)
    chosen: list[Item] = []
    for item in candidates:
        if len(chosen) >= free:
            break
        if holding(item.attributes, limits, counts) is not None:
            continue
        chosen.append(item)
        for limit in limits:
            key = (limit.per, value_of(item.attributes, limit.per))
            counts[key] = counts.get(key, 0) + 1
    return chosen


def describe(limit: Limit, value: str, count: int) -> str:
    """`limit server=imap1: 2 of 2 running`."""
    shown = value if value else "(none)"
    return f"limit {limit.per}={shown}: {count} of {limit.most} running"
