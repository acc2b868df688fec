"""`runner web`: load the pipeline, check where to listen, bind, and serve the console with uvicorn.

The socket is bound here, before uvicorn starts, so that a busy port or a bad address is a
clear message and exit 2, and `--listen HOST:0` can say which free port it took.
SIGINT and SIGTERM stop the server (uvicorn's handlers); the exit is 0.
"""

from __future__ import annotations

import getpass
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from runner import exitcodes
from runner.errors import UsageError
from runner.web.listen import check_exposure, parse_listen
from runner.web.users import add_user, read_users

if TYPE_CHECKING:
    import uvicorn


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; UsageError saying why it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}"
            + ("; another program uses that port: pick another with --listen" if port else "")
        ) from None
    sock.set_inheritable(True)
    return sock


def _server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a SIGTERM or SIGINT that stopped it is not raised again at the
        end: the console stopped as asked, and exits 0 (a second SIGINT still forces it)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

    return Server(config)


def serve_console(
    path: str,
    *,
    listen: str,
    auth_file: str | None,
    read_only: bool,
    out: TextIO = sys.stderr,
) -> int:
    """Serve the console until interrupted; refuses a non-loopback address without an auth file."""
    import uvicorn

    from runner import api
    from runner.web.app import Console, create_app

    where = parse_listen(listen)
    check_exposure(where, auth=auth_file is not None)
    users = read_users(Path(auth_file)) if auth_file is not None else None
    pipeline = api.load(path)
    sock = bind(where.host, where.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    mode = " (read-only)" if read_only else ""
    who = f"; sign-in users from {auth_file}" if auth_file else ""
    print(f"runner web: console of {pipeline.root} on http://{shown}:{port}/{mode}{who}", file=out)
    out.flush()
    config = uvicorn.Config(
        create_app(Console(pipeline, users, read_only)),
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    try:
        _server(config).run(sockets=[sock])
    finally:
        sock.close()
    return exitcodes.OK


def add_console_user(auth_file: str, user: str, *, stdin: TextIO = sys.stdin) -> str:
    """Add a user to (or change a password in) the auth file; the password from the terminal
    (asked twice) or, when standard input is not a terminal, its first line."""
    if stdin.isatty():
        password = getpass.getpass(f"password for {user}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ; nothing was written")
    else:
        password = stdin.readline().rstrip("\r\n")
    new = add_user(Path(auth_file), user, password)
    return f"{'added' if new else 'changed the password of'} user {user} in {auth_file}"
