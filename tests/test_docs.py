"""The README documents every setting and every command, and every command has help."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from src.cli.commands import cli
from src.config.settings import SETTING_NAMES
from src.errors import ExitStatus

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, command in group.commands.items():
        found.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
    return found


def test_every_setting_is_in_the_configuration_table():
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert set(SETTING_NAMES) - documented == set()
    assert documented - set(SETTING_NAMES) == set()


def test_every_command_is_in_the_readme_and_has_help():
    for command in _commands(cli):
        words = command.split()
        if words[0] == "scheduler" and len(words) > 1:  # its subcommands share one line
            assert words[1] in README
        else:
            assert f"backup_manager.py {command}" in README, command
        done = CliRunner().invoke(cli, [*words, "--help"], obj=None)
        assert done.exit_code == 0 and "Usage:" in done.output, command


def test_every_exit_code_is_in_the_table():
    for status in ExitStatus:
        assert re.search(rf"^\| {int(status)} \|", README, flags=re.MULTILINE), status


def test_help_names_the_configuration_and_works_with_an_invalid_setting(run_cli, tmp_path):
    top = run_cli("--help", db=tmp_path / "x.db", RETENTION_DAILY="zero")
    assert top.returncode == 0, top.stderr
    assert ".env" in top.stdout and "Exit codes" in top.stdout and "10 off-machine" in top.stdout
    for command in (("backup", "--help"), ("offsite", "sync", "-h"), ("restore", "--help")):
        done = run_cli(*command, db=tmp_path / "x.db", RETENTION_DAILY="zero")
        assert done.returncode == 0 and "Usage:" in done.stdout, (command, done.stderr)
    refused = run_cli("status", db=tmp_path / "x.db", RETENTION_DAILY="zero")
    assert refused.returncode == ExitStatus.CONFIG and "RETENTION_DAILY" in refused.stderr
