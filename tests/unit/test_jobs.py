"""One job at a time: refused with what runs; outcomes and interruptions found after a restart."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from src.services.jobs import JobBusy, Jobs


def test_a_second_job_is_refused_with_what_runs_since_when_and_who(settings_for, tmp_path):
    jobs = Jobs(settings_for(tmp_path / "bot.db"))
    first = jobs.begin("a restore from x.zip", "admin 1 (Ann)", 1, run="a")
    with pytest.raises(JobBusy) as refused:
        jobs.begin("a manual backup", "admin 2 (Bob)", 2, run="a")
    assert "A restore from x.zip is running since " in str(refused.value)
    assert "started by admin 1 (Ann)" in str(refused.value)
    jobs.finish(first, "done", "✅ restored")
    assert jobs.running() is None
    jobs.begin("a manual backup", "admin 2 (Bob)", 2, run="a")


def test_after_a_restart_unseen_outcomes_and_interrupted_jobs_are_found_once(
    settings_for, tmp_path
):
    settings = settings_for(tmp_path / "bot.db")
    jobs = Jobs(settings)
    done = jobs.begin("a manual backup", "admin 1 (Ann)", 1, run="before")
    jobs.finish(done, "done", "✅ made")  # never shown
    cut = jobs.begin("a restore from y.zip", "admin 2 (Bob)", 2, run="before")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # the process that ran it was killed: its pid is gone
    with closing(sqlite3.connect(settings.history_path)) as conn, conn:
        conn.execute("UPDATE jobs SET pid = ? WHERE id = ?", (gone.pid, cut.id))
    unseen = jobs.unseen(run="after")
    assert [(j.what, j.status) for j in unseen] == [
        ("a manual backup", "done"),
        ("a restore from y.zip", "interrupted"),
    ]
    assert jobs.running() is None  # a dead process's job blocks nothing
    for job in unseen:
        jobs.acknowledge(job)
    assert jobs.unseen(run="later") == []
