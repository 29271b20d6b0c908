"""The one policy for names inside a backup archive: what we store, verify and restore.

A backup must never hold a member that `restore` would refuse, and `verify` must refuse
what `restore` refuses. So the same rules decide three things: the name a file is
stored under when it is archived (`stored_name`), whether an archive's names are safe
(`check_infos`), and, through those, what `verify`, `list` and `restore` accept.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import PurePosixPath

METADATA_NAME = "metadata.json"
TOP_FOLDERS = ("database", "files", "logs")
MAX_PART_BYTES = 200  # below the 255 bytes a file name may have on the usual file systems

# characters that are not allowed (or mean something else) in a file name on Windows or
# a POSIX system, and control characters: a name with one cannot be restored everywhere
_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|\x7f]")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def part_problem(part: str) -> str | None:
    """Say why one part of a member path is unsafe, or None if it is safe."""
    if part in {"", ".", ".."}:
        return "an empty, '.' or '..' part"
    if _UNSAFE.search(part):
        return 'a character that is not allowed in a file name (control, / \\ : * ? " < > |)'
    if part.endswith((" ", ".")):
        return "a part ending in a space or a dot"
    if _RESERVED.match(part):
        return "a name Windows reserves for a device"
    if len(part.encode("utf-8")) > MAX_PART_BYTES:
        return f"a part longer than {MAX_PART_BYTES} bytes"
    return None


def name_problem(name: str) -> str | None:
    """Say why a member name could not be restored safely, or None if it can."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    parts = name.split("/")
    for part in parts:
        problem = part_problem(part)
        if problem is not None:
            return f"is not a safe relative path ({problem})"
    if name != METADATA_NAME and (len(parts) < 2 or parts[0] not in TOP_FOLDERS):
        return "is outside the backup layout (database/, files/, logs/, metadata.json)"
    return None


def check_infos(infos: list[zipfile.ZipInfo]) -> list[str]:
    """Return every member whose name or kind the tool would refuse to restore."""
    problems, seen = [], set()
    for info in infos:
        name = info.filename
        kind = (info.external_attr >> 16) & 0o170000
        if name in seen:
            problems.append(f"{name!r} appears twice")
        seen.add(name)
        problem = name_problem(name)
        if problem is not None:
            problems.append(f"{name!r} {problem}")
        elif kind == stat.S_IFLNK:
            problems.append(f"{name!r} is a symbolic link")
        elif kind not in (0, stat.S_IFREG):
            problems.append(f"{name!r} is not a regular file")
    return problems


def safe_part(part: str) -> str:
    """Return `part` made safe to store: unsafe characters become '_', long ones cut."""
    cleaned = _UNSAFE.sub("_", part).rstrip(" .") or "_"
    if _RESERVED.match(cleaned):
        cleaned = "_" + cleaned
    while len(cleaned.encode("utf-8")) > MAX_PART_BYTES:
        cleaned = cleaned[:-1]
    return cleaned


def stored_name(folder: str, relative: str, taken: set[str]) -> str:
    """Choose the member name a file is archived under, one `restore` will accept.

    Args:
        folder: the top folder (`files` or `logs`).
        relative: the file's path below it, with '/' between parts.
        taken: names used already in this archive; the result is added to it.

    Returns:
        `folder/relative` when that is safe, else a cleaned, unique name (the caller
        records the original next to it).
    """
    parts = [safe_part(p) for p in PurePosixPath(relative).parts if p not in ("/", "")]
    name = "/".join([folder, *parts]) if parts else f"{folder}/_"
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        stem, dot, suffix = name.rpartition(".")
        candidate = f"{stem}~{number}.{suffix}" if dot and "/" not in suffix else f"{name}~{number}"
    taken.add(candidate)
    return candidate
