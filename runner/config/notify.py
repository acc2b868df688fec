"""The `settings.notify` entries: where notifications go (Apprise URLs) and what triggers them."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, get_args

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from runner.config.fields import STRICT
from runner.templating import compile_template

NotifyEvent = Literal["run-failed", "error-items", "task-halted", "runner-offline"]
"""What can trigger a notification (docs/recipes.md says when each fires)."""

NOTIFY_EVENTS: Final[tuple[NotifyEvent, ...]] = get_args(NotifyEvent)

URL_NAMES: Final = frozenset({"env"})
"""The names a notification URL template may use."""


def _url_template(source: str) -> str:
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", source):
        raise ValueError(  # the value itself is not repeated: it may hold a token
            "not an Apprise URL: write scheme://..., e.g. json://hooks.example.com/runner "
            "or mailtos://user:{{ env.MAIL_PASSWORD }}@example.com"
        )
    compile_template(source, URL_NAMES)
    return source


UrlTemplate = Annotated[
    str,
    AfterValidator(_url_template),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9+.-]*://"}),
]


class NotifyRule(BaseModel):
    """Where to send notifications and which events send them."""

    model_config = STRICT

    urls: list[UrlTemplate] = Field(
        min_length=1,
        description="Apprise URLs (mail, chat, webhooks: `mailtos://`, `slack://`, `json://`, ...). "
        "Each is a template whose only name is `env`: keep tokens and passwords out of the file "
        "with `{{ env.NAME }}` and list NAME in `settings.secrets` so its value is masked "
        "everywhere. URLs are never logged.",
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS),
        min_length=1,
        description="What sends a notification (default: all). `run-failed`: a run ended "
        "`failed`. `error-items`: a run ended with items in error queues; one message per run "
        "listing them. `task-halted`: a task was halted. `runner-offline`: a site's runner "
        "stopped without a clean exit (its heartbeat went stale while this runner watched, or "
        "the next runner of its site found it so at start).",
    )
