"""Names for files the tool writes: never over an existing one; work folders of dead runs."""

from __future__ import annotations

import errno
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


def sync_folder(folder: Path) -> None:
    """Sync a folder so a rename in it survives a power cut (POSIX only)."""
    if os.name == "nt":  # pragma: no cover - Windows has no directory fsync
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_new(partial: Path, final: Path) -> None:
    """Give the finished file `partial` the name `final`, never over an existing file.

    A hard link is atomic and fails when `final` appeared meanwhile; where there are no
    hard links (FAT, some shares) the name is checked, then renamed (Windows refuses to
    rename over a file). The folder is synced, so the name survives a power cut.

    Raises:
        FileExistsError: `final` exists; `partial` is left as it was.
    """
    if os.name == "nt":  # pragma: no cover - rename refuses an existing target on Windows
        partial.rename(final)
        return
    try:
        os.link(partial, final)
    except OSError as error:
        if isinstance(error, FileExistsError) or error.errno not in _NO_HARD_LINKS:
            raise
        if final.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(final)) from error
        partial.rename(final)
    else:
        partial.unlink()
    sync_folder(final.parent)


_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK}
