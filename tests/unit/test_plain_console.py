"""A console that cannot show emoji (Windows in cp1252) gets a word or nothing for each one
the CLI prints, never a '?' where a verdict was."""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

from src.cli.output import PLAIN, emit

ROOT = Path(__file__).resolve().parents[2]
# the symbols the CLI's own texts use (its presentation helpers included)
SOURCES = [
    *sorted((ROOT / "src" / "cli").glob("*.py")),
    *(ROOT / "src" / "presentation").glob("*.py"),
]


def symbols_in(text: str) -> set[str]:
    found = set()
    for match in re.finditer(r"[^\x00-\u2000]\ufe0f?", text):
        char = match.group(0)
        if unicodedata.category(char[0]) == "So":
            found.add(char)
    return found


def test_every_symbol_the_cli_prints_has_a_plain_form():
    used = set().union(*(symbols_in(path.read_text(encoding="utf-8")) for path in SOURCES))
    missing = sorted(s for s in used if s not in PLAIN and s.rstrip("\ufe0f") not in PLAIN)
    assert not missing, f"add to output.PLAIN: {missing}"


def test_a_cp1252_console_gets_the_plain_forms():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    emit("💡 Nothing was changed. ✅ ok ❌ no 🛟 copy", stream)
    stream.seek(0)
    assert stream.read() == "[i] Nothing was changed. [OK] ok [X] no copy\n"
