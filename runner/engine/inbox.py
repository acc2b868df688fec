"""The messages worker threads and signal handlers send the main loop, and the inbox they go through."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from runner.engine.active import ActiveRun
from runner.process import ProcessResult


@dataclass(frozen=True, slots=True)
class ItemFinished:
    """An attempt's process ended (or could not start)."""

    attempt_id: int
    result: ProcessResult


@dataclass(frozen=True, slots=True)
class StepFinished:
    """A run's start or finish step ended."""

    run: ActiveRun
    result: ProcessResult


@dataclass(frozen=True, slots=True)
class EventsArrived:
    """New complete lines in an attempt's events file, read at `at` (epoch seconds)."""

    attempt_id: int
    lines: list[bytes]
    at: float
    from_output: bool = False
    """Made by the definition's output rules from the attempt's output, not read from the file."""


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A recorded attempt was not launched after all (a stop, or its window closed meanwhile)."""

    attempt_id: int


@dataclass(frozen=True, slots=True)
class Wake:
    """Nothing to file: the loop should go round now."""


Message = ItemFinished | StepFinished | EventsArrived | Withdrawn | Wake


class Inbox:
    """One queue of messages for the main loop, and a `hurry` flag that cuts its batching pause short."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.hurry = threading.Event()

    def put(self, message: Message) -> None:
        """Send a message (any thread)."""
        self._queue.put(message)

    def get(self, timeout: float) -> Message | None:
        """The next message, waiting up to `timeout` seconds (0: do not wait); None if none came."""
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def size(self) -> int:
        """Messages waiting (approximate)."""
        return self._queue.qsize()
