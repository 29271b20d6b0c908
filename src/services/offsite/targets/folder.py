"""A folder target: a mounted USB disk or network share, written like our own archives."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from src.errors import OffsiteError
from src.services.naming import sync_folder as _sync_folder
from src.services.offsite.names import partial_name
from src.services.offsite.targets import Consumer, Producer, Prover, RemoteObject

_CHUNK = 1 << 20


class FolderTarget:
    """Copies in a folder: written under a hidden temporary name, synced, then renamed."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder

    def describe(self) -> str:
        """Say where the target is."""
        return f"folder {self.folder}"

    def hash_types(self) -> tuple[str, ...]:
        """A folder's files are hashed by reading them back."""
        return ("sha256",)

    def _path(self, name: str) -> Path:
        path = self.folder / name
        if path.parent != self.folder or name in ("", ".", ".."):
            raise OffsiteError(f"{name!r} is not a file name of ours")
        return path

    def _fail(self, action: str, error: OSError) -> OffsiteError:
        hint = "is the disk mounted and writable?"
        if not self.folder.is_dir():
            hint = "the folder does not exist: mount the disk, or create the folder"
        return OffsiteError(
            f"target {self.name}: cannot {action} in {self.folder} "
            f"({error.strerror or error}); {hint}"
        )

    def upload(self, name: str, produce: Producer, prove: Prover | None = None) -> None:
        """Write to `.name.partial`, fsync, prove, rename: a crash never leaves a half file
        as `name`, and a copy that fails its proof never replaces a good one."""
        path = self._path(name)
        partial = self._path(partial_name(name))
        if not self.folder.is_dir():  # an unmounted disk: never write into the mount point
            raise self._fail("write", FileNotFoundError(2, "No such folder"))
        try:
            with partial.open("wb") as out:
                produce(out)
                out.flush()
                os.fsync(out.fileno())
            if prove is not None:
                prove(partial.name)
            partial.replace(path)
            _sync_folder(self.folder)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise self._fail("write", error) from error
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def stat(self, name: str) -> RemoteObject | None:
        """Return the file with its SHA-256, read back from the disk."""
        path = self._path(name)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
            return RemoteObject(name, path.stat().st_size, {"sha256": digest.hexdigest()})
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._fail("read", error) from error

    def list(self) -> list[RemoteObject]:
        """Return the files of the folder (hidden partial ones too: leftovers are cleaned)."""
        try:
            return [
                RemoteObject(entry.name, entry.stat().st_size)
                for entry in os.scandir(self.folder)
                if entry.is_file(follow_symlinks=False)
            ]
        except OSError as error:
            raise self._fail("list", error) from error

    def download(self, name: str, consume: Consumer) -> None:
        """Stream the file into `consume`."""
        try:
            with self._path(name).open("rb") as handle:
                consume(handle)
        except FileNotFoundError:
            raise OffsiteError(f"target {self.name}: {name} is not there") from None
        except OSError as error:
            raise self._fail("read", error) from error

    def delete(self, name: str) -> None:
        """Delete one file."""
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as error:
            raise self._fail("delete", error) from error
