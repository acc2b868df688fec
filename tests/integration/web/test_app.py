"""The console's application in-process (starlette's TestClient) over a real state file:
pages, CSRF, read-only, sign-in, escaping, security headers, errors as pages."""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from runner import api, operations
from runner.system.user import os_user
from runner.web.app import Console, create_app
from runner.web.render import shown
from runner.web.users import add_user, read_users
from tests.integration.web.conftest import FAILED, HOSTILE
from tests.support.workspace import Workspace, settings


def client(
    ws: Workspace, *, users: dict[str, str] | None = None, read_only: bool = False
) -> TestClient:
    pipeline = api.load(ws.root / "pipeline.yaml")
    return TestClient(create_app(Console(pipeline, users, read_only)), follow_redirects=False)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def item_ids(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'name="item" value="([^"]*)"', page)]


def queue_of(ws: Workspace, item: str) -> str:
    page = operations.items(api.load(ws.root / "pipeline.yaml"), "t", match=item)
    return next(e.queue for e in page.items if e.id == item)


def test_overview_counts_and_headers(ran: Workspace) -> None:
    """The overview shows the task's counts per queue; every response has the security headers
    and the session cookie is HttpOnly and SameSite=Strict."""
    with client(ran) as web:
        response = web.get("/")
    assert 200 == response.status_code
    assert (
        'data-queue="successful" href="/items?task=t&amp;queue=successful">successful <b>4</b>'
        in response.text
    )
    assert "awaiting-intervention <b>3</b>" in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "DENY" == response.headers["x-frame-options"]
    assert "no-referrer" == response.headers["referrer-policy"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "<script>" not in response.text.replace(
        '<script src="/static/console.js" defer></script>', ""
    )


def test_live_fragment_and_static_files(ran: Workspace) -> None:
    """The polled fragment is the overview's body alone; the script and style are served."""
    with client(ran) as web:
        fragment = web.get("/live/overview")
        script = web.get("/static/console.js")
    assert 200 == fragment.status_code
    assert "<html" not in fragment.text and 'id="tasks"' in fragment.text
    assert 200 == script.status_code and "data-refresh" in script.text


def test_filter_finds_the_failed_items(ran: Workspace) -> None:
    """Filtering by category, by status and by text finds the failed items, and only them."""
    with client(ran) as web:
        by_category = web.get("/items", params={"task": "t", "category": "error"})
        by_status = web.get("/items", params={"task": "t", "status": "failed"})
        by_text = web.get("/items", params={"task": "t", "match": "FAIL-2"})
        paged = web.get("/items", params={"task": "t", "limit": "50", "offset": "6"})
    assert sorted(FAILED) == sorted(item_ids(by_category.text))
    assert sorted(FAILED) == sorted(item_ids(by_status.text))
    assert ["fail-2"] == item_ids(by_text.text)
    assert 1 == len(item_ids(paged.text))
    assert "items 7–7 of 7" in paged.text and 'id="prev"' in paged.text


def test_move_needs_the_sessions_csrf_token(ran: Workspace) -> None:
    """A POST without a token, or with another session's, is refused (403) and moves nothing."""
    with client(ran) as web, client(ran) as other:
        page = web.get("/items", params={"task": "t", "category": "error"}).text
        foreign = csrf_of(other.get("/items", params={"task": "t"}).text)
        form = {"task": "t", "to": "run-now", "item": FAILED[:2], "reason": "fixed"}
        missing = web.post("/move", data=form)
        wrong = web.post("/move", data={**form, "csrf": foreign})
    assert 403 == missing.status_code and 403 == wrong.status_code
    assert "CSRF" in missing.text
    assert "awaiting-intervention" == queue_of(ran, "fail-1")
    assert csrf_of(page) != foreign


def test_move_two_with_a_reason_records_the_os_user(ran: Workspace) -> None:
    """Without an auth file (loopback) the mover is the OS user; the reason is mandatory."""
    with client(ran) as web:
        page = web.get("/items", params={"task": "t", "category": "error"}).text
        form = {"csrf": csrf_of(page), "task": "t", "to": "run-now", "item": FAILED[:2]}
        refused = web.post("/move", data={**form, "reason": "  "})
        done = web.post(
            "/move", data={**form, "reason": "owner fixed the files", "back": "/items?task=t"}
        )
        after = web.get(done.headers["location"])
    assert 400 == refused.status_code and "needs a reason" in refused.text
    assert 303 == done.status_code
    assert "Moved 2 items to run-now." in after.text
    history = operations.history(api.load(ran.root / "pipeline.yaml"), "t", "fail-1")
    move = history.entries[-1]
    assert isinstance(move, operations.MoveEntry)
    assert (os_user(), "owner fixed the files", "run-now") == (move.by, move.reason, move.to_queue)
    assert "awaiting-intervention" == queue_of(ran, "fail-3")


def test_a_refused_move_is_a_page_saying_why(ran: Workspace) -> None:
    """An unknown item comes back as the library's message, and nothing moved."""
    with client(ran) as web:
        token = csrf_of(web.get("/items", params={"task": "t"}).text)
        response = web.post(
            "/move",
            data={
                "csrf": token,
                "task": "t",
                "to": "run-now",
                "item": ["fail-1", "ghost"],
                "reason": "x",
            },
        )
    assert 400 == response.status_code
    assert "nothing was moved: task 't' has no item 'ghost'" in html.unescape(response.text)
    assert "awaiting-intervention" == queue_of(ran, "fail-1")


def test_read_only_shows_no_form_and_refuses_posts(ran: Workspace) -> None:
    """--read-only: no selection boxes, no move controls, and a POST with a good token is refused."""
    with client(ran, read_only=True) as web:
        page = web.get("/items", params={"task": "t"}).text
        item = web.get("/item", params={"task": "t", "id": "fail-1"}).text
        token = csrf_of(page)
        response = web.post(
            "/move",
            data={"csrf": token, "task": "t", "to": "run-now", "item": ["fail-1"], "reason": "x"},
        )
    assert 'id="move"' not in page and 'id="move"' not in item and 'class="pick"' not in page
    assert "read-only" in page
    assert 403 == response.status_code and "read-only" in response.text
    assert "awaiting-intervention" == queue_of(ran, "fail-1")


def test_sign_in_and_the_mover_is_the_signed_in_user(ran: Workspace, tmp_path: Path) -> None:
    """With an auth file: strangers go to the sign-in page; a wrong password is 401; after
    signing in the mover is the user; signing out ends it."""
    auth = tmp_path / "users"
    add_user(auth, "alice", "correct horse")
    with client(ran, users=read_users(auth)) as web:
        assert "/signin" == web.get("/").headers["location"]
        assert 403 == web.post("/move", data={"task": "t"}).status_code
        form = web.get("/signin").text
        bad = web.post("/signin", data={"csrf": csrf_of(form), "user": "alice", "password": "no"})
        unknown = web.post("/signin", data={"csrf": csrf_of(form), "user": "bob", "password": "x"})
        good = web.post(
            "/signin", data={"csrf": csrf_of(form), "user": "alice", "password": "correct horse"}
        )
        assert (401, 401, 303) == (bad.status_code, unknown.status_code, good.status_code)
        page = web.get("/items", params={"task": "t"}).text
        assert "signed in as <bdi>alice</bdi>" in page
        assert csrf_of(page) != csrf_of(form)  # signing in starts a new session
        moved = web.post(
            "/move",
            data={
                "csrf": csrf_of(page),
                "task": "t",
                "to": "paused",
                "item": ["fail-3"],
                "reason": "wait",
            },
        )
        assert 303 == moved.status_code
        out = web.post("/signout", data={"csrf": csrf_of(page)})
        assert "/signin" == out.headers["location"]
        assert "/signin" == web.get("/").headers["location"]
    move = operations.history(api.load(ran.root / "pipeline.yaml"), "t", "fail-3").entries[-1]
    assert isinstance(move, operations.MoveEntry)
    assert "alice" == move.by


def test_a_forged_cookie_is_a_stranger(ran: Workspace, tmp_path: Path) -> None:
    """A cookie not signed by this console counts for nothing."""
    auth = tmp_path / "users"
    add_user(auth, "alice", "pw")
    with client(ran, users=read_users(auth)) as web:
        web.cookies.set("runner_console", "eyJ1IjogImFsaWNlIn0.00")
        assert 303 == web.get("/").status_code


def test_item_page_explains_history_and_output(ran: Workspace) -> None:
    """The item page: explain's sentence, the attempts, and both streams of the output."""
    with client(ran) as web:
        page = web.get("/item", params={"task": "t", "id": "fail-2"}).text
    assert "Not running: it is in the error queue awaiting-intervention" in page
    assert "attempt 1" in page
    assert "working on fail-2" in page and "it went wrong with fail-2" in page


def test_runs_page(ran: Workspace) -> None:
    """The runs page: each run's outcome and its attempts by status."""
    with client(ran) as web:
        page = web.get("/runs", params={"task": "t"}).text
    assert "completed-with-errors" in page
    assert "<bdi>ok</bdi> <b>4</b>" in page and "<bdi>failed</bdi> <b>3</b>" in page


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/items", {"task": "nope"}, "no task named 'nope'"),
        ("/items", {}, "needs its `task` parameter"),
        ("/items", {"task": "t", "category": "eror"}, "did you mean 'error'?"),
        ("/items", {"task": "t", "limit": "7"}, "`limit` is one of"),
        ("/item", {"task": "t", "id": "<b>nope</b>"}, "has no item '<b>nope</b>'"),
        ("/runs", {"task": "t", "offset": "-1"}, "must be a number"),
    ],
)
def test_mistakes_are_pages_saying_what_to_do(
    ran: Workspace, path: str, params: dict[str, str], message: str
) -> None:
    """A bad parameter is a 400 page with the library's words, never a traceback."""
    with client(ran) as web:
        response = web.get(path, params=params)
    assert 400 == response.status_code
    assert message in html.unescape(response.text)
    assert "<b>nope" not in response.text
    assert "Traceback" not in response.text


def test_unknown_page_is_404(ran: Workspace) -> None:
    """A URL the console does not have."""
    with client(ran) as web:
        assert 404 == web.get("/nowhere").status_code


def test_hostile_ids_render_as_text(hostile: Workspace) -> None:
    """Every hostile id appears escaped on the list and on its own page; no markup of theirs
    reaches the page and no template expression in an id is evaluated."""
    with client(hostile) as web:
        listing = web.get("/items", params={"task": "t"}).text
        pages = {i: web.get("/item", params={"task": "t", "id": i}) for i in HOSTILE}
    assert sorted([*HOSTILE, "fail-1"]) == sorted(item_ids(listing))
    for text in [listing, *(p.text for p in pages.values())]:
        assert "<script>alert" not in text
        assert "<img src=x" not in text
        assert "onerror=alert(1)>" not in text
    for item, response in pages.items():
        assert 200 == response.status_code, item
        assert f'<bdi class="id">{escape(shown(item))}</bdi>' in response.text
    assert "{{7*7}}" in pages["{{7*7}}"].text and ">49<" not in pages["{{7*7}}"].text
    assert "<bdi>\\u202eRTL-override</bdi>" in listing  # shown as its escape, not applied


def test_secrets_are_masked_in_output_and_moves(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret a script printed shows as *** on the item page, and a secret typed into a
    move's reason is kept (and shown) masked."""
    secret = "hunter2-web-secret"
    ws.script("leak.py", "import os\nprint('token is', os.environ['WEB_SECRET'])\n")
    ws.write(
        "pipeline.yaml",
        settings(2, "  secrets: [WEB_SECRET]\n")
        + textwrap.dedent(
            """
            groups:
              g: {members: [one]}
            definitions:
              d: {command: ["./leak.py"]}
            tasks:
              t: {definition: d, group: g}
            """
        ),
    )
    env = {"WEB_SECRET": secret}
    assert 0 == ws.runner("run", "pipeline.yaml", "--now", env=env).returncode
    monkeypatch.setenv("WEB_SECRET", secret)
    with client(ws) as web:
        item = web.get("/item", params={"task": "t", "id": "one"}).text
        done = web.post(
            "/move",
            data={
                "csrf": csrf_of(item),
                "task": "t",
                "to": "paused",
                "item": ["one"],
                "reason": f"rotate {secret} first",
                "back": "/item?task=t&id=one",
            },
        )
        after = web.get(done.headers["location"]).text
    assert "token is ***" in item
    assert "rotate *** first" in after
    assert secret not in item and secret not in after


def test_metrics_are_the_exposition_and_a_scraper_signs_in_with_basic_auth(
    ran: Workspace, tmp_path: Path
) -> None:
    """/metrics serves what `runner metrics` prints; with an auth file a scraper without (or
    with wrong) HTTP Basic credentials gets 401 and a challenge, a user of the file gets them."""
    from prometheus_client.parser import text_string_to_metric_families

    from runner.metrics import exposition

    with client(ran) as web:
        open_ = web.get("/metrics")
    assert 200 == open_.status_code
    assert open_.headers["content-type"].startswith("text/plain")
    expected, _ = exposition(api.load(ran.root / "pipeline.yaml"))
    families = {f.name for f in text_string_to_metric_families(open_.text)}
    assert families == {f.name for f in text_string_to_metric_families(expected.decode())}
    assert "runner_items" in families

    auth = tmp_path / "users"
    add_user(auth, "prometheus", "scrape me")
    with client(ran, users=read_users(auth)) as web:
        stranger = web.get("/metrics")
        wrong = web.get("/metrics", auth=("prometheus", "nope"))
        unknown = web.get("/metrics", auth=("mallory", "scrape me"))
        scraper = web.get("/metrics", auth=("prometheus", "scrape me"))
        page = web.get("/", auth=("prometheus", "scrape me"))
    assert (401, 401, 401, 200) == (
        stranger.status_code,
        wrong.status_code,
        unknown.status_code,
        scraper.status_code,
    )
    assert stranger.headers["www-authenticate"].startswith("Basic ")
    assert "DENY" == stranger.headers["x-frame-options"]
    assert "runner_items" in scraper.text
    # Basic credentials open /metrics only: the pages still want a signed-in session
    assert "/signin" == page.headers["location"]
