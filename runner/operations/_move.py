"""`runner move`: move items between queues by hand, all or nothing, in one transaction."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.domain import queues as q
from runner.domain.timefmt import iso
from runner.errors import UsageError
from runner.operations._common import check_queue_name, check_task
from runner.state import ItemRow, StateStore, open_store, state_exists
from runner.system.fs import file_modes
from runner.system.user import os_user

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


class MoveRefusedError(UsageError):
    """Raised when `runner move` refuses at least one item; nothing was moved."""


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """One item moved; `pending` when it was running and the move applies when its attempt ends."""

    item: str
    from_queue: str
    to_queue: str
    at: float
    by: str
    reason: str
    pending: bool

    def to_json(self) -> dict[str, Any]:
        """One element of `moves` in `move --json`."""
        return {
            "item": self.item,
            "from": self.from_queue,
            "to": self.to_queue,
            "at": iso(self.at),
            "by": self.by,
            "reason": self.reason,
            "pending": self.pending,
        }


@dataclass(frozen=True, slots=True)
class MoveOutcome:
    """What `runner move` did."""

    task: str
    to_queue: str
    moves: list[MoveRecord]

    @property
    def pending(self) -> int:
        """Moves waiting for a running attempt to end."""
        return sum(1 for m in self.moves if m.pending)

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `move --json`."""
        return {
            "task": self.task,
            "to": self.to_queue,
            "moved": len(self.moves),
            "pending": self.pending,
            "moves": [m.to_json() for m in self.moves],
        }


def move(
    pipeline: Pipeline,
    task: str,
    to_queue: str,
    item_ids: Sequence[str] = (),
    *,
    from_queue: str | None = None,
    reason: str = "",
    by: str | None = None,
    now: float | None = None,
    env: Mapping[str, str] | None = None,
    via: str = "runner move",
) -> MoveOutcome:
    """Move items by hand: the named ones, or (with only `from_queue`) every item of a queue.

    All or nothing: unknown ids, or any item `queues.check_move` refuses (or, with both ids
    and `from_queue`, a named item not in that queue), raise `UsageError` /
    `MoveRefusedError` and nothing moves. The moves are one transaction; a running item's
    move waits for its attempt to end. Who is `by` or the OS user; `by` and `reason` are
    masked like every other text the runner keeps. Each move is logged as `item.moved`.
    A move to `successful` needs a `reason` (`queues.check_reason`); any other move without
    one records the default `moved by <who> with <via>`.
    Safe while a runner works: no lock is taken, the state's own transactions order it.
    """
    from runner.logs import close_logging, configure_logging, get_logger
    from runner.masking import Masker

    if not item_ids and from_queue is None:
        raise UsageError(
            "name the items to move, or give --from-queue Q to move every item of a queue"
        )
    check_queue_name(to_queue, "target")
    if from_queue is not None:
        check_queue_name(from_queue, "source")
    refusal = q.check_reason(to_queue, reason)
    if refusal is not None:
        raise MoveRefusedError(f"nothing was moved: {refusal}")
    instant = time.time() if now is None else now
    masker = Masker.from_env(pipeline.settings.secrets, os.environ if env is None else env)
    who = masker.mask_text(by if by else os_user())
    why = masker.mask_text(reason.strip() or f"moved by {who} with {via}")
    path = pipeline.state_location
    if not state_exists(path):
        raise UsageError(
            f"task {task!r} has no items to move: there is no state file at {path} "
            f"(run it first: runner run --task {task} --now)"
        )
    site = pipeline.task_site(task) if task in pipeline.tasks else pipeline.settings.site
    with file_modes(pipeline.settings.file_mode):
        configure_logging(
            log_dir=pipeline.logs_dir,
            stderr_format="json",
            masker=masker,
            level="warning",  # the file gets `info` and above; stderr stays quiet
        )
        try:
            store = open_store(path)
            try:
                check_task(pipeline, store, task)
                with store.batch():
                    rows = _rows_to_move(store, task, item_ids, from_queue)
                    _refuse(task, to_queue, rows, from_queue if item_ids else None)
                    moved = [
                        store.move_item(
                            task, row.item_id, to_queue=to_queue, by=who, reason=why, now=instant
                        )
                        for row in rows
                    ]
            finally:
                store.close()
            log = get_logger(site=site)
            records = []
            for done in moved:
                record = MoveRecord(
                    item=done.item_id,
                    from_queue=done.from_queue,
                    to_queue=done.to_queue,
                    at=done.at,
                    by=done.by,
                    reason=done.reason,
                    pending=done.applied_at is None,
                )
                records.append(record)
                log.info(
                    "item.moved",
                    task=task,
                    item=record.item,
                    from_queue=record.from_queue,
                    to_queue=record.to_queue,
                    by=record.by,
                    reason=record.reason,
                    pending=record.pending,
                )
            return MoveOutcome(task, to_queue, records)
        finally:
            close_logging()


def _rows_to_move(
    store: StateStore, task: str, item_ids: Sequence[str], from_queue: str | None
) -> list[ItemRow]:
    if item_ids:
        wanted = list(dict.fromkeys(item_ids))
        found = store.find_items(task, wanted)
        unknown = [i for i in wanted if i not in found]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            noun = "item" if len(unknown) == 1 else "items"
            raise UsageError(
                f"nothing was moved: task {task!r} has no {noun} {shown}{more}; "
                f"find ids with: runner items --task {task} --match TEXT"
            )
        return [found[i] for i in wanted]
    assert from_queue is not None
    ids = store.item_ids_in_queue(task, from_queue)
    found = store.find_items(task, ids)
    return [found[i] for i in ids]


def _refuse(task: str, to_queue: str, rows: Sequence[ItemRow], only_from: str | None) -> None:
    """Raise MoveRefusedError listing every refused item, grouped by the reason."""
    refused: dict[str, list[str]] = {}
    for row in rows:
        current = row.pending_queue or row.queue
        if only_from is not None and current != only_from:
            why = f"it is in '{current}', not in '{only_from}'"
        else:
            why = q.check_move(current, to_queue, missing_attributes=row.missing) or ""
            if why:
                why = f"in '{current}': {why}"
        if why:
            refused.setdefault(why, []).append(row.item_id)
    if not refused:
        return
    count = sum(len(ids) for ids in refused.values())
    lines = [
        f"nothing was moved: {count} of {len(rows)} items of task {task!r} "
        f"cannot go to '{to_queue}':"
    ]
    for why, ids in refused.items():
        shown = ", ".join(repr(i) for i in ids[:5])
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        lines.append(f"  {shown}{more}: {why}")
    raise MoveRefusedError("\n".join(lines))
