"""Files the tool writes hold users' data: make them owner-only, whatever the umask.

The doors (the CLI, the bot) call `restrict_new_files` first thing, before any log,
history, export, report or database is made. Files that exist already keep their mode:
a restored live database keeps the mode and owner it had (live_database).
"""

from __future__ import annotations

import os

PRIVATE_UMASK = 0o077  # new files 0600, new folders 0700


def restrict_new_files() -> int:
    """Make every file this process creates from now on owner-only; return the old umask."""
    return os.umask(PRIVATE_UMASK)
