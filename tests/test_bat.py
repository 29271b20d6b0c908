"""Tests for backup_manager.bat, the Windows double-click launcher.

The static tests always run. The others run the real batch file under Wine's
cmd.exe when `wine` is installed (Debian: `apt-get install wine wine64`) and
are skipped otherwise.

Under Wine, Python is replaced by stand-ins that record how they were called
and exit with a chosen code. A stand-in `python.exe`/`py.exe` is a real PE
program: pip's vendored distlib console-script launcher (t64.exe) with a
shebang that points at `cmd.exe /c fake.bat`, so the launcher runs the batch
file, waits, and exits with its code, just as python.exe would.

Wine 8's cmd differs from Windows in two ways that shape these tests:
- `set /p` takes everything waiting in a pipe as one line, so interactive input
  is typed one answer at a time, after its prompt has appeared.
- `call PROGRAM` reports any non-zero exit code as 1 (Windows keeps the code),
  so exact codes are checked on the `py -3` path, which the launcher runs
  without CALL.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BAT = REPO / "backup_manager.bat"

RUN_TIMEOUT = 180  # seconds; a cold Wine start can be slow on a busy machine
PREFIX_TIMEOUT = 600
MENU_PROMPT = "Choose an option [1-9, Q]:"
PAUSE_PROMPT = "Press any key to continue"


def bat_text() -> str:
    return BAT.read_bytes().decode("ascii")


def bat_lines() -> list[str]:
    return bat_text().split("\r\n")


# --------------------------------------------------------------------------
# Static checks: always run.


def test_bat_has_only_crlf_line_endings():
    data = BAT.read_bytes()
    assert data.endswith(b"\r\n")
    assert re.search(rb"(?<!\r)\n", data) is None, "bare LF found"
    assert re.search(rb"\r(?!\n)", data) is None, "bare CR found"


def test_bat_is_plain_ascii():
    # cmd.exe reads a batch file in the OEM code page before `chcp` runs.
    BAT.read_bytes().decode("ascii")


def test_bat_passes_every_argument_and_returns_the_exit_code():
    text = bat_text()
    assert "%BM_CALL% %BM_PY% backup_manager.py %*" in text
    assert 'set "BM_RC=%ERRORLEVEL%"' in text
    assert "endlocal & exit /b %BM_RC%" in text


def test_bat_works_from_any_current_directory():
    text = bat_text()
    assert 'set "BM_HOME=%~dp0"' in text
    assert 'pushd "%BM_HOME%"' in text
    assert "if defined BM_PUSHED popd" in text


def test_bat_tries_py_launcher_before_python_and_exits_9_without_either():
    text = bat_text()
    py_probe = text.index("call py -3 -c ")
    python_probe = text.index("call python -c ")
    assert py_probe < python_probe
    no_python = text[text.index(":no_python\r\n") :]
    assert "python.org" in no_python
    assert "Add python.exe to PATH" in no_python
    assert 'set "BM_RC=9"' in no_python


def test_bat_sets_a_utf8_console_and_python_io():
    text = bat_text()
    assert "chcp 65001 >nul" in text
    assert 'set "PYTHONUTF8=1"' in text
    assert 'set "PYTHONIOENCODING=utf-8"' in text


def test_bat_keeps_its_variables_local():
    lines = bat_lines()
    first_command = next(line for line in lines if line and not line.startswith(("@", "rem")))
    assert first_command.startswith("setlocal EnableExtensions")
    assert "endlocal & exit /b %BM_RC%" in lines


def test_bat_jumps_only_to_labels_it_defines():
    lines = bat_lines()
    labels = {line[1:].lower() for line in lines if re.fullmatch(r":\w+", line)}
    targets = set()
    for line in lines:
        if line.startswith("rem "):
            continue
        targets.update(t.lower() for t in re.findall(r"\b(?:goto|call) :(\w+)", line, re.I))
    targets.discard("eof")
    assert targets
    assert targets <= labels, f"undefined labels: {sorted(targets - labels)}"


def test_bat_menu_offers_every_command():
    text = bat_text()
    for command in (
        "call :invoke backup --type manual",
        "call :invoke backup --type emergency",
        "call :invoke list",
        "call :invoke status",
        "call :invoke verify --all",
        "call :invoke diagnose",
        'call :invoke restore "%BM_ARCHIVE%"\r\n',
        'call :invoke restore "%BM_ARCHIVE%" --confirm',
        "call :invoke scheduler",
    ):
        assert command in text


# --------------------------------------------------------------------------
# Real runs under Wine.


def winpath(path: Path) -> str:
    """Return the Wine (Z: drive) name of an absolute Unix path."""
    return "Z:" + str(path).replace("/", "\\")


QUIET = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def _stop_wine(env: dict[str, str]) -> None:
    """Stop the prefix's wineserver and every Wine program still running in it."""
    if shutil.which("wineserver"):
        subprocess.run(["wineserver", "-k"], env=env, timeout=60, check=False, **QUIET)


@pytest.fixture(scope="session")
def wine_env(tmp_path_factory: pytest.TempPathFactory):
    """Create a private Wine prefix once and return the environment that uses it."""
    if shutil.which("wine") is None:
        pytest.skip("wine is not installed (Debian: apt-get install wine wine64)")
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env.update(
        WINEPREFIX=str(tmp_path_factory.mktemp("wineprefix")),
        WINEDEBUG="-all",
        # No Mono or Gecko install prompts while the prefix is created.
        WINEDLLOVERRIDES="mscoree,mshtml=",
    )
    # Keep the prefix's wineserver and Wine's own services running between the tests: by
    # default they shut down 3 s after the last program ends, and each run then boots the
    # prefix again (about 2.5 s). The runs themselves are unchanged. The services start
    # with the first program, so that one writes to a file: a pipe they inherited would
    # stay open, and its reader wait for them.
    if shutil.which("wineserver"):
        subprocess.run(["wineserver", "-p"], env=env, timeout=60, check=False, **QUIET)
    ready_log = Path(env["WINEPREFIX"]).with_name("wine-ready.txt")
    try:
        with ready_log.open("wb") as out:
            ready = subprocess.run(
                ["wine", "cmd", "/c", "echo", "wine-ready"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=PREFIX_TIMEOUT,
                check=False,
            )
    except subprocess.TimeoutExpired:
        _stop_wine(env)
        pytest.skip(f"wine did not start cmd within {PREFIX_TIMEOUT} s")
    said = ready_log.read_bytes()
    if b"wine-ready" not in said:
        _stop_wine(env)
        pytest.skip(f"wine cannot run cmd here: rc={ready.returncode}, {said[-500:]!r}")
    yield env
    _stop_wine(env)
    # About 700 MB; pytest would otherwise keep it with its last three runs.
    shutil.rmtree(env["WINEPREFIX"], ignore_errors=True)


@pytest.fixture(scope="session")
def launcher_exe() -> bytes:
    """Return pip's distlib console-script launcher: a small Windows x64 program."""
    try:
        import pip._vendor.distlib as distlib
    except ImportError:
        pytest.skip("pip's vendored distlib (source of a Windows launcher .exe) is missing")
    launcher = Path(distlib.__file__).parent / "t64.exe"
    if not launcher.is_file():
        pytest.skip(f"{launcher} is missing")
    return launcher.read_bytes()


@dataclass
class Result:
    returncode: int
    output: str
    calls: list[dict[str, str]]

    def __post_init__(self) -> None:
        # cmd's complaint about a line it could not parse (Windows words it
        # "... was unexpected at this time."); the run may still look right.
        assert "Syntax error" not in self.output, self.output
        assert "was unexpected at this time" not in self.output, self.output


@dataclass
class Sandbox:
    """A project folder with a space and an ampersand in its path, run from elsewhere."""

    root: Path
    env: dict[str, str]
    launcher: bytes
    project: Path = field(init=False)
    elsewhere: Path = field(init=False)
    shims: Path = field(init=False)
    log: Path = field(init=False)
    venv_stand_in: Path = field(init=False)

    def __post_init__(self) -> None:
        self.project = self.root / "Some One" / "R&D bot"
        self.elsewhere = self.root / "elsewhere"
        self.shims = self.root / "shims"
        self.log = self.root / "calls.log"
        self.venv_stand_in = self.root / "stand-ins" / "python.exe"  # not on the PATH
        for folder in (self.project, self.elsewhere, self.shims, self.venv_stand_in.parent):
            folder.mkdir(parents=True)
        shutil.copyfile(BAT, self.project / "backup_manager.bat")
        (self.project / "backup_manager.py").write_text("# run by the stand-in, never read\n")
        (self.project / "requirements.txt").write_text("# read by the stand-in pip, never\n")
        self.set_venv_python()

    def _fake_bat(self, name: str, rc: int, probe_rc: int, pip_rc: int = 0) -> str:
        log = winpath(self.log)
        venv_python = winpath(self.venv_stand_in)
        lines = [
            "@echo off",
            # The interpreter probe: `-c` is argument 1, 2 or 3 depending on
            # whether the launcher's own path and `-3` come first.
            *(f'if "%~{i}"=="-c" exit /b {probe_rc}' for i in (1, 2, 3)),
            f'>>"{log}" echo ARGS %*',
            f'>>"{log}" echo CWD "%CD%"',
            f'>>"{log}" echo ENV %PYTHONUTF8% %PYTHONIOENCODING%',
            *(f'if "%~{i}"=="-m" if "%~{i + 1}"=="venv" goto :venv' for i in (1, 2, 3)),
            *(f'if "%~{i}"=="-m" if "%~{i + 1}"=="pip" goto :pip' for i in (1, 2)),
            f"echo fake {name} ran",
            f"exit /b {rc}",
            # `python -m venv`: the environment's interpreter is another stand-in.
            ":venv",
            "mkdir .venv\\Scripts 2>nul",
            f'copy /y "{venv_python}" .venv\\Scripts\\python.exe >nul',
            "echo fake venv made",
            "exit /b 0",
            ":pip",
            "echo fake pip ran",
            f"exit /b {pip_rc}",
            "",
        ]
        return "\r\n".join(lines)

    def _exe(self, path: Path, impl_text: str, impl: Path | None = None) -> None:
        impl = impl or path.with_name(path.stem + "-impl.bat")
        impl.write_bytes(impl_text.encode("ascii"))
        shebang = f"#!C:\\windows\\system32\\cmd.exe /c {winpath(impl)}\r\n".encode("ascii")
        payload = io.BytesIO()
        with zipfile.ZipFile(payload, "w") as archive:
            archive.writestr("__main__.py", "raise SystemExit('a stand-in, not Python')\n")
        path.write_bytes(self.launcher + shebang + payload.getvalue())

    def add_exe(self, name: str, rc: int = 0, probe_rc: int = 0) -> None:
        """Put a stand-in NAME.exe on the PATH that exits with rc."""
        self._exe(self.shims / f"{name}.exe", self._fake_bat(name, rc, probe_rc))

    def add_bat(self, name: str, rc: int = 0, probe_rc: int = 0) -> None:
        """Put a stand-in NAME.bat on the PATH, as pyenv-win's shims are."""
        (self.shims / f"{name}.bat").write_bytes(self._fake_bat(name, rc, probe_rc).encode())

    def set_venv_python(self, rc: int = 0, probe_rc: int = 0, pip_rc: int = 0) -> None:
        """Choose how the interpreter of a .venv made from now on behaves."""
        self._exe(self.venv_stand_in, self._fake_bat("venv python", rc, probe_rc, pip_rc))

    def install_venv(self, rc: int = 0, probe_rc: int = 0) -> None:
        """Make the project's .venv as a finished first run leaves it."""
        scripts = self.project / ".venv" / "Scripts"
        scripts.mkdir(parents=True, exist_ok=True)
        impl = self.venv_stand_in.with_name("installed-impl.bat")  # a path without "&"
        self._exe(scripts / "python.exe", self._fake_bat("venv python", rc, probe_rc), impl)
        self.stamp.write_text("installed\r\n")

    @property
    def venv_python(self) -> str:
        return winpath(self.project / ".venv" / "Scripts" / "python.exe")

    @property
    def stamp(self) -> Path:
        return self.project / ".venv" / "backup-manager-installed.txt"

    def _command(self, args: str) -> list[str]:
        # `cmd /c "C:\a b\x.bat" "y"` loses its outer quotes, so the launcher is
        # started from a small driver script, the way a user types it in cmd.
        driver = self.root / "driver.bat"
        bat = winpath(self.project / "backup_manager.bat")
        text = f'@echo off\r\ncd /d "{winpath(self.elsewhere)}"\r\n"{bat}" {args}\r\n'
        driver.write_bytes(text.encode("ascii"))
        return ["wine", "cmd", "/c", winpath(driver)]

    def _popen(self, args: str) -> subprocess.Popen[bytes]:
        env = dict(self.env, WINEPATH=winpath(self.shims))
        return subprocess.Popen(
            self._command(args),
            cwd=self.elsewhere,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def calls(self) -> list[dict[str, str]]:
        if not self.log.exists():
            return []
        found: list[dict[str, str]] = []
        for line in self.log.read_text(errors="replace").splitlines():
            key, _, value = line.partition(" ")
            if key == "ARGS":
                found.append({})
            found[-1][key] = value.rstrip()
        return found

    def run(self, args: str) -> Result:
        """Run the launcher with a command line and no input."""
        proc = self._popen(args)
        try:
            out, _ = proc.communicate(b"", timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"timed out; output so far:\n{out.decode(errors='replace')}")
        return Result(proc.returncode, out.decode(errors="replace"), self.calls())

    def run_menu(self, steps: list[tuple[str, str]]) -> Result:
        """Start the menu; for each (prompt, keys), wait for the prompt, then type keys."""
        proc = self._popen("")
        assert proc.stdin is not None
        assert proc.stdout is not None
        chunks: list[bytes] = []
        stdout = proc.stdout
        reader = threading.Thread(target=lambda: chunks.extend(iter(stdout.read1, b"")))
        reader.start()
        seen = 0
        try:
            for prompt, keys in steps:
                deadline = time.monotonic() + RUN_TIMEOUT
                while (at := b"".join(chunks).decode(errors="replace").find(prompt, seen)) < 0:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"no {prompt!r}; output:\n{b''.join(chunks).decode()}")
                    time.sleep(0.05)
                seen = at + len(prompt)
                proc.stdin.write(keys.encode("ascii"))
                proc.stdin.flush()
            proc.stdin.close()
            proc.wait(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
        return Result(proc.returncode, b"".join(chunks).decode(errors="replace"), self.calls())


@pytest.fixture
def sandbox(tmp_path: Path, wine_env: dict[str, str], launcher_exe: bytes) -> Sandbox:
    return Sandbox(tmp_path, wine_env, launcher_exe)


FIRST_RUN = "First run: creating the Python environment .venv"
VENV_ARGS = "-m venv --clear .venv"
PIP_ARGS = "-m pip install --disable-pip-version-check -r requirements.txt"


@pytest.mark.slow
def test_bat_first_run_makes_the_venv_installs_requirements_then_uses_it(sandbox):
    sandbox.add_exe("py", rc=7)  # the system Python only makes the environment
    sandbox.set_venv_python(rc=0)
    first = sandbox.run("status --json")
    assert first.returncode == 0, first.output
    assert FIRST_RUN in first.output
    make, pip, run = first.calls
    py = winpath(sandbox.shims / "py.exe")
    assert make["ARGS"] == f'"{py}" -3 {VENV_ARGS}'
    assert pip["ARGS"] == f'"{sandbox.venv_python}" {PIP_ARGS}'
    assert run["ARGS"] == f'"{sandbox.venv_python}" backup_manager.py status --json'
    assert {c["CWD"] for c in first.calls} == {f'"{winpath(sandbox.project)}"'}
    assert sandbox.stamp.is_file()

    sandbox.log.unlink()
    again = sandbox.run("list")
    assert again.returncode == 0, again.output
    assert FIRST_RUN not in again.output
    [call] = again.calls
    assert call["ARGS"] == f'"{sandbox.venv_python}" backup_manager.py list'


@pytest.mark.slow
def test_bat_first_run_messages_stay_off_stdout(sandbox, tmp_path):
    # --json through the launcher: stdout must hold only what the program prints.
    sandbox.add_exe("py")
    out = tmp_path / "stdout.txt"
    driver = sandbox.root / "redirect.bat"
    bat = winpath(sandbox.project / "backup_manager.bat")
    driver.write_bytes(f'@echo off\r\n"{bat}" status --json >"{winpath(out)}"\r\n'.encode())
    env = dict(sandbox.env, WINEPATH=winpath(sandbox.shims))
    done = subprocess.run(
        ["wine", "cmd", "/c", winpath(driver)],
        env=env,
        capture_output=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert FIRST_RUN in done.stdout.decode() + done.stderr.decode()
    assert out.read_text().strip() == "fake venv python ran"


@pytest.mark.slow
def test_bat_retries_a_failed_install_on_the_next_start(sandbox):
    sandbox.add_exe("py")
    sandbox.set_venv_python(pip_rc=1)
    failed = sandbox.run("status")
    assert failed.returncode == 9, failed.output
    assert "could not set up the Python environment .venv" in failed.output
    assert "py -3 -m venv .venv" in failed.output
    make, pip = failed.calls
    assert make["ARGS"].endswith(f'py.exe" -3 {VENV_ARGS}')
    assert pip["ARGS"] == f'"{sandbox.venv_python}" {PIP_ARGS}'
    assert not sandbox.stamp.exists()

    sandbox.log.unlink()
    sandbox.set_venv_python(pip_rc=0)
    shutil.copyfile(sandbox.venv_stand_in, sandbox.project / ".venv" / "Scripts" / "python.exe")
    done = sandbox.run("status")
    assert done.returncode == 0, done.output
    pip, run = done.calls  # the environment is kept; only the install is run again
    assert pip["ARGS"] == f'"{sandbox.venv_python}" {PIP_ARGS}'
    assert run["ARGS"].endswith("backup_manager.py status")
    assert sandbox.stamp.is_file()


@pytest.mark.slow
def test_bat_remakes_a_venv_whose_python_no_longer_starts(sandbox):
    sandbox.add_exe("py")
    sandbox.install_venv(probe_rc=1)  # as after Python was uninstalled
    sandbox.set_venv_python(rc=0)
    result = sandbox.run("status")
    assert result.returncode == 0, result.output
    assert "does not start" in result.output
    make, pip, run = result.calls
    assert pip["ARGS"].endswith(PIP_ARGS)
    assert make["ARGS"].endswith(VENV_ARGS)
    assert run["ARGS"] == f'"{sandbox.venv_python}" backup_manager.py status'


@pytest.mark.slow
@pytest.mark.parametrize("code", [0, 3])
def test_bat_passes_arguments_and_exit_code_through_from_another_folder(sandbox, code):
    sandbox.install_venv(rc=code)  # no system Python needed once .venv is there
    result = sandbox.run(r'restore "C:\backups\a b&c.zip" --confirm')
    assert result.returncode == code, result.output
    [call] = result.calls
    assert call["ARGS"] == (
        rf'"{sandbox.venv_python}" backup_manager.py restore "C:\backups\a b&c.zip" --confirm'
    )
    assert call["CWD"] == f'"{winpath(sandbox.project)}"'
    assert call["ENV"] == "1 utf-8"
    assert "fake venv python ran" in result.output
    assert PAUSE_PROMPT not in result.output


@pytest.mark.slow
def test_bat_falls_back_to_python_when_there_is_no_py_launcher(sandbox):
    sandbox.add_exe("python")
    result = sandbox.run("backup --type daily")
    assert result.returncode == 0, result.output
    make, _pip, run = result.calls
    python = winpath(sandbox.shims / "python.exe")
    assert make["ARGS"] == f'"{python}" {VENV_ARGS}'
    assert run["ARGS"] == f'"{sandbox.venv_python}" backup_manager.py backup --type daily'


@pytest.mark.slow
def test_bat_skips_a_py_launcher_that_has_no_python_3_10(sandbox):
    sandbox.add_exe("py", probe_rc=1)
    sandbox.add_exe("python")
    result = sandbox.run("status")
    assert result.returncode == 0, result.output
    make, _pip, _run = result.calls
    assert make["ARGS"].endswith(f'python.exe" {VENV_ARGS}')


@pytest.mark.slow
def test_bat_without_python_explains_the_install_and_exits_9(sandbox):
    result = sandbox.run("status")
    assert result.returncode == 9, result.output
    assert "https://www.python.org/downloads/" in result.output
    assert 'tick "Add python.exe to PATH"' in result.output
    assert PAUSE_PROMPT not in result.output
    assert result.calls == []
    assert not (sandbox.project / ".venv").exists()


@pytest.mark.slow
def test_bat_without_python_pauses_before_a_double_clicked_window_closes(sandbox):
    result = sandbox.run_menu([(PAUSE_PROMPT, "x")])
    assert result.returncode == 9
    assert "https://www.python.org/downloads/" in result.output


@pytest.mark.slow
def test_bat_menu_runs_the_choice_shows_its_exit_code_and_pauses(sandbox):
    sandbox.install_venv(rc=3)
    result = sandbox.run_menu([(MENU_PROMPT, "4\r\n"), (PAUSE_PROMPT, "x"), (MENU_PROMPT, "9\r\n")])
    assert result.returncode == 0, result.output
    for entry in ("1. Manual backup", "5. Verify all backups", "9. Quit"):
        assert entry in result.output
    assert "FAILED - exit code 3." in result.output
    [call] = result.calls
    assert call["ARGS"] == f'"{sandbox.venv_python}" backup_manager.py status'
    assert call["CWD"] == f'"{winpath(sandbox.project)}"'


@pytest.mark.slow
@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("1", "backup --type manual"),
        ("2", "backup --type emergency"),
        ("3", "list"),
        ("5", "verify --all"),
        ("6", "diagnose"),
        ("8", "scheduler"),
    ],
)
def test_bat_menu_maps_each_choice_to_its_command(sandbox, choice, expected):
    sandbox.install_venv()
    result = sandbox.run_menu(
        [(MENU_PROMPT, f"{choice}\r\n"), (PAUSE_PROMPT, "x"), (MENU_PROMPT, "q\r\n")]
    )
    assert result.returncode == 0, result.output
    assert "Done - exit code 0." in result.output
    [call] = result.calls
    assert call["ARGS"].endswith(f" backup_manager.py {expected}")


@pytest.mark.slow
def test_bat_menu_restore_previews_then_restores_after_yes(sandbox):
    sandbox.install_venv()
    result = sandbox.run_menu(
        [
            (MENU_PROMPT, "7\r\n"),
            # Dragging a file into the console types it quoted, often with a space.
            ("Path of the backup archive to restore:", '"C:\\My Backups\\b 1.zip"  \r\n'),
            ("Restore now? [y/N]:", "y\r\n"),
            (PAUSE_PROMPT, "x"),
            (MENU_PROMPT, "9\r\n"),
        ]
    )
    assert result.returncode == 0, result.output
    preview, restore = result.calls
    assert preview["ARGS"].endswith(r' backup_manager.py restore "C:\My Backups\b 1.zip"')
    assert restore["ARGS"].endswith(r' backup_manager.py restore "C:\My Backups\b 1.zip" --confirm')


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["n", "", "maybe"])
def test_bat_menu_restore_changes_nothing_without_yes(sandbox, answer):
    sandbox.install_venv()
    result = sandbox.run_menu(
        [
            (MENU_PROMPT, "7\r\n"),
            ("Path of the backup archive to restore:", "C:\\b.zip\r\n"),
            ("Restore now? [y/N]:", f"{answer}\r\n"),
            (PAUSE_PROMPT, "x"),
            (MENU_PROMPT, "9\r\n"),
        ]
    )
    assert result.returncode == 0, result.output
    assert "Restore cancelled" in result.output
    [preview] = result.calls
    assert preview["ARGS"].endswith(r' backup_manager.py restore "C:\b.zip"')


@pytest.mark.slow
def test_bat_menu_rejects_an_unknown_choice_and_asks_again(sandbox):
    sandbox.install_venv()
    result = sandbox.run_menu([(MENU_PROMPT, 'x"&\r\n'), (MENU_PROMPT, "Q\r\n")])
    assert result.returncode == 0, result.output
    assert "Unknown choice" in result.output
    assert result.calls == []


@pytest.mark.slow
def test_bat_menu_stops_when_its_input_ends(sandbox):
    sandbox.install_venv()
    result = sandbox.run("")
    assert result.returncode == 0, result.output
    assert MENU_PROMPT in result.output
    assert result.calls == []


@pytest.mark.slow
def test_bat_menu_comes_back_after_a_batch_file_python_made_the_venv(sandbox):
    # pyenv-win's `python` is a .bat; without CALL the launcher would never return.
    sandbox.add_bat("python")
    sandbox.set_venv_python(rc=4)
    result = sandbox.run_menu([(MENU_PROMPT, "3\r\n"), (PAUSE_PROMPT, "x"), (MENU_PROMPT, "9\r\n")])
    assert result.returncode == 0, result.output
    assert "fake venv made" in result.output
    assert "FAILED - exit code 4." in result.output
    make, _pip, run = result.calls
    assert make["ARGS"] == VENV_ARGS
    assert run["ARGS"] == f'"{sandbox.venv_python}" backup_manager.py list'
