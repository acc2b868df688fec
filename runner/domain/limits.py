"""Limits per attribute: at most N items of a task at once per value of an item attribute.

An item's value for a limit is its attribute's text; an item without the attribute counts
under the empty value (so all such items share one cap). Picking the next items to start
keeps the dispatch order (runner.domain.dispatch) and skips only the items a full limit holds
back, so an item with another value behind them is not starved.

What counts: a runner records attempts a little ahead of a free slot (the lookahead). Those
wait, recorded, until their value has room (`Room`): only launched attempts count as
running in the runner that recorded them. Other runners' open attempts, recorded or
launched, all count against the room (`Room.set_others`), so the sum over runners never exceeds a
limit. Recording ahead is itself bounded per value (`widen`): a value's share of the
lookahead, so that a value that is full does not take the whole of it.
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


def without(counts: Running, some: Running) -> dict[tuple[str, str], int]:
    """Per (attribute, value), `counts` less `some` (never below 0): e.g. the open attempts
    that are not this runner's own."""
    found: dict[tuple[str, str], int] = {}
    for key, count in counts.items():
        rest = count - some.get(key, 0)
        if rest > 0:
            found[key] = rest
    return found


def widen(limits: Sequence[Limit], ahead: int, cap: int) -> list[Limit]:
    """The limits as attempts are recorded ahead against them: each one's most plus its share of
    the lookahead (`ahead` attempts over `cap` slots: ahead x most / cap, at least 1, at most
    `ahead`). Recorded attempts launch only while their value has room (`Room`)."""
    return [
        Limit(limit.per, limit.most + max(1, min(ahead, -(-ahead * limit.most // max(cap, 1)))))
        for limit in limits
    ]


class Room:
    """One runner's room per value for one run: how many of its attempts may run at once.

    A value's room is its limit less the other runners' open attempts (`set_others`, counted
    when attempts are recorded); `take` and `release` count this runner's launched attempts.
    Not thread-safe: its owner serialises the calls.
    """

    def __init__(self, limits: Sequence[Limit]) -> None:
        self.limits = list(limits)
        self._others: dict[tuple[str, str], int] = {}
        self._running: dict[tuple[str, str], int] = {}

    def set_others(self, counts: Running) -> bool:
        """What the other runners' open attempts take of each value's limit now; whether that
        changed."""
        if counts == self._others:
            return False
        self._others = dict(counts)
        return True

    def fits(self, attributes: Mapping[str, str]) -> bool:
        """Whether an attempt with these attributes may launch now."""
        for limit in self.limits:
            key = (limit.per, value_of(attributes, limit.per))
            if self._running.get(key, 0) + self._others.get(key, 0) >= limit.most:
                return False
        return True

    def take(self, attributes: Mapping[str, str]) -> None:
        """An attempt with these attributes launches."""
        for limit in self.limits:
            key = (limit.per, value_of(attributes, limit.per))
            self._running[key] = self._running.get(key, 0) + 1

    def release(self, attributes: Mapping[str, str]) -> None:
        """An attempt with these attributes ended."""
        for limit in self.limits:
            key = (limit.per, value_of(attributes, limit.per))
            left = self._running.get(key, 0) - 1
            if left > 0:
                self._running[key] = left
            else:
                self._running.pop(key, None)
