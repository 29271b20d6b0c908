"""The README's install command in a fresh copy of the project, with Debian's own python3."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, project_copy

DEBIAN_PYTHON = Path("/usr/bin/python3")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _usable(python: Path) -> bool:
    if not python.exists():
        return False
    done = subprocess.run(
        [str(python), "-c", "import sys, venv, ensurepip; assert sys.version_info >= (3, 10)"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """Only Debian's /usr/bin (its python3, no `python`), a home of its own, no settings."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}


@pytest.mark.slow
@pytest.mark.skipif(not _usable(DEBIAN_PYTHON), reason="no Debian python3 with venv here")
def test_the_readmes_first_command_works_with_debians_externally_managed_python(tmp_path):
    first = re.search(r"```bash\n(.+?)\n```", README, flags=re.DOTALL)
    assert first is not None
    command = first[1].strip()
    assert command.startswith("python3 -m venv .venv && ")
    project = project_copy(tmp_path / "clone")
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=project,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (project / "data" / "pmo_recovery.db").is_file()
    assert "Backup System Status" in done.stdout and "OFFSITE" in done.stdout
    assert len(list((project / "backups" / "manual").glob("*.zip"))) == 1


@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="no Debian python3 here")
def test_a_python_without_the_packages_says_how_to_install_them(tmp_path):
    probe = subprocess.run(
        [str(DEBIAN_PYTHON), "-I", "-c", "import click, telegram"],
        capture_output=True,
        check=False,
    )
    if probe.returncode == 0:
        pytest.skip("Debian's python3 has the packages installed system-wide")
    done = subprocess.run(
        [str(DEBIAN_PYTHON), "-I", str(ROOT / "backup_manager.py"), "status"],
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert "is not installed" in done.stderr and "python3 -m venv .venv" in done.stderr
    assert "Traceback" not in done.stderr
