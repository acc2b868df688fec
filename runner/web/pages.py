"""The console's pages: each handler reads its parameters, calls `runner.operations`, renders.

No handler reads the state itself: every listing, count, rule and move is the library's, the
same the CLI verbs call. Changes are POSTs whose form carries the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from runner import operations
from runner.domain import queues as q
from runner.errors import RunnerError, UsageError
from runner.state import ITEM_SORTS
from runner.web.render import render
from runner.web.session import Session
from runner.web.users import check_password, hash_password

if TYPE_CHECKING:
    from runner.web.app import Console

PAGE_SIZES = (50, 100, 500, 1000)
"""The page sizes the items list offers."""
DEFAULT_PAGE = 100
MAX_FORM_BYTES = 1 << 20
"""A form larger than this is refused (the largest page of ids fits many times over)."""
OUTPUT_TAIL = 64 * 1024
"""The last bytes of each stream the item page shows of an attempt."""
OUTPUT_ATTEMPTS = 5
"""The item page shows the output of this many latest attempts (each one by its link)."""
MOVE_TARGETS = tuple(name for name in q.ALL_QUEUES if name in q.OPERATOR_TARGETS)
_DUMMY_HASH = hash_password("not a password", salt=b"\0" * 16)


def console(request: Request) -> Console:
    """The console this request reached."""
    found: Console = request.app.state.console
    return found


def session(request: Request) -> Session:
    """This browser's session (the gate opened or started it)."""
    found: Session = request.state.session
    return found


def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered with what every page shows (who is signed in, the CSRF token)."""
    state = console(request)
    current = getattr(request.state, "new_session", None) or session(request)
    body = render(
        template,
        user=current.user,
        auth=state.users is not None,
        csrf=current.csrf,
        read_only=state.read_only,
        pipeline_name=str(state.pipeline.root),
        **context,
    )
    return HTMLResponse(body, status_code=code)


def refusal(request: Request, status: int, message: str) -> HTMLResponse:
    """The error page: what went wrong, in the words of the library or the console."""
    return page(request, "error.html", status, status=status, message=message)


def _one(request: Request, name: str, *, required: bool = False) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise UsageError(f"the page needs its `{name}` parameter")
        return None
    return value


def _number(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise UsageError(f"`{name}` must be a number, 0 or more (got {value!r})")
    return int(value)


# -- reading pages -------------------------------------------------------------


def _overview_context(request: Request) -> dict[str, Any]:
    pipeline = console(request).pipeline
    return {
        "report": operations.status(pipeline),
        "next_fires": operations.next_fires(pipeline),
        "categories": q.CATEGORIES,
        "category_of": q.CATEGORY,
    }


def overview(request: Request) -> Response:
    """Every task and every site's runner; the body refreshes itself."""
    return page(request, "overview.html", **_overview_context(request))


def metrics(request: Request) -> Response:
    """The Prometheus exposition of the state, as `runner metrics` prints it."""
    from runner.metrics import exposition

    body, content_type = exposition(console(request).pipeline)
    return Response(body, media_type=content_type)


def overview_live(request: Request) -> Response:
    """The overview's body alone, for the page to poll."""
    return page(request, "overview_live.html", **_overview_context(request))


def items_page(request: Request) -> Response:
    """A task's items: filtered by queue, category, status and text; paged on the server."""
    task = _one(request, "task", required=True)
    assert task is not None
    queues = [v for v in request.query_params.getlist("queue") if v]
    limit = _number(request, "limit", DEFAULT_PAGE)
    if limit not in PAGE_SIZES:
        raise UsageError(f"`limit` is one of {', '.join(map(str, PAGE_SIZES))} (got {limit})")
    category, status, match = (_one(request, n) for n in ("category", "status", "match"))
    sort = _one(request, "sort") or "listing"
    filters = {
        "queue": queues,
        "category": category,
        "status": status,
        "match": match,
        "sort": None if sort == "listing" else sort,
    }
    result = operations.items(
        console(request).pipeline,
        task,
        queues=queues,
        category=category,
        status=status,
        match=match,
        limit=limit,
        offset=_number(request, "offset", 0),
        sort=sort,
    )
    moved = request.query_params.get("moved")
    return page(
        request,
        "items.html",
        task=task,
        result=result,
        filters=filters,
        limit=limit,
        page_sizes=PAGE_SIZES,
        all_queues=q.ALL_QUEUES,
        categories=q.CATEGORIES,
        sorts=ITEM_SORTS,
        sort=sort,
        targets=MOVE_TARGETS,
        moved=int(moved) if moved and moved.isdigit() else None,
        moved_to=request.query_params.get("to"),
    )


def item_page(request: Request) -> Response:
    """One item: why it is (not) running, its history, and its latest attempts' output."""
    task = _one(request, "task", required=True)
    item = request.query_params.get("id")
    assert task is not None
    if item is None:
        raise UsageError("the page needs its `id` parameter")
    pipeline = console(request).pipeline
    explanation = operations.explain(pipeline, task, item)
    history = operations.history(pipeline, task, item)
    attempts = [e for e in history.entries if isinstance(e, operations.AttemptEntry)]
    chosen = _number(request, "attempt", 0)
    shown = [a for a in attempts if a.number == chosen] if chosen else attempts[-OUTPUT_ATTEMPTS:]
    outputs = []
    for entry in reversed(shown):
        try:
            found: operations.AttemptOutput | str = operations.output(
                pipeline, task, item, attempt=entry.number, tail_bytes=OUTPUT_TAIL
            )
        except RunnerError as exc:
            found = str(exc)
        outputs.append((entry.number, found))
    return page(
        request,
        "item_page.html",
        task=task,
        item=item,
        explanation=explanation,
        history=history,
        outputs=outputs,
        attempt_numbers=[a.number for a in attempts],
        targets=MOVE_TARGETS,
        tail_bytes=OUTPUT_TAIL,
    )


def runs_page(request: Request) -> Response:
    """A task's runs, newest first, with outcome, attempts by status and duration."""
    task = _one(request, "task", required=True)
    assert task is not None
    result = operations.runs(
        console(request).pipeline,
        task,
        limit=operations.RUNS_LIMIT,
        offset=_number(request, "offset", 0),
    )
    return page(request, "runs.html", task=task, result=result)


# -- changes -------------------------------------------------------------------


async def form(request: Request) -> dict[str, list[str]]:
    """The POSTed form, refused (403) unless it carries this session's CSRF token."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise HTTPException(415, "the console takes forms as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form is not readable") from None
    token = fields.get("csrf", [None])[0]
    if not session(request).csrf_ok(token):
        raise HTTPException(
            403, "the form's CSRF token is missing or not this session's; reload the page"
        )
    return fields


def _field(fields: Mapping[str, list[str]], name: str) -> str:
    return fields.get(name, [""])[0]


async def move(request: Request) -> Response:
    """Move the selected items of a task to a queue, with the mandatory reason."""
    fields = await form(request)
    state = console(request)
    if state.read_only:
        raise HTTPException(403, "this console is read-only: nothing can be moved from it")
    task, to = _field(fields, "task"), _field(fields, "to")
    reason = _field(fields, "reason").strip()
    ids = fields.get("item", [])
    back = _field(fields, "back")
    if not back.startswith(("/items?", "/item?")):
        back = "/items?" + _query({"task": task})
    if not ids:
        raise UsageError("select at least one item to move")
    if not reason:
        raise UsageError("say why: a move needs a reason (it is kept in the item's history)")
    by = session(request).user if state.users is not None else None
    outcome = await run_in_threadpool(
        operations.move, state.pipeline, task, to, ids, reason=reason, by=by
    )
    if back.startswith("/items?"):
        back += "&" + _query({"moved": str(len(outcome.moves)), "to": to})
    return RedirectResponse(back, status_code=303)


def _query(values: Mapping[str, str]) -> str:
    return urlencode(values)


# -- signing in ------------------------------------------------------------------


def signin_form(request: Request) -> Response:
    """The sign-in page (the overview when the console has no auth file)."""
    if console(request).users is None:
        return RedirectResponse("/", status_code=303)
    return page(request, "signin.html", error=None)


async def signin(request: Request) -> Response:
    """Check a user name and password against the auth file; a new session on success."""
    fields = await form(request)
    users = console(request).users
    if users is None:
        return RedirectResponse("/", status_code=303)
    name, password = _field(fields, "user"), _field(fields, "password")
    stored = users.get(name)
    good = await run_in_threadpool(check_password, stored or _DUMMY_HASH, password)
    if stored is None or not good:
        return page(request, "signin.html", 401, error="unknown user or wrong password")
    request.state.new_session = Session.fresh(name)
    return RedirectResponse("/", status_code=303)


async def signout(request: Request) -> Response:
    """End the session: a fresh one without a user."""
    await form(request)
    request.state.new_session = Session.fresh()
    return RedirectResponse("/signin" if console(request).users is not None else "/", 303)


# -- errors ----------------------------------------------------------------------


def _usage(request: Request, exc: Exception) -> Response:
    return refusal(request, 400, str(exc))


def _failure(request: Request, exc: Exception) -> Response:
    return refusal(request, 500, str(exc))


def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return refusal(request, exc.status_code, str(exc.detail))


EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Response]] = {
    UsageError: _usage,
    RunnerError: _failure,
    HTTPException: _http,
}
"""A user's mistake is a 400 page saying what to do; a state problem a 500 page; never a trace."""
