"""Notifications (`settings.notify`): Apprise messages made from the runner's own log events.

messages  which log events make which notifications, and their words
sender    the bounded queue and the background thread that sends them through Apprise
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from runner.errors import TemplateRenderError
from runner.logs.setup import BoundLogger, add_listener
from runner.notify.messages import SOURCE_EVENTS, Notification, notifications
from runner.templating import render_argv

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline
    from runner.notify.sender import Notifier

__all__ = ["SOURCE_EVENTS", "Notification", "notifications", "notifying"]


@contextmanager
def notifying(
    pipeline: Pipeline, env: Mapping[str, str], log: BoundLogger
) -> Iterator[Notifier | None]:
    """Send the notifications of `settings.notify` while the block runs (None: none configured).

    URL templates are rendered with `env`; one that cannot be (an unset variable) is left out
    and logged as `notify.failed`. On leaving, what is queued gets a bounded time to be sent.
    """
    rules = pipeline.settings.notify
    if not rules:
        yield None
        return
    from runner.notify.sender import Notifier, Target

    targets = []
    for index, rule in enumerate(rules):
        urls = []
        for number, template in enumerate(rule.urls, 1):
            try:
                urls.extend(render_argv([template], {"env": env}))
            except TemplateRenderError as exc:
                log.error(
                    "notify.failed",
                    rule=index,
                    kind=None,
                    error=f"URL {number} of settings.notify[{index}] cannot be rendered "
                    f"({exc}); it is left out",
                )
        targets.append(Target(index, frozenset(rule.events), tuple(urls)))
    notifier = Notifier(targets, log)
    remove: Callable[[], None] = add_listener(SOURCE_EVENTS, notifier.offer)
    try:
        yield notifier
    finally:
        remove()
        notifier.close()
