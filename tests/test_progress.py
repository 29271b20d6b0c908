"""Progress on a terminal: seen under a real pseudo-terminal (`script`), never off one."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from src.cli.progress_display import CLEAR_LINE, TerminalProgress
from src.services import progress
from src.services.locking import exclusive_lock
from tests.conftest import ROOT, cli_env, grow_journal

PERCENT = re.compile(r"\b(\d{1,3})%")


def in_terminal(tmp_path: Path, db: Path, *args: str, **extra: str) -> tuple[int, str]:
    """Run the CLI with its stdout and stderr on a pseudo-terminal; return code and output."""
    if shutil.which("script") is None:
        pytest.skip("`script` (util-linux) is not installed")
    command = shlex.join([sys.executable, str(ROOT / "backup_manager.py"), *args])
    done = subprocess.run(
        ["script", "-qfec", command, "/dev/null"],
        env=cli_env(tmp_path, db, **extra) | {"COLUMNS": "100", "TERM": "xterm"},
        cwd=tmp_path,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
        check=False,
    )
    return done.returncode, done.stdout.decode("utf-8", "replace")


@pytest.fixture
def big_db(sample_db: Path) -> Path:
    grow_journal(sample_db, rows=300, blob_bytes=60_000, blob_every=1, seed=3)  # ~18 MB
    return sample_db


def test_backup_on_a_terminal_shows_phases_and_percentages_in_place(tmp_path, big_db):
    code, out = in_terminal(tmp_path, big_db, "backup", "--type", "daily")
    assert code == 0, out
    lines = [part for part in out.split(CLEAR_LINE) if part.startswith("backup: ")]
    phases = [PERCENT.sub("", line.split("\r")[0]).strip() for line in lines]
    for expected in ("taking the snapshot", "compressing pmo_recovery.db", "checking every member"):
        assert any(p.startswith(f"backup: {expected}") for p in phases), phases
    percents = [int(m) for line in lines for m in PERCENT.findall(line.split("\r")[0])]
    assert percents and max(percents) <= 100 and any(p > 0 for p in percents)
    assert "✅" in out  # the result, after the progress line was wiped
    assert out.rindex(CLEAR_LINE) < out.index("✅")


def test_quiet_hides_progress_and_off_a_terminal_none_is_printed(tmp_path, big_db, run_cli):
    code, out = in_terminal(tmp_path, big_db, "backup", "--quiet")
    assert code == 0, out
    assert CLEAR_LINE not in out and "backup: " not in out
    assert "✅" in out
    piped = run_cli("backup", "--json", db=big_db)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    assert piped.stdout.lstrip().startswith("{")


def test_restore_and_export_show_their_own_phases(tmp_path, big_db, run_cli):
    assert run_cli("backup", db=big_db).returncode == 0
    code, out = in_terminal(tmp_path, big_db, "restore", "latest", "--confirm")
    assert code == 0, out
    assert "restore: checking and unpacking the archive" in out
    assert "restore: writing into pmo_recovery.db" in out
    assert "| safety copy: " in out  # made beside the checks, shown beside them
    code, out = in_terminal(tmp_path, big_db, "export")
    assert code == 0, out
    assert "export: exporting the tables" in out


def test_waiting_for_the_lock_says_for_what_since_when_and_by_whom(tmp_path, sample_db):
    settings_lock = tmp_path / "backups" / ".lock"
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with exclusive_lock(settings_lock, "weekly backup", timeout=5):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    threading.Timer(3, release.set).start()
    try:
        code, out = in_terminal(tmp_path, sample_db, "backup", BACKUP_LOCK_TIMEOUT="60")
    finally:
        release.set()
        holder.join(10)
    assert code == 0, out
    waiting = re.search(
        r"Waiting for the weekly backup started at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) by pid (\d+) "
        r"\(up to 60 s\)",
        out,
    )
    assert waiting, out
    assert int(waiting[2]) == os.getpid()
    assert "The lock is free: the manual backup goes on." in out
    assert "✅" in out
    log = (tmp_path / "logs" / "pmo_bot.log").read_text()
    assert "waiting for the weekly backup started at" in log


def test_the_lock_note_names_the_job_its_start_and_its_pid(tmp_path):
    lock = tmp_path / ".lock"
    with exclusive_lock(lock, "restore", timeout=1):
        note = lock.read_text()
    assert re.fullmatch(rf"restore started at \S+ \S+ by pid {os.getpid()}", note), note
    assert lock.read_text() == ""


# --------------------------------------------------------------------------
# The display and the sink, without a terminal.


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_display_draws_each_new_phase_and_throttles_advances():
    stream, clock = io.StringIO(), Clock()
    display = TerminalProgress(stream, "job", per_second=4, clock=clock)
    with progress.listening(display):
        progress.phase("copying", 1000)
        for _ in range(10):
            progress.advance(50)  # same instant: not drawn
        clock.now += 0.3
        progress.advance(100)  # a quarter second later: drawn
        progress.phase("checking")
        clock.now += 2
        progress.update(0)
    drawn = [part for part in stream.getvalue().split(CLEAR_LINE) if part]
    assert drawn == [
        "job: copying   0%",
        "job: copying  60%",
        "job: checking",
        "job: checking (2 s)",
    ]
    assert stream.getvalue().endswith(CLEAR_LINE)  # wiped at the end


def test_work_beside_the_job_is_shown_under_its_lane_name_on_the_same_line():
    stream, clock = io.StringIO(), Clock()
    display = TerminalProgress(stream, "restore", clock=clock)
    beside_started, main_moved = threading.Event(), threading.Event()

    def safety_copy() -> None:
        with progress.lane("safety copy"):
            progress.phase("taking the snapshot", 10)
            beside_started.set()
            main_moved.wait(5)
            clock.now += 1
            progress.update(5)

    with progress.listening(display):
        progress.phase("checking the archive", 100)
        worker = threading.Thread(target=progress.carried(safety_copy))
        worker.start()
        beside_started.wait(5)
        clock.now += 1
        progress.update(40)  # the job's own step moves: the lane beside it stays shown
        main_moved.set()
        worker.join()
        clock.now += 1
        progress.update(50)  # the lane ended: only the job's own step again
    drawn = [part for part in stream.getvalue().split(CLEAR_LINE) if part]
    assert drawn == [
        "restore: checking the archive   0%",
        "restore: checking the archive   0% | safety copy: taking the snapshot   0%",
        "restore: checking the archive  40% | safety copy: taking the snapshot   0%",
        "restore: checking the archive  40% | safety copy: taking the snapshot  50%",
        "restore: checking the archive  40%",
        "restore: checking the archive  50%",
    ]


def test_display_puts_notes_above_the_progress_line_and_draws_it_again():
    stream = io.StringIO()
    display = TerminalProgress(stream, "job", clock=Clock())
    with progress.listening(display):
        progress.phase("copying", 10)
        assert progress.note("waiting for the lock")
    text = stream.getvalue()
    assert text == (
        f"{CLEAR_LINE}job: copying   0%{CLEAR_LINE}waiting for the lock\n"
        f"{CLEAR_LINE}job: copying   0%{CLEAR_LINE}"
    )


def test_display_cuts_a_line_to_the_terminal_width(monkeypatch):
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback: os.terminal_size((30, 5)))
    stream = io.StringIO()
    with progress.listening(TerminalProgress(stream, "job", clock=Clock())):
        progress.phase("x" * 200, 10)
    first = stream.getvalue().split(CLEAR_LINE)[1]
    assert len(first) == 29 and first.endswith("…")


def test_without_a_listener_nothing_is_kept_or_shown():
    assert progress.note("nobody") is False
    progress.phase("alone", 5)
    progress.advance(5)  # no error, no state for the next listener
    stream = io.StringIO()
    with progress.listening(TerminalProgress(stream, "job", clock=Clock())):
        progress.advance(1)
    assert "alone" not in stream.getvalue()


def test_advances_from_many_threads_all_count():
    seen: list[progress.State] = []

    class Recorder:
        def show(self, state: progress.State) -> None:
            seen.append(state)

        def note(self, text: str) -> None:
            pass

        def close(self) -> None:
            pass

    with progress.listening(Recorder()):
        progress.phase("reading", 8 * 1000)
        threads = [
            threading.Thread(
                target=progress.carried(lambda: [progress.advance(1) for _ in range(1000)])
            )
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen[-1].done == 8000 and seen[-1].percent == 100


def test_percent_is_capped_and_unknown_without_a_size():
    assert progress.State("x", 150, 100).percent == 100
    assert progress.State("x", 5, 0).percent is None


class Recorded:
    """A listener that keeps every step it is shown, and every note."""

    def __init__(self) -> None:
        self.states: list[progress.State] = []
        self.notes: list[str] = []

    def show(self, state: progress.State) -> None:
        self.states.append(state)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def close(self) -> None:
        pass

    def phases(self) -> set[str]:
        return {s.phase for s in self.states} | {x.phase for s in self.states for _, x in s.sides}


def test_two_jobs_in_two_threads_each_show_only_their_own_steps():
    """A scheduled backup beside an admin's job: neither's steps reach the other's listener."""
    both_listening, both_reported = threading.Barrier(2), threading.Barrier(2)
    listeners = {"menu": Recorded(), "other": Recorded()}

    def job(name: str, listener: Recorded | None) -> None:
        with progress.listening(listener):
            both_listening.wait(5)
            progress.phase(f"{name} step", 10)
            with ThreadPoolExecutor(max_workers=2) as pool:  # work handed on stays the job's
                list(pool.map(progress.carried(lambda _: progress.advance(1)), range(10)))
            with progress.lane(f"{name} lane"):
                progress.phase(f"{name} beside")
            progress.note(f"{name} note")
            both_reported.wait(5)

    threads = [
        threading.Thread(target=job, args=("menu", listeners["menu"])),
        threading.Thread(target=job, args=("scheduled", None)),  # the scheduler: no listener
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    menu = listeners["menu"]
    assert menu.phases() == {"menu step", "menu beside"}
    assert max(s.done for s in menu.states if s.phase == "menu step") == 10
    assert menu.notes == ["menu note"]

    listeners["menu"], listeners["other"] = Recorded(), Recorded()
    both_listening.reset(), both_reported.reset()
    threads = [
        threading.Thread(target=job, args=(name, listeners[name])) for name in ("menu", "other")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert listeners["menu"].phases() == {"menu step", "menu beside"}
    assert listeners["other"].phases() == {"other step", "other beside"}
    assert listeners["other"].notes == ["other note"]


def test_a_thread_the_job_did_not_hand_its_work_to_reports_for_nobody():
    listener = Recorded()
    with progress.listening(listener):
        progress.phase("mine", 1)
        stranger = threading.Thread(target=lambda: progress.phase("not mine"))
        stranger.start()
        stranger.join()
        assert progress.note("mine too")
    assert listener.phases() == {"mine"} and listener.notes == ["mine too"]
