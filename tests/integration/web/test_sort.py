"""Sorting a task's items: `runner items --sort` and the console's items page share it."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from runner import api, exitcodes
from runner.web.app import Console, create_app
from tests.integration.web.test_app import item_ids
from tests.support.workspace import Workspace


def cli_ids(ws: Workspace, *args: str) -> list[str]:
    result = ws.runner("items", "pipeline.yaml", "--task", "t", "--json", *args)
    assert exitcodes.OK == result.returncode, result.stderr
    return [e["id"] for e in json.loads(result.stdout)]


def test_sorts_by_id_attempts_and_update(ran: Workspace) -> None:
    """fail-2 runs a second time: it leads by attempts and by update; by id the order is the
    ids'; the listing order is unchanged; the page shows what the CLI prints."""
    moved = ran.runner("move", "pipeline.yaml", "--task", "t", "--to", "run-now", "fail-2")
    assert exitcodes.OK == moved.returncode, moved.stderr
    again = ran.runner("run", "pipeline.yaml", "--task", "t")
    assert exitcodes.ITEMS_IN_ERROR == again.returncode, again.stderr
    everything = cli_ids(ran)
    assert sorted(everything) == cli_ids(ran, "--sort", "id")
    assert "fail-2" == cli_ids(ran, "--sort", "attempts")[0]
    assert "fail-2" == cli_ids(ran, "--sort", "updated")[0]
    assert ["fail-1", "fail-2"] == cli_ids(ran, "--sort", "id", "--limit", "2")
    assert ["fail-3"] == cli_ids(ran, "--sort", "id", "--category", "error", "--offset", "2")
    with TestClient(create_app(Console(api.load(ran.root / "pipeline.yaml"), None))) as web:
        page = web.get("/items", params={"task": "t", "sort": "id", "limit": "50"})
        bad = web.get("/items", params={"task": "t", "sort": "size"})
    assert cli_ids(ran, "--sort", "id") == item_ids(page.text)
    assert 400 == bad.status_code and "sorts are: listing, id, updated, attempts" in bad.text
    wrong = ran.runner("items", "pipeline.yaml", "--task", "t", "--sort", "size")
    assert exitcodes.BAD_CONFIG == wrong.returncode and "invalid choice" in wrong.stderr
