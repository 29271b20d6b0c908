#!/usr/bin/env python3
"""Backup manager for the PMO Recovery Bot: `python backup_manager.py --help`."""

# This file stays plain enough for any Python 3 to read: an old one gets a sentence, not a
# SyntaxError (so no f-strings here).
import sys

if sys.version_info < (3, 10):  # noqa: UP036 - the message is for people on old Pythons
    sys.stderr.write(
        "backup_manager.py needs Python 3.10 or newer; this is %d.%d (%s).\n"  # noqa: UP031
        "Install a newer Python (Debian 12, Ubuntu 24.04: apt install python3 python3-venv),\n"
        "then follow the README's install command.\n"
        % (sys.version_info[0], sys.version_info[1], sys.executable)
    )
    sys.exit(3)

from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run from any folder (a double-clicked .bat starts elsewhere): import from beside this file.
sys.path.insert(0, str(HERE))

try:
    from src.cli.commands import main
except ModuleNotFoundError as missing:
    if missing.name is None or missing.name.split(".")[0] == "src":
        raise
    VENV = ".venv\\Scripts\\python" if sys.platform == "win32" else ".venv/bin/python"
    sys.stderr.write(
        "The package %r is not installed for %s.\n"  # noqa: UP031
        "Install what the tool needs, in the project folder:\n"
        "  python3 -m venv .venv && %s -m pip install -r requirements.txt\n"
        "then run the tool with that Python: %s backup_manager.py ...\n"
        % (missing.name, sys.executable, VENV, VENV)
    )
    sys.exit(3)

if __name__ == "__main__":
    sys.exit(main())
