"""The service files in deploy/: what the README promises, and what systemd accepts."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

UNITS = sorted((ROOT / "deploy").glob("*.service"))


def test_every_unit_runs_as_a_dedicated_user_restarts_and_keeps_files_private():
    assert {u.name for u in UNITS} == {"pmo-backup-scheduler.service", "pmo-bot.service"}
    for unit in UNITS:
        text = unit.read_text()
        for line in (
            "User=pmo-bot",
            "Restart=on-failure",
            "UMask=0077",
            "KillSignal=SIGTERM",
            "WorkingDirectory=/opt/pmo-bot",
            "ExecStart=/opt/pmo-bot/.venv/bin/python",
        ):
            assert line in text, (unit.name, line)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path):
    for unit in UNITS:
        # the paths of a real install, made in a root of our own
        text = unit.read_text().replace("/opt/pmo-bot", str(tmp_path / "opt"))
        (tmp_path / "opt" / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
        python = tmp_path / "opt" / ".venv" / "bin" / "python"
        python.write_text("#!/bin/sh\n")
        python.chmod(0o755)
        copy = tmp_path / unit.name
        copy.write_text(text)
        done = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(copy)],
            capture_output=True,
            text=True,
            check=False,
        )
        # systemd says what it does not accept (an unknown key, a bad value) on stderr
        assert done.returncode == 0 and not done.stderr.strip(), (unit.name, done.stderr)
