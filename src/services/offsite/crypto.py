"""age encryption streamed between a file and a pipe, hashing the bytes as they pass.

What leaves the machine is a standard age file: `age -d -i key.txt` opens it by hand.
The hashes are of the encrypted bytes exactly as they were written, so a target's own
hash of what it stored can be compared with them.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyrage

from src.config.age_keys import load_identities, parse_recipient
from src.errors import ConfigError, OffsiteCopyInvalid
from src.services import progress

_CHUNK = 1 << 20


@dataclass
class Digest:
    """The size and hashes (hex, by rclone's names) of bytes that passed through."""

    size: int = 0
    hashes: dict[str, str] = field(default_factory=dict)


class _Hashing(io.RawIOBase):
    """Pass bytes to or from `inner`, hashing them (sha256 always, plus the asked ones)."""

    def __init__(self, inner: IO[bytes], kinds: Iterable[str], limit: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.hashers = {kind: hashlib.new(kind) for kind in {"sha256", *kinds}}
        self.size = 0
        self.limit = limit

    def _see(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        self.check_limit()
        progress.advance(len(data))
        for hasher in self.hashers.values():
            hasher.update(data)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.inner.write(view)
        self._see(view)
        return len(view)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.inner.read(len(view))
        view[: len(data)] = data
        self._see(data)
        return len(data)

    def check_limit(self) -> None:
        """Raise the refusal of a copy longer than its limit."""
        if self.limit is not None and self.size > self.limit:
            raise OffsiteCopyInvalid(
                f"the copy is longer than the {self.limit} bytes its target listed: refused"
            )

    def digest(self) -> Digest:
        return Digest(self.size, {kind: h.hexdigest() for kind, h in self.hashers.items()})


def recipients_of(keys: Iterable[str]) -> list[Any]:
    """Parse the configured public keys (checked when the settings were read)."""
    return [parse_recipient(key) for key in keys]


def identities_of(path: Path | None) -> list[Any]:
    """Load AGE_IDENTITY_FILE.

    Raises:
        ConfigError: it is not set, cannot be read, or holds no identity.
    """
    if path is None:
        raise ConfigError(
            "AGE_IDENTITY_FILE is not set: the off-machine copies are encrypted, and opening "
            "one needs the private key (the file age-keygen wrote). Set AGE_IDENTITY_FILE to it."
        )
    try:
        return load_identities(path)
    except ValueError as error:
        raise ConfigError(f"AGE_IDENTITY_FILE: {error}") from None


def send(archive: Path, out: IO[bytes], recipients: list[Any], kinds: Iterable[str]) -> Digest:
    """Write the archive into `out`, encrypted to `recipients` (or as it is when there are none).

    A stream with `announce_size` (rclone's input) is told the exact size of what comes as
    soon as it is known: for an age file once its header is written (the rest follows from
    the archive's size), so a stream cut short is never taken for a whole one.
    """
    sink = _Hashing(out, kinds)
    announce = getattr(out, "announce_size", None)
    length = archive.stat().st_size
    with archive.open("rb") as source:
        if recipients:
            watched = _HeaderWatch(sink, length, announce) if announce else sink
            pyrage.encrypt_io(source, watched, recipients)
        else:
            if announce:
                announce(length)
            while chunk := source.read(_CHUNK):
                sink.write(chunk)
    return sink.digest()


def age_size(header: int, plaintext: int) -> int:
    """The size of an age file: its header, a 16-byte nonce, 64 KiB chunks with 16-byte tags
    (one chunk at least), as the age format defines it."""
    return header + 16 + plaintext + 16 * max(1, -(-plaintext // _AGE_CHUNK))


_AGE_CHUNK = 64 * 1024


class _HeaderWatch(io.RawIOBase):
    """Pass an age file's bytes on; once its header ended (`--- <mac>` line), announce the size."""

    def __init__(self, inner: io.RawIOBase, plaintext: int, announce: Any) -> None:
        super().__init__()
        self.inner = inner
        self.plaintext = plaintext
        self.announce = announce
        self.head = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.announce is not None:
            self.head += view
            mac = self.head.find(b"\n--- ")
            end = self.head.find(b"\n", mac + 1) if mac >= 0 else -1
            if end >= 0:
                self.announce(age_size(end + 1, self.plaintext))
                self.announce, self.head = None, bytearray()
        self.inner.write(view)
        return len(view)


def receive(
    stream: IO[bytes],
    out: IO[bytes] | None,
    identities: list[Any] | None,
    name: str,
    limit: int | None = None,
) -> Digest:
    """Read a copy from `stream`, decrypting into `out` (None: only hash it; no identities:
    a plain copy, written as it is).

    Raises:
        ConfigError: the identity is not one the copy was encrypted to.
        OffsiteCopyInvalid: the copy is damaged, cut short, not an age file, or longer
            than `limit` (what the target listed: a hostile one cannot fill the disk).
    """
    source = _Hashing(stream, (), limit)
    if out is None or identities is None:
        while chunk := source.read(_CHUNK):
            if out is not None:
                out.write(chunk)
        return source.digest()
    try:
        pyrage.decrypt_io(io.BufferedReader(source, _CHUNK), out, identities)
    except OffsiteCopyInvalid:
        raise
    except (pyrage.DecryptError, OSError) as error:
        source.check_limit()  # the reader's own refusal, however age passed it on
        if isinstance(error, OSError):
            _raise_read_error(name, error)
        words = str(error)
        if "matching" in words.lower() or "no identity" in words.lower():
            raise ConfigError(
                f"AGE_IDENTITY_FILE does not open {name}: it was encrypted to another key. "
                "Use the identity whose public key was in OFFSITE_ENCRYPT_TO then."
            ) from None
        raise OffsiteCopyInvalid(
            f"{name} does not decrypt ({words}): the copy is damaged or was changed there"
        ) from None
    while source.read(_CHUNK):  # hash to the end even if age stopped before padding
        pass
    return source.digest()


def _raise_read_error(name: str, error: OSError) -> None:
    """Our own disk's error (it has an errno) as it is; age's 'decryption error' as damage."""
    if error.errno is not None:
        raise error
    raise OffsiteCopyInvalid(
        f"{name} does not decrypt ({error}): the copy is damaged, cut short or was changed there"
    ) from None
