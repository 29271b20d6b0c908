"""Off-machine targets: one interface, one module per kind, chosen by the destination's shape."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from src.config.settings import DEFAULT_TELEGRAM_API, OffsiteTarget, Settings

# what we compare, strongest first (rclone's names for them)
HASH_PREFERENCE = ("sha256", "sha1", "md5")

Producer = Callable[[IO[bytes]], None]  # writes an object's bytes into the stream it is given
Consumer = Callable[[IO[bytes]], None]  # reads an object's bytes from the stream it is given
Prover = Callable[[str], None]  # proves the file of that name holds what was sent, else raises


@dataclass(frozen=True)
class RemoteObject:
    """One file on a target: its name, size and the hashes the target itself reports."""

    name: str
    size: int
    hashes: Mapping[str, str] = field(default_factory=dict)
    location: str = ""  # where the target keeps it, beyond its name (a Telegram message)


class Target(Protocol):
    """What the copying, checking and fetching code needs of a destination."""

    name: str

    def describe(self) -> str:
        """Say where the target is, without any secret (for messages and status)."""

    def hash_types(self) -> tuple[str, ...]:
        """Return the hashes the target reports for its files (of HASH_PREFERENCE)."""

    def upload(self, name: str, produce: Producer, prove: Prover | None = None) -> None:
        """Write the bytes `produce` writes as the file `name`; never a half file under it.

        `prove` is called with the name the bytes are stored under once they are written:
        where the target writes a hidden partial file first, before it becomes `name`, so
        a copy that fails its proof never replaces a good one.
        """

    def stat(self, name: str) -> RemoteObject | None:
        """Return the file with the hashes the target reports, or None when it is not there."""

    def list(self) -> list[RemoteObject]:
        """Return the files in the target's folder (names and sizes)."""

    def download(self, name: str, consume: Consumer) -> None:
        """Stream the file's bytes into `consume`."""

    def delete(self, name: str) -> None:
        """Delete one file."""


_RCLONE_REMOTE = re.compile(
    r"^(?::[A-Za-z0-9_.-]+|[A-Za-z0-9_][A-Za-z0-9_ .+@-]*)(?:,(?:[^:'\"]|'[^']*'|\"[^\"]*\")*)?:"
)


def is_rclone_destination(destination: str) -> bool:
    """Tell an rclone remote (`name:path`, `:backend,opts:path`) from a folder (`C:\\x` too)."""
    if re.match(r"^[A-Za-z]:[\\/]", destination) or destination.startswith(("/", "\\", ".")):
        return False  # a drive letter, or a path
    return bool(_RCLONE_REMOTE.match(destination))


def open_target(target: OffsiteTarget, settings: Settings) -> Target:
    """Return the target of a configured destination: a Telegram chat, an rclone remote, else
    a folder.

    A relative folder is taken from the project folder, like every other path setting;
    rclone gets the RCLONE_* settings of the environment and `.env`; a Telegram chat the
    bot's token, the Bot API's address and BOT_UPLOAD_LIMIT_MB.
    """
    from src.services.offsite.targets.telegram import TelegramTarget, is_telegram_destination

    if is_telegram_destination(target.destination):
        from src.services.received import DOWNLOAD_LIMIT_MB

        # a copy counts once downloaded again: Telegram's own servers hand out 20 MB at most
        cloud = settings.telegram_api_url == DEFAULT_TELEGRAM_API
        limit = min(settings.bot_upload_limit_mb, DOWNLOAD_LIMIT_MB if cloud else 2000)
        index = settings.backup_dir / f".telegram-{target.name}.json"
        return TelegramTarget(
            target.name, target.destination, settings.bot_token, settings.telegram_api_url,
            limit, index,
        )  # fmt: skip
    if is_rclone_destination(target.destination):
        from src.services.offsite.targets.rclone import RcloneTarget

        return RcloneTarget(target.name, target.destination, settings.offsite.rclone_env)
    from src.services.offsite.targets.folder import FolderTarget

    folder = Path(target.destination).expanduser()
    root = settings.project_root
    return FolderTarget(target.name, folder if folder.is_absolute() else root / folder)
