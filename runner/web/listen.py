"""Where the console listens: `HOST:PORT` parsed, and the rule that only loopback goes without auth."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from runner.errors import UsageError

DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class Listen:
    """A host (name or address) and a TCP port."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """Only this machine can connect: a loopback address, or the name `localhost`."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """`HOST:PORT` (`[::1]:8080` for IPv6; port 0: any free port) -> Listen; else UsageError."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(
            f"--listen {text!r} is not HOST:PORT; e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080"
        )
    return Listen(host, int(port))


def check_exposure(listen: Listen, *, auth: bool) -> None:
    """Refuse to listen beyond this machine without an auth file."""
    if not listen.loopback and not auth:
        raise UsageError(
            f"refusing to listen on {listen} without --auth-file: any other address than "
            "loopback (127.0.0.1, ::1, localhost) lets other machines move items; make an auth "
            "file with `runner web --auth-file FILE --add-user NAME` and give --auth-file FILE"
        )
