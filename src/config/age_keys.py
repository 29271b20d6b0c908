"""age keys: the public keys copies are encrypted to, and the identity that opens them.

pyrage parses both; one place says what a valid key is, for the settings and for the
encryption itself. Nothing here ever puts a private key into a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyrage

SSH_PREFIXES = ("ssh-ed25519 ", "ssh-rsa ")


def parse_recipient(key: str) -> Any:
    """Return pyrage's recipient for an age (age1...) or SSH (ssh-ed25519/ssh-rsa) public key.

    Raises:
        ValueError: the key is neither; the message says what is expected.
    """
    try:
        if key.startswith("age1"):
            return pyrage.x25519.Recipient.from_str(key)
        if key.startswith(SSH_PREFIXES):
            return pyrage.ssh.Recipient.from_str(key)
    except pyrage.RecipientError:
        raise ValueError(
            "is not a valid public key (it looks like one, but does not parse): copy the "
            "whole line age-keygen printed as 'Public key:', or a whole .pub line"
        ) from None
    if key.startswith("AGE-SECRET-KEY-"):
        raise ValueError(
            "is a PRIVATE key: put only the public key (age1...) here and keep the private "
            "one off this setting (AGE_IDENTITY_FILE names a file holding it)"
        )
    raise ValueError(
        "is not an age public key (age1...) or an SSH public key (ssh-ed25519 ... or "
        "ssh-rsa ...); make one with: age-keygen -o key.txt"
    )


def check_recipient(key: str) -> str | None:
    """Return why `key` is no usable recipient, or None when it is one."""
    try:
        parse_recipient(key)
    except ValueError as error:
        return str(error)
    return None


def load_identities(path: Path) -> list[Any]:
    """Read an age identity file (AGE-SECRET-KEY-1... lines) or an unencrypted SSH private key.

    Raises:
        ValueError: the file cannot be read or holds no identity (never quoting it).
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {path} ({error.strerror or error})") from None
    if b"PRIVATE KEY-----" in data:
        try:
            return [pyrage.ssh.Identity.from_buffer(data)]
        except pyrage.IdentityError:
            raise ValueError(
                f"{path} is an SSH private key pyrage cannot use (one with a passphrase is "
                "not supported): use an age identity (age-keygen) or a key without passphrase"
            ) from None
    identities = []
    for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise ValueError(
                f"{path}:{number} is not an age identity (AGE-SECRET-KEY-1...): the file "
                "age-keygen wrote holds one"
            ) from None
    if not identities:
        raise ValueError(f"{path} holds no identity (AGE-SECRET-KEY-1... line)")
    return identities
