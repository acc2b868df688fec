"""The console's security pieces on their own: the session cookie, the auth file, the listen rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.web.listen import check_exposure, parse_listen
from runner.web.session import LIFETIME, Session, Signer
from runner.web.users import add_user, check_password, hash_password, read_users


def test_a_sealed_session_opens_with_its_key_only() -> None:
    signer = Signer(b"k" * 32)
    session = Session.fresh("alice", now=1000.0)
    value = signer.seal(session)
    assert session == signer.open(value, now=1000.0)
    assert signer.open(value, now=1000.0 + LIFETIME + 1) is None
    assert Signer(b"x" * 32).open(value, now=1000.0) is None
    body, mac = value.rsplit(".", 1)
    assert signer.open(body[:-2] + "xx." + mac, now=1000.0) is None
    for junk in (None, "", "no-dot", ".", "a.b.c"):
        assert signer.open(junk, now=1000.0) is None


def test_csrf_token_is_the_sessions_own() -> None:
    one, two = Session.fresh(), Session.fresh()
    assert one.csrf != two.csrf
    assert one.csrf_ok(one.csrf)
    assert not one.csrf_ok(two.csrf)
    assert not one.csrf_ok(None)
    assert not one.csrf_ok("")


def test_password_hashes_are_salted_and_checked() -> None:
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second
    assert check_password(first, "pw") and check_password(second, "pw")
    assert not check_password(first, "PW")
    assert not check_password("scrypt$1$2$3$zz$zz", "pw")
    assert not check_password("md5$abc", "pw")


def test_auth_file_round_trip_and_damage(tmp_path: Path) -> None:
    file = tmp_path / "users"
    assert add_user(file, "alice", "pw")
    assert not add_user(file, "alice", "new")
    assert check_password(read_users(file)["alice"], "new")
    file.write_text(file.read_text() + "# a comment\n\nbob\n")
    with pytest.raises(UsageError, match=r"users:4: not a USER:scrypt"):
        read_users(file)
    (tmp_path / "empty").write_text("# nobody\n")
    with pytest.raises(UsageError, match="names no user"):
        read_users(tmp_path / "empty")
    with pytest.raises(UsageError, match="cannot be a console user name"):
        add_user(file, " alice", "pw")


@pytest.mark.parametrize(
    ("text", "host", "port", "loopback"),
    [
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.8.9.1:1", "127.8.9.1", 1, True),
        ("localhost:0", "localhost", 0, True),
        ("[::1]:8080", "::1", 8080, True),
        ("0.0.0.0:8080", "0.0.0.0", 8080, False),
        ("[::]:80", "::", 80, False),
        ("10.1.2.3:8080", "10.1.2.3", 8080, False),
        ("console.example.org:443", "console.example.org", 443, False),
    ],
)
def test_listen_addresses(text: str, host: str, port: int, loopback: bool) -> None:
    where = parse_listen(text)
    assert (host, port, loopback) == (where.host, where.port, where.loopback)
    check_exposure(where, auth=True)
    if loopback:
        check_exposure(where, auth=False)
    else:
        with pytest.raises(UsageError, match="without --auth-file"):
            check_exposure(where, auth=False)
