"""The unit files under contrib/systemd/ pass `systemd-analyze verify`.

verify needs no running systemd (it works in a container without systemd as PID 1), but it
checks that every ExecStart= program exists: the units' /srv/ops/.venv/bin/runner is
replaced by this interpreter's console script (or the interpreter) in a temporary copy.
verify exits 0 even for unknown keys and bad values, so any message it prints fails too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.system import require_system

UNITS = Path(__file__).resolve().parents[2] / "contrib" / "systemd"
INSTALLED_RUNNER = "/srv/ops/.venv/bin/runner"


def _systemd_analyze() -> str:
    """The systemd-analyze program; skipped where it is absent, a failure under CI."""
    found = shutil.which("systemd-analyze")
    if found is None:
        require_system(
            "systemd-analyze", "the Debian package `systemd` provides it; .ci/run installs it"
        )
    return found


def _verify(directory: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_units(target: Path) -> list[str]:
    runner = Path(sys.executable).parent / "runner"
    program = str(runner if runner.exists() else Path(sys.executable))
    names = sorted(p.name for p in UNITS.iterdir())
    for name in names:
        text = (UNITS / name).read_text().replace(INSTALLED_RUNNER, program)
        (target / name).write_text(text)
    return names


def test_the_shipped_units_verify_cleanly(tmp_path: Path) -> None:
    names = _copy_units(tmp_path)
    assert {
        "runner-serve.service",
        "runner-run.service",
        "runner-run.timer",
        "runner-notify@.service",
    } == set(names)
    result = _verify(tmp_path, names)
    assert (0, "", "") == (result.returncode, result.stdout, result.stderr)


def test_services_wire_on_failure_to_the_notification_unit() -> None:
    for name in ("runner-serve.service", "runner-run.service"):
        assert "\nOnFailure=runner-notify@%n.service\n" in (UNITS / name).read_text()


def test_a_broken_unit_is_reported(tmp_path: Path) -> None:
    names = _copy_units(tmp_path)
    broken = tmp_path / "runner-serve.service"
    broken.write_text(broken.read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes"))
    result = _verify(tmp_path, names)
    assert "runner-serve.service:" in result.stderr and "sometimes" in result.stderr
