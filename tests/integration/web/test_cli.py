"""`runner web` as a real process: where it may listen, the auth file, start and stop."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from runner import exitcodes
from runner.web.users import read_users
from tests.integration.web.console import NO_PROXY, console
from tests.support.workspace import Workspace


def add_user(
    ws: Workspace, file: Path, user: str, password: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", "web", "--auth-file", str(file), "--add-user", user],
        cwd=ws.root,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "address", ["0.0.0.0:8080", "192.0.2.1:9000", "[::]:8080", "example.org:80"]
)
def test_beyond_loopback_without_auth_file_refuses_to_start(ran: Workspace, address: str) -> None:
    result = ran.runner("web", "pipeline.yaml", "--listen", address, timeout=60)
    assert exitcodes.BAD_CONFIG == result.returncode
    assert "refusing to listen on" in result.stderr and "without --auth-file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("address", ["8080", "host:", "127.0.0.1:99999", "127.0.0.1:http"])
def test_a_bad_listen_address_is_a_usage_error(ran: Workspace, address: str) -> None:
    result = ran.runner("web", "pipeline.yaml", "--listen", address, timeout=60)
    assert exitcodes.BAD_CONFIG == result.returncode
    assert "is not HOST:PORT" in result.stderr


def test_add_user_writes_a_private_file_of_hashes(ran: Workspace, tmp_path: Path) -> None:
    """The password comes from standard input, never argv; the file is 0600 and holds no password."""
    file = tmp_path / "console-users"
    first = add_user(ran, file, "alice", "s3cret pass")
    again = add_user(ran, file, "alice", "another")
    bob = add_user(ran, file, "bob", "b0b")
    assert [0, 0, 0] == [first.returncode, again.returncode, bob.returncode], first.stderr
    assert (
        "added user alice" in first.stdout and "changed the password of user alice" in again.stdout
    )
    assert 0o600 == stat.S_IMODE(file.stat().st_mode)
    text = file.read_text()
    assert "s3cret" not in text and "another" not in text
    assert ["alice", "bob"] == sorted(read_users(file))


def test_add_user_mistakes(ran: Workspace, tmp_path: Path) -> None:
    empty = add_user(ran, tmp_path / "f", "alice", "")
    colon = add_user(ran, tmp_path / "f", "al:ice", "pw")
    alone = ran.runner("web", "--add-user", "alice", timeout=60)
    assert exitcodes.BAD_CONFIG == empty.returncode and "password is empty" in empty.stderr
    assert exitcodes.BAD_CONFIG == colon.returncode and "without ':'" in colon.stderr
    assert (
        exitcodes.BAD_CONFIG == alone.returncode and "--add-user needs --auth-file" in alone.stderr
    )
    assert not (tmp_path / "f").exists()


def test_a_damaged_or_missing_auth_file_refuses_to_start(ran: Workspace, tmp_path: Path) -> None:
    damaged = tmp_path / "users"
    damaged.write_text("alice:plain-text-password\n")
    bad = ran.runner("web", "pipeline.yaml", "--auth-file", str(damaged), timeout=60)
    missing = ran.runner("web", "pipeline.yaml", "--auth-file", str(tmp_path / "none"), timeout=60)
    assert (
        exitcodes.BAD_CONFIG == bad.returncode and f"{damaged}:1: not a USER:scrypt" in bad.stderr
    )
    assert exitcodes.BAD_CONFIG == missing.returncode and "does not exist" in missing.stderr


def test_serves_on_a_free_port_and_stops_on_sigterm(ran: Workspace) -> None:
    with console(ran) as web:
        assert web.url.startswith("http://127.0.0.1:")
        with NO_PROXY.open(web.url + "items?task=t&category=error", timeout=30) as response:
            page = response.read().decode()
        assert 200 == response.status
        for failed in ("fail-1", "fail-2", "fail-3"):
            assert failed in page
        assert exitcodes.OK == web.stop()


def test_a_busy_port_is_a_clear_message(ran: Workspace) -> None:
    with console(ran) as web:
        port = web.url.rsplit(":", 1)[1].strip("/")
        result = ran.runner("web", "pipeline.yaml", "--listen", f"127.0.0.1:{port}", timeout=60)
        web.stop()
    assert exitcodes.BAD_CONFIG == result.returncode
    assert "another program uses that port" in result.stderr


def test_beyond_loopback_with_an_auth_file_starts(ran: Workspace, tmp_path: Path) -> None:
    """0.0.0.0 with --auth-file is allowed; a stranger is sent to sign in."""
    file = tmp_path / "users"
    assert 0 == add_user(ran, file, "alice", "pw").returncode
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "web",
            "pipeline.yaml",
            "--listen",
            "0.0.0.0:0",
            "--auth-file",
            str(file),
        ],
        cwd=ran.root,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "http://0.0.0.0:" in line and f"sign-in users from {file}" in line
        port = line.split("http://0.0.0.0:")[1].split("/")[0]
        with NO_PROXY.open(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.url.endswith("/signin")
    finally:
        proc.terminate()
        assert 0 == proc.wait(timeout=30)
        proc.stderr.close() if proc.stderr else None
