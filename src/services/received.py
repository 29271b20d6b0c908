"""A backup archive sent to the bot: kept in a folder of its own, opened when it is age-encrypted.

The archive is then validated and restored like any other (`restore_service`, by its path).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from src.config.settings import DEFAULT_TELEGRAM_API, Settings
from src.errors import ConfigError
from src.services.offsite import crypto

DOWNLOAD_LIMIT_MB = 20  # what the cloud Bot API lets a bot download (getFile)
SUFFIXES = (".zip", ".zip.age")


def accepts(name: str) -> bool:
    """Tell whether a sent file's name is that of a backup archive (or its age copy)."""
    return name.lower().endswith(SUFFIXES)


def too_large(settings: Settings, size_bytes: int) -> bool:
    """Tell whether the Bot API will refuse to hand the file to the bot (cloud API only)."""
    cloud = settings.telegram_api_url == DEFAULT_TELEGRAM_API
    return cloud and size_bytes > DOWNLOAD_LIMIT_MB * 1024 * 1024


def place(settings: Settings, name: str) -> Path:
    """Where a sent archive is stored: a new folder under RECOVERY_DIR/received."""
    safe = re.sub(r"[^\w.-]", "_", Path(name).name).lstrip(".") or "archive.zip"
    folder = settings.recovery_dir / "received" / secrets.token_hex(6)
    folder.mkdir(parents=True, mode=0o700)
    return folder / safe


def open_received(settings: Settings, path: Path) -> Path:
    """The archive to validate: the file itself, or its age copy decrypted beside it.

    Raises:
        ConfigError: an age copy, and no AGE_IDENTITY_FILE (or another key's) to open it.
        OffsiteCopyInvalid: the age copy is damaged.
    """
    if not path.name.lower().endswith(".age"):
        return path
    if settings.offsite.identity_file is None:
        raise ConfigError(
            f"{path.name} is age-encrypted and AGE_IDENTITY_FILE is not set: set it to the "
            "identity whose public key is in OFFSITE_ENCRYPT_TO, or send the plain .zip."
        )
    identities = crypto.identities_of(settings.offsite.identity_file)
    archive = path.with_name(path.name[: -len(".age")])
    with path.open("rb") as stream, archive.open("wb") as out:
        crypto.receive(stream, out, identities, path.name)
    return archive
