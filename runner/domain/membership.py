"""The shrink guard: when a group resolution may replace the membership the state holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ShrinkRefusal:
    """Why a resolution is not applied: the counts, and the rule it broke in words."""

    current: int
    resolved: int
    dropped: int
    reason: str


def shrink_refusal(
    current: int, resolved: int, staying: int, *, min_members: int, max_drop: float
) -> ShrinkRefusal | None:
    """None when a resolution may be applied; else why not.

    `current`: members the state holds now; `resolved`: members the resolution gave;
    `staying`: current members among them. Refused: fewer than `min_members` resolved, or more
    than the share `max_drop` (0..1) of the current members dropped at once. A first
    resolution (no current member) drops nothing.
    """
    dropped = current - staying
    if resolved < min_members:
        reason = f"it gave {resolved} members, fewer than min_members ({min_members})"
        return ShrinkRefusal(current, resolved, dropped, reason)
    if current and dropped / current > max_drop:
        reason = (
            f"it would drop {dropped} of the {current} current members "
            f"({dropped / current:.0%}), more than max_drop ({max_drop:.0%})"
        )
        return ShrinkRefusal(current, resolved, dropped, reason)
    return None
