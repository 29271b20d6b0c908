"""`scheduler`: run the backup scheduler in the foreground, or pause, resume, run a backup now."""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

import click

from src.cli import output
from src.cli.progress_display import shows_progress
from src.config.settings import Settings
from src.driver.heartbeat import Heartbeat
from src.logging_setup import configure_logging
from src.services import scheduler_state
from src.services.backup_scheduler import BackupScheduler, run_scheduled_backup

logger = logging.getLogger(__name__)


@click.group(invoke_without_command=True)
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the daily and weekly backups (foreground; Ctrl-C or SIGTERM stops it).

    \b
    scheduler            run it (one scheduler at a time)
    scheduler pause      pause it (it stays paused after a restart)
    scheduler resume     resume it
    scheduler run-now daily|weekly   make that backup now, as the scheduler would
    """
    if ctx.invoked_subcommand is None:
        run_foreground(ctx.obj)


def run_foreground(settings: Settings) -> None:
    """Start the scheduler, wait for Ctrl-C or SIGTERM, stop it cleanly."""
    configure_logging(
        settings.log_dir, settings.bot_token, console_level=logging.INFO, console_errors=True
    )
    core = BackupScheduler(settings)
    runner = Heartbeat(core)

    def ask_to_stop(signum: int, _frame: FrameType | None) -> None:
        if runner.stopping.is_set():  # a second signal: do not wait for the backup
            raise KeyboardInterrupt
        output.emit(
            f"Stopping (signal {signum}); a backup in progress finishes first "
            "(a second Ctrl-C abandons it; its unfinished archive is never listed)."
        )
        runner.stopping.set()

    def keep_running(signum: int, _frame: FrameType | None) -> None:
        logger.warning(
            "signal %s (SIGHUP: a closed terminal, or a reload) ignored: the scheduler keeps "
            "running; SIGTERM or Ctrl-C stops it",
            signum,
        )

    # SIGTERM (systemd, kill) and Ctrl-C stop it after the backup in progress; SIGHUP (a
    # closed SSH session, `systemctl reload`) must not end the backups
    previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, keep_running)
    try:
        runner.start()
        output.emit(
            f"🟢 Scheduler running (pid {os.getpid()}); next daily backup "
            f"{core.next_runs['daily']:%Y-%m-%d %H:%M}, next weekly "
            f"{core.next_runs['weekly']:%Y-%m-%d %H:%M} ({settings.timezone_name}). "
            "Ctrl-C or SIGTERM stops it."
        )
        if scheduler_state.scheduler_view(settings).paused:
            output.emit(
                "⏸️ It is paused: scheduled backups are skipped until "
                "`python backup_manager.py scheduler resume`."
            )
        while not runner.stopping.wait(0.5):
            pass
        runner.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    output.emit("🔴 Scheduler stopped.")


@scheduler.command()
@click.pass_obj
def pause(settings: Settings) -> None:
    """Pause the scheduled backups (a running scheduler skips them until resumed)."""
    scheduler_state.set_paused(settings, True)
    output.emit("⏸️ Scheduler paused; scheduled backups are skipped until `scheduler resume`.")


@scheduler.command()
@click.pass_obj
def resume(settings: Settings) -> None:
    """Resume the scheduled backups."""
    scheduler_state.set_paused(settings, False)
    output.emit("▶️ Scheduler resumed.")


@scheduler.command("run-now")
@click.argument("backup_type", type=click.Choice(scheduler_state.SCHEDULED))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("run-now")
@click.pass_obj
def run_now(settings: Settings, backup_type: str, as_json: bool) -> None:
    """Make a daily or weekly backup now (a weekly one is followed by its restore drill)."""
    outcome = run_scheduled_backup(settings, backup_type)
    if outcome.error is not None:
        raise outcome.error  # its own exit code (5 for a failed check, ...)
    if as_json:
        output.emit(output.to_json(output.scheduled_json(outcome)))
    else:
        output.emit("\n".join(output.scheduled_lines(outcome)))
