"""The console in a real headless Chromium (Debian's chromium and chromedriver, driven by Selenium)
against a real `runner web` process over states made by real `runner run`s.

Both browser and driver paths are given, so Selenium never looks for or downloads either.
Without them the tests skip locally and fail under CI. With RUNNER_SCREENSHOTS=DIR set, each
page is saved as DIR/<page>.png (docs/console/ holds the ones taken for the docs).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from runner import exitcodes
from runner.web.render import shown
from runner.web.users import add_user
from tests.integration.web.conftest import HOSTILE
from tests.integration.web.console import console
from tests.support.system import require_system
from tests.support.workspace import Workspace

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
EXAMPLES = Path(__file__).resolve().parents[3] / "pipelines"
TASK = "archive-migration"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the module; alerts are left open so a test can see them."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            require_system(package, f"{path} drives the console's browser tests")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    options.unhandled_prompt_behavior = "ignore"
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def example(ws: Workspace) -> Workspace:
    """The README's example: the example pipelines copied, the archive migration run once."""
    shutil.copytree(EXAMPLES, ws.root / "pipelines", ignore=shutil.ignore_patterns(".runner"))
    result = ws.runner("run", "pipelines", "--task", TASK, "--now")
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    return ws


def cli_json(ws: Workspace, *args: str) -> Any:
    result = ws.runner(*args, "--json")
    assert exitcodes.OK == result.returncode, result.stderr
    return json.loads(result.stdout)


def screenshot(driver: WebDriver, name: str) -> None:
    """Save the page as RUNNER_SCREENSHOTS/<name>.png when that variable is set."""
    folder = os.environ.get("RUNNER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def no_alert(driver: WebDriver) -> None:
    """Fail if any script opened a dialog."""
    with contextlib.suppress(TimeoutException):
        WebDriverWait(driver, 0.5).until(expected_conditions.alert_is_present())
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    pytest.fail(f"a script ran on the page and opened a dialog: {text!r}")


def follow(driver: WebDriver, element: WebElement) -> None:
    """Click a link or a submit button and wait until the next page replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(page))


def listed_ids(driver: WebDriver) -> list[str]:
    return [
        box.get_attribute("value") or ""
        for box in driver.find_elements(By.CSS_SELECTOR, "#items input.pick")
    ]


def counts_shown(driver: WebDriver) -> dict[str, int]:
    """The overview's counts per queue of the example task, and its total under "total".

    Read in one script, which runs between two of the page's fragment refreshes: elements found
    one call at a time could be replaced by a refresh in between (a stale reference)."""
    found: dict[str, int] = driver.execute_script(
        """
        const row = document.querySelector(`tr.task[data-task="${arguments[0]}"]`);
        const counts = {};
        for (const link of row.querySelectorAll("a.count")) {
            counts[link.getAttribute("data-queue") || ""] = Number(link.querySelector("b").textContent);
        }
        counts.total = Number(row.querySelector("td.total").textContent);
        return counts;
        """,
        TASK,
    )
    return found


def test_overview_shows_the_example_counts_and_follows_changes(
    browser: WebDriver, example: Workspace
) -> None:
    """The overview's counts are `status --json`'s; a move made by the CLI shows up without a
    reload (the page polls its fragment)."""
    status = cli_json(example, "status", "pipelines", "--task", TASK)
    expected = {q: n for q, n in status["tasks"][0]["queues"].items() if n}
    with console(example, path="pipelines") as web:
        browser.get(web.url)
        shown = counts_shown(browser)
        assert status["tasks"][0]["total"] == shown.pop("total")
        assert expected == shown
        screenshot(browser, "overview")
        moved = example.runner(
            "move", "pipelines", "--task", TASK, "--to", "paused", "--from-queue", "corrupt"
        )
        assert exitcodes.OK == moved.returncode, moved.stderr
        WebDriverWait(browser, 30, poll_frequency=0.5).until(
            lambda driver: counts_shown(driver).get("paused") == 1
        )
        assert "corrupt" not in counts_shown(browser)
        no_alert(browser)


def test_filter_find_move_two_and_see_them_in_history(
    browser: WebDriver, example: Workspace
) -> None:
    """Filtering by category finds the failed items; two of them moved to run-now with a
    reason are moved, and their history says so with the OS user as the mover."""
    failed = [
        e["id"]
        for e in cli_json(example, "items", "pipelines", "--task", TASK, "--category", "error")
    ]
    assert len(failed) >= 2
    with console(example, path="pipelines") as web:
        browser.get(web.url)
        follow(browser, browser.find_element(By.LINK_TEXT, TASK))
        Select(browser.find_element(By.ID, "category")).select_by_visible_text("error")
        follow(browser, browser.find_element(By.ID, "apply"))
        assert sorted(failed) == sorted(listed_ids(browser))
        screenshot(browser, "items")
        for item in failed[:2]:
            browser.find_element(By.CSS_SELECTOR, f'input.pick[value="{item}"]').click()
        Select(browser.find_element(By.ID, "to")).select_by_visible_text("run-now")
        browser.find_element(By.ID, "reason").send_keys("the owner fixed them")
        follow(browser, browser.find_element(By.ID, "move"))
        notice = browser.find_element(By.ID, "notice").text
        assert "Moved 2 items to run-now." == notice
        assert sorted(failed[2:]) == sorted(listed_ids(browser))  # the filter is kept
        no_alert(browser)
    for item in failed[:2]:
        history = cli_json(example, "history", "pipelines", "--task", TASK, item)
        move = history[-1]
        assert ("move", "run-now", "the owner fixed them") == (
            move["kind"],
            move["to"],
            move["reason"],
        )
        assert move["by"]


def test_item_page_shows_the_attempt_output(browser: WebDriver, example: Workspace) -> None:
    """From the list to an item: its explanation, its history and its attempt's output."""
    item = "arch-0011-locked"
    with console(example, path="pipelines") as web:
        browser.get(web.url + f"items?task={TASK}&match=locked")
        follow(browser, browser.find_element(By.LINK_TEXT, item))
        assert item == browser.find_element(By.CSS_SELECTOR, "h1 bdi").text
        summary = browser.find_element(By.CSS_SELECTOR, "#explain .summary").text
        assert "error queue password-protected" in summary
        stdout = browser.find_element(By.CSS_SELECTOR, "#attempt-1 pre.stdout").text
        stderr = browser.find_element(By.CSS_SELECTOR, "#attempt-1 pre.stderr").text
        assert f"migrating {item}" in stdout
        assert "password protected" in stderr
        screenshot(browser, "item")
        follow(browser, browser.find_element(By.LINK_TEXT, "items of " + TASK))
        follow(browser, browser.find_element(By.LINK_TEXT, "runs"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
        assert 1 == len(rows) and "completed-with-errors" in rows[0].text
        screenshot(browser, "runs")
        no_alert(browser)


def test_a_form_without_its_csrf_token_is_refused(browser: WebDriver, ran: Workspace) -> None:
    """The move form with its token taken out is refused (403) and nothing moves."""
    with console(ran) as web:
        browser.get(web.url + "items?task=t&category=error")
        browser.find_element(By.CSS_SELECTOR, 'input.pick[value="fail-1"]').click()
        browser.find_element(By.ID, "reason").send_keys("no token")
        browser.execute_script("document.querySelector('#move-form input[name=csrf]').remove()")
        follow(browser, browser.find_element(By.ID, "move"))
        assert "403" == browser.find_element(By.TAG_NAME, "h1").text
        assert "CSRF" in browser.find_element(By.ID, "message").text
    assert (
        "awaiting-intervention"
        == cli_json(ran, "items", "pipeline.yaml", "--task", "t", "--match", "fail-1")[0]["queue"]
    )


def test_hostile_ids_render_as_text(browser: WebDriver, hostile: Workspace) -> None:
    """Each hostile id shows as the very text it is (a bidirectional override as its visible
    escape), on the list and on its page; no script of theirs runs (no dialog opens) and no
    template expression is evaluated."""
    with console(hostile) as web:
        browser.get(web.url + "items?task=t")
        no_alert(browser)
        assert sorted([*HOSTILE, "fail-1"]) == sorted(listed_ids(browser))
        texts = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#items td.id a")]
        assert sorted(shown(i) for i in [*HOSTILE, "fail-1"]) == sorted(texts)
        assert not browser.find_elements(By.CSS_SELECTOR, "#items img")
        screenshot(browser, "hostile")
        for item in HOSTILE:
            browser.get(web.url + "items?task=t")
            link = next(
                a
                for a in browser.find_elements(By.CSS_SELECTOR, "#items td.id a")
                if a.text == shown(item)
            )
            follow(browser, link)
            no_alert(browser)
            assert shown(item) == browser.find_element(By.CSS_SELECTOR, "h1 bdi").text
            assert not browser.find_elements(By.CSS_SELECTOR, "main img")


def test_sign_in_and_the_mover_is_the_signed_in_user(
    browser: WebDriver, ran: Workspace, tmp_path: Path
) -> None:
    """With an auth file: the console asks to sign in; a wrong password is refused; signed in,
    a move is recorded with the user's name."""
    auth = tmp_path / "users"
    add_user(auth, "alice", "correct horse")
    browser.delete_all_cookies()
    with console(ran, "--auth-file", str(auth)) as web:
        browser.get(web.url)
        assert browser.current_url.endswith("/signin")
        screenshot(browser, "signin")
        browser.find_element(By.ID, "user").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys("wrong")
        follow(browser, browser.find_element(By.ID, "signin"))
        assert "wrong password" in browser.find_element(By.ID, "message").text
        browser.find_element(By.ID, "user").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys("correct horse")
        follow(browser, browser.find_element(By.ID, "signin"))
        assert "signed in as alice" in browser.find_element(By.CSS_SELECTOR, "nav .who").text
        browser.get(web.url + "item?task=t&id=fail-2")
        Select(browser.find_element(By.ID, "to")).select_by_visible_text("paused")
        browser.find_element(By.ID, "reason").send_keys("waiting for the owner")
        follow(browser, browser.find_element(By.ID, "move"))
        moves = browser.find_elements(By.CSS_SELECTOR, "#history tr.move")
        assert 1 == len(moves) and "move by alice" in moves[0].text
    history = cli_json(ran, "history", "pipeline.yaml", "--task", "t", "fail-2")
    assert ("alice", "paused", "waiting for the owner") == (
        history[-1]["by"],
        history[-1]["to"],
        history[-1]["reason"],
    )


def test_the_dialog_check_sees_a_dialog(browser: WebDriver) -> None:
    """no_alert, which the escaping tests rely on, does fail when a script opens a dialog."""
    browser.get("data:text/html,<p>page</p>")
    browser.execute_script("window.setTimeout(() => alert('ran'), 0)")
    with pytest.raises(pytest.fail.Exception, match="opened a dialog: 'ran'"):
        no_alert(browser)
    browser.switch_to.alert.dismiss()


def test_read_only_console_has_no_move_controls(browser: WebDriver, ran: Workspace) -> None:
    """--read-only: no selection boxes, no move button, and the header says so."""
    with console(ran, "--read-only") as web:
        browser.get(web.url + "items?task=t")
        assert not browser.find_elements(By.CSS_SELECTOR, "input.pick")
        assert not browser.find_elements(By.ID, "move")
        assert "read-only" in browser.find_element(By.CSS_SELECTOR, "nav").text
