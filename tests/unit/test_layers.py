"""The layers keep to their imports: the service layer imports no door (no click, no
telegram, no schedule, nothing of src.cli, src.bot or src.driver); only the driver imports
schedule."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

# what the service layer must not import (a name or any module under it)
NOT_IN_SERVICES = ("click", "telegram", "schedule", "src.cli", "src.bot", "src.driver")


def imported(path: Path) -> set[str]:
    """Every module a file of the project imports."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: tuple[str, ...]) -> set[str]:
    """Every module `source` (a module of `package`) imports, anywhere in it (a lazy import
    inside a function too)."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            # `from src import cli` imports src.cli
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, banned: str) -> bool:
    """Tell whether module `name` is `banned` or lies under it."""
    return name == banned or name.startswith(f"{banned}.")


def test_the_service_layer_imports_no_click_telegram_schedule_or_door():
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((SRC / "services").rglob("*.py"))
        for name in sorted(imported(path))
        if any(within(name, banned) for banned in NOT_IN_SERVICES)
    ]
    assert offences == []


def test_only_the_scheduler_driver_imports_schedule():
    importers = {
        path.relative_to(ROOT).as_posix()
        for path in [*SRC.rglob("*.py"), ROOT / "backup_manager.py"]
        if any(within(name, "schedule") for name in imported(path))
    }
    assert importers == {"src/driver/heartbeat.py"}


def test_imports_are_found_in_every_form():
    source = (
        "import schedule\n"
        "import telegram.ext as ext\n"
        "from click import echo\n"
        "from ..cli import output\n"
        "from src import bot\n"
        "def later():\n"
        "    from src.driver.heartbeat import Heartbeat\n"
    )
    names = imports_in(source, ("src", "services"))
    for banned in NOT_IN_SERVICES:
        assert any(within(name, banned) for name in names), banned
    assert not within("scheduler_state", "schedule") and not within("clickhouse", "click")


def test_the_file_format_reader_reads_bytes_only():
    fileformat = SRC / "services" / "salvage" / "fileformat.py"
    names = sorted(imported(fileformat))
    # no sqlite3 and none of our SQLite helpers (src.services.integrity and the like):
    # the reader works where SQLite refuses the file
    assert [name for name in names if within(name, "src") or within(name, "sqlite3")] == []


def test_the_salvage_package_takes_its_backup_as_a_hint_not_from_the_settings():
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((SRC / "services" / "salvage").rglob("*.py"))
        for name in sorted(imported(path))
        if any(
            within(name, banned)
            for banned in ("src.config", "src.services.catalog", "src.services.archive")
        )
    ]
    assert offences == []


def test_salvage_means_the_page_level_salvage_package_only():
    named = [
        p.relative_to(ROOT).as_posix() for p in SRC.rglob("salvage*") if p.name != "__pycache__"
    ]
    assert named == ["src/services/salvage"]
