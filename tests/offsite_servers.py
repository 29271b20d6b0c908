"""Real servers for off-machine tests, started on 127.0.0.1 by the tests and always stopped:
an S3 API (`rclone serve s3`) and SFTP (`rclone serve sftp`), with an age key pair."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyrage

from src.services.offsite.targets.rclone import rclone_binary

# rclone serve s3 refuses short keys; these are long enough and fake
S3_KEY = "pmotestaccesskey0001"
S3_SECRET = "pmotestsecretkey0001verysecretvalue42"
SFTP_USER, SFTP_PASSWORD = "pmo", "sftp-test-password-77"


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Wait until something listens on the port (or the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the test server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class RcloneServer:
    """One `rclone serve` process over a folder; `env` configures a client remote for it."""

    kind: str  # s3 or sftp
    folder: Path
    remote: str  # the client remote's name
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> RcloneServer:
        """Start (or start again, on the same port and folder) and wait until it listens."""
        self.folder.mkdir(parents=True, exist_ok=True)
        auth = (
            ["--auth-key", f"{S3_KEY},{S3_SECRET}"]
            if self.kind == "s3"
            else ["--user", SFTP_USER, "--pass", SFTP_PASSWORD]
        )
        self.process = subprocess.Popen(
            [
                rclone_binary(),
                "serve",
                self.kind,
                "--addr",
                f"127.0.0.1:{self.port}",
                *auth,
                "--log-level",
                "ERROR",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)
        return self

    def stop(self) -> None:
        """Stop the server (connections are refused until `start`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Kill the server at once (a crash mid-transfer)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def env(self, *, secret: str | None = None) -> dict[str, str]:
        """The RCLONE_CONFIG_<REMOTE>_* variables of a client (a wrong secret if given)."""
        prefix = f"RCLONE_CONFIG_{self.remote.upper()}_"
        if self.kind == "s3":
            return {
                prefix + "TYPE": "s3",
                prefix + "PROVIDER": "Rclone",
                prefix + "ENDPOINT": f"http://127.0.0.1:{self.port}",
                prefix + "ACCESS_KEY_ID": S3_KEY,
                prefix + "SECRET_ACCESS_KEY": secret or S3_SECRET,
            }
        obscured = subprocess.run(
            [rclone_binary(), "obscure", secret or SFTP_PASSWORD],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return {
            prefix + "TYPE": "sftp",
            prefix + "HOST": "127.0.0.1",
            prefix + "PORT": str(self.port),
            prefix + "USER": SFTP_USER,
            prefix + "PASS": obscured,
            prefix + "KNOWN_HOSTS_FILE": "",
        }


@dataclass(frozen=True)
class AgeKeys:
    """An age key pair: the identity file and the public key."""

    identity_file: Path
    public: str


def make_age_keys(folder: Path, name: str = "key.txt") -> AgeKeys:
    """Write a new age identity file (as age-keygen does) and return it with its public key."""
    identity = pyrage.x25519.Identity.generate()
    path = folder / name
    path.write_text(
        f"# created: by the tests\n# public key: {identity.to_public()}\n{identity}\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return AgeKeys(path, str(identity.to_public()))
