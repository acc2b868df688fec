"""Sending notifications off the engine's path: a bounded queue and one background thread.

The engine never waits on the network: a log event that makes a notification only puts it
in a queue (`offer`, never blocking; a full queue drops it and says so). One daemon thread
sends each through Apprise to the URLs of every `settings.notify` entry that lists its kind,
and logs `notify.sent` or `notify.failed`; nothing it does can fail a run. When the runner
exits, `close` gives the thread a bounded time to send what is queued.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import apprise

from runner.logs.setup import BoundLogger
from runner.masking import Masker
from runner.notify.messages import Notification, notifications

QUEUE_SIZE: Final = 100
"""Notifications waiting to be sent; more are dropped (and `notify.failed` says how many)."""

DRAIN_SECONDS: Final = 15.0
"""How long an exiting runner waits for queued notifications to be sent."""

_STOP: Final = Notification("", "", "")


@dataclass(frozen=True)
class Target:
    """One `settings.notify` entry, its URLs rendered: where its kinds of notification go."""

    index: int
    kinds: frozenset[str]
    urls: tuple[str, ...]


class _Collect(logging.Handler):
    """Apprise's warnings and errors while one notification is sent (they say why it failed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Notifier:
    """Turns log events into notifications and sends them on its own thread."""

    def __init__(self, targets: Sequence[Target], log: BoundLogger) -> None:
        self._log = log
        self._masker = Masker(url for target in targets for url in target.urls)
        self._queue: queue.Queue[Notification] = queue.Queue(QUEUE_SIZE)
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._said = _Collect()
        self._apprise_log = logging.getLogger("apprise")
        self._apprise_log.addHandler(self._said)  # Apprise's own lines: into notify.failed
        self._targets: list[tuple[Target, apprise.Apprise]] = []
        for target in targets:
            services = apprise.Apprise()
            for number, url in enumerate(target.urls, 1):
                if not services.add(url):
                    log.error(
                        "notify.failed",
                        rule=target.index,
                        kind=None,
                        error=f"URL {number} of settings.notify[{target.index}] is not one "
                        "Apprise can send to (unknown scheme or malformed); it is left out",
                    )
            if len(services):
                self._targets.append((target, services))
        self._thread = threading.Thread(target=self._run, name="runner-notify", daemon=True)
        self._thread.start()

    def offer(self, event: Mapping[str, Any]) -> None:
        """Queue the notifications a log event makes (a log listener: never blocks or raises)."""
        for note in notifications(event):
            if not any(note.kind in target.kinds for target, _ in self._targets):
                continue
            try:
                self._queue.put_nowait(note)
            except queue.Full:
                with self._dropped_lock:
                    self._dropped += 1

    def close(self, wait: float = DRAIN_SECONDS) -> None:
        """Send what is queued, waiting at most `wait` seconds, then stop the thread."""
        deadline = time.monotonic() + wait
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=wait)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._apprise_log.removeHandler(self._said)
        if self._thread.is_alive():
            self._log.error(
                "notify.failed",
                rule=None,
                kind=None,
                error=f"the runner exits: {self._queue.qsize()} notifications queued and one "
                f"being sent after waiting {wait:g} s are not sent",
            )

    def _run(self) -> None:
        while True:
            note = self._queue.get()
            if note is _STOP:
                self._report_dropped()
                return
            self._report_dropped()
            for target, services in self._targets:
                if note.kind in target.kinds:
                    self._send(target, services, note)

    def _send(self, target: Target, services: apprise.Apprise, note: Notification) -> None:
        fields = {"rule": target.index, "kind": note.kind, "title": note.title}
        self._said.lines.clear()
        try:
            sent = bool(services.notify(body=note.body, title=note.title))
            said = " ".join(self._said.lines)
        except Exception as exc:  # a broken plugin must not end the thread
            sent, said = False, f"{type(exc).__name__}: {exc}"
        if sent:
            self._log.info("notify.sent", services=len(services), **fields)
            return
        detail = " ".join(said.split())[-500:] or "Apprise reported a failure"
        self._log.warning("notify.failed", error=self._masker.mask_text(detail), **fields)

    def _report_dropped(self) -> None:
        with self._dropped_lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            self._log.error(
                "notify.failed",
                rule=None,
                kind=None,
                error=f"{dropped} notifications dropped: more than {QUEUE_SIZE} were waiting",
            )
