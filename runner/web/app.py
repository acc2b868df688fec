"""The console's ASGI application: its routes, the session and sign-in gate, the security headers.

`ROUTES` is the one list of the console's URLs; a route handler reaches the loaded pipeline and
the settings through `console(request)`. Every page is server-rendered by the project's Jinja2
with autoescape on; the only script is static/console.js (polling a fragment, selecting rows).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from runner.web import pages
from runner.web.session import COOKIE, LIFETIME, Session, Signer
from runner.web.users import basic_user

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline

STATIC = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""On every response: no inline script or style, no framing, no referrer, nothing cached."""

OPEN_PATHS = ("/signin", "/static/")
"""What a browser that has not signed in may reach when the console has an auth file."""

METRICS_PATH = "/metrics"
"""The Prometheus exposition: with an auth file, a scraper signs in with HTTP Basic auth
(Prometheus's `basic_auth`) as one of its users; a signed-in browser may read it too."""

ROUTES: list[BaseRoute] = [
    Route("/", pages.overview, methods=["GET"]),
    Route("/live/overview", pages.overview_live, methods=["GET"]),
    Route("/items", pages.items_page, methods=["GET"]),
    Route("/move", pages.move, methods=["POST"]),
    Route("/item", pages.item_page, methods=["GET"]),
    Route("/runs", pages.runs_page, methods=["GET"]),
    Route("/signin", pages.signin_form, methods=["GET"]),
    Route("/signin", pages.signin, methods=["POST"]),
    Route("/signout", pages.signout, methods=["POST"]),
    Route(METRICS_PATH, pages.metrics, methods=["GET"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
"""Every URL of the console."""


@dataclass
class Console:
    """What the handlers share: the pipeline, who may sign in, whether changes are refused."""

    pipeline: Pipeline
    users: dict[str, str] | None
    """User name -> scrypt hash from the auth file; None: no sign-in (loopback only)."""
    read_only: bool = False
    signer: Signer = field(default_factory=Signer)


class _Gate(BaseHTTPMiddleware):
    """Opens the session cookie (or starts a session), sends strangers to sign in, adds headers."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        state: Console = request.app.state.console
        session = state.signer.open(request.cookies.get(COOKIE))
        fresh = session is None
        if session is None:
            session = Session.fresh()
        request.state.session = session
        needs_user = state.users is not None and not request.url.path.startswith(OPEN_PATHS)
        if needs_user and request.url.path == METRICS_PATH and session.user is None:
            # a scraper keeps no cookie: it names a user of the auth file on every request
            scraper = basic_user(state.users or {}, request.headers.get("authorization"))
            needs_user = scraper is None
            if needs_user:
                refused = Response(
                    "sign in with HTTP Basic auth as a user of the auth file\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="runner", charset="UTF-8"'},
                    media_type="text/plain",
                )
                refused.headers.update(SECURITY_HEADERS)
                return refused
            scraped = await call_next(request)
            scraped.headers.update(SECURITY_HEADERS)
            return scraped
        if needs_user and session.user is None:
            if request.method == "GET":
                response: Response = RedirectResponse("/signin", status_code=303)
            else:
                response = pages.refusal(request, 403, "sign in first")
        else:
            response = await call_next(request)
        replaced: Session | None = getattr(request.state, "new_session", None)
        if replaced is not None:
            session, fresh = replaced, True
        if fresh:
            response.set_cookie(
                COOKIE,
                state.signer.seal(session),
                max_age=LIFETIME,
                httponly=True,
                samesite="strict",
                path="/",
            )
        response.headers.update(SECURITY_HEADERS)
        return response


def create_app(console: Console) -> Starlette:
    """The console's application over a loaded pipeline."""
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(_Gate)],
        exception_handlers=pages.EXCEPTION_HANDLERS,
    )
    app.state.console = console
    return app
