"""Names for files the tool writes: never over an existing one; work folders of dead runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from src.services.history import pid_alive


def unique_path(path: Path) -> Path:
    """Return `path`, or `stem_2.suffix`, `stem_3.suffix`, ... whichever does not exist."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
    return candidate


def work_prefix(kind: str) -> str:
    """Return the prefix of a work folder of this process (its pid tells it is alive)."""
    return f".{kind}-{os.getpid()}-"


def clean_stale(folder: Path, kind: str) -> None:
    """Remove work folders that killed runs of `kind` left behind (their process is gone)."""
    for leftover in folder.glob(f".{kind}-*"):
        pid = leftover.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
