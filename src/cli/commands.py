"""The click CLI: arguments in, one service call, text or JSON out."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

import click
from click.core import ParameterSource

from src import __version__
from src.cli import output
from src.cli.offsite_commands import offsite
from src.cli.progress_display import shows_progress
from src.cli.scheduler_commands import scheduler
from src.config.settings import (
    ARCHIVE_TYPES,
    BACKUP_TYPES,
    REPLICA_SOURCE,
    Settings,
    load_settings,
)
from src.errors import (
    ArchiveInvalid,
    BackupError,
    ExitStatus,
    IntegrityFailure,
    NotConfirmed,
    disk_error,
    exit_status_for,
)
from src.logging_setup import configure_logging
from src.services import (
    backup_service,
    catalog,
    demo_service,
    diagnose_service,
    export_service,
    health,
    keep_service,
    prune_service,
    repair_service,
    restore_service,
    status_service,
)
from src.services.file_modes import restrict_new_files
from src.services.notifiers import notifier_for
from src.services.replication.restore import parse_at

logger = logging.getLogger(__name__)


EPILOG = """\b
Configuration: the environment, or .env in the project folder (KEY=VALUE lines), e.g.
  DATABASE_PATH=data/pmo_recovery.db  BACKUP_DIR=backups  BACKUP_TIMEZONE=Asia/Jakarta
  OFFSITE_TARGETS=cloud=r2:bucket/bot1  OFFSITE_ENCRYPT_TO=age1...  NOTIFY_URLS=ntfys://...
  (README: Configuration lists every setting)
\b
Exit codes: 0 ok, 1 failed, 2 usage, 3 invalid setting, 4 no database, 5 integrity,
  6 busy, 7 disk full or not writable, 8 restore not confirmed, 10 off-machine target,
  130 interrupted; `status --check`: 0 OK, 1 WARNING, 2 CRITICAL.
"""


class _Cli(click.Group):
    """The group: notes whether help was asked for before the settings are read."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Remember a -h/--help anywhere on the command line."""
        ctx.meta["help_asked"] = bool({"-h", "--help"} & set(args))
        return super().parse_args(ctx, args)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(version=__version__, prog_name="backup_manager.py")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Backup and recovery for the PMO Recovery Bot's SQLite database."""
    if ctx.meta.get("help_asked"):
        return  # a command's help works even while a setting is invalid
    settings = load_settings()
    configure_logging(settings.log_dir, settings.bot_token)
    ctx.obj = settings


@cli.group(invoke_without_command=True, subcommand_metavar="[keep|unkeep ARCHIVE]")
@click.option(
    "--type",
    "backup_type",
    type=click.Choice(BACKUP_TYPES),
    default="manual",
    show_default=True,
    help="Which kind of backup (and which retention) this is.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("backup")
@click.pass_context
def backup(ctx: click.Context, backup_type: str, as_json: bool) -> None:
    """Create a verified backup archive of the database (or keep one from retention).

    \b
    backup [--type TYPE]     make a backup (manual unless --type says otherwise)
    backup keep ARCHIVE      exempt ARCHIVE from retention (never deleted, not counted)
    backup unkeep ARCHIVE    give it back to retention
    ARCHIVE is a path, or an archive's name as `list` shows it.
    """
    if ctx.invoked_subcommand is None:
        _make_backup(ctx.obj, backup_type, as_json)
    elif ctx.get_parameter_source("backup_type") is not ParameterSource.DEFAULT:
        raise click.UsageError(
            f"--type chooses the kind of a new backup; `backup {ctx.invoked_subcommand} "
            "ARCHIVE` takes none (the archive's name says its type)."
        )


def _make_backup(settings: Settings, backup_type: str, as_json: bool) -> None:
    """Make the backup, print it, and alarm on a failure (of the backup or of its copies)."""
    if not as_json:
        output.emit(f"⏳ Creating {backup_type} backup of {settings.database_path} ...")
    try:
        result = backup_service.create_backup(settings, backup_type, trigger="cli")
    except BackupError as error:
        notifier_for(settings, log=False).notify(
            "backup_failed", f"The {backup_type} backup failed: {error}"
        )
        raise
    output.emit(
        output.result_json(result, ok=True, state=result.state, offsite_ok=result.offsite.ok)
        if as_json
        else output.backup_created(result)
    )
    failed = [o for o in result.offsite.outcomes if not o.ok and not o.busy]
    if failed:
        notifier_for(settings, log=False).notify(
            "offsite_failed",
            "; ".join(f"{o.target}: {o.detail}" for o in failed)
            + ". The local backup is fine; the copies stay pending and are retried.",
        )


_ARCHIVE_JSON = click.option(
    "--json", "as_json", is_flag=True, help="One JSON document on stdout (also: backup --json)."
)


@backup.command(name="keep")
@click.argument("archive")
@_ARCHIVE_JSON
@click.pass_context
def keep_command(ctx: click.Context, archive: str, as_json: bool) -> None:
    """Exempt ARCHIVE from retention.

    A kept archive is never deleted by retention, here or on an off-machine target, and
    takes no day, week or place from the newer ones. ARCHIVE is a path, or a name `list`
    shows (it marks the kept ones).
    """
    result = keep_service.keep_archive(ctx.obj, archive)
    _emit_keep(ctx, result, as_json)


@backup.command(name="unkeep")
@click.argument("archive")
@_ARCHIVE_JSON
@click.pass_context
def unkeep_command(ctx: click.Context, archive: str, as_json: bool) -> None:
    """Give a kept ARCHIVE back to retention.

    The next backup of its type, or `prune`, may then delete it. ARCHIVE is a path, or a
    name `list` shows (also of a kept archive deleted by hand since).
    """
    result = keep_service.unkeep_archive(ctx.obj, archive)
    _emit_keep(ctx, result, as_json)


def _emit_keep(ctx: click.Context, result: keep_service.KeepResult, as_json: bool) -> None:
    """Print what keep/unkeep did; `backup --json keep X` asks for JSON as well."""
    parent = ctx.parent.params if ctx.parent else {}
    json_wanted = as_json or bool(parent.get("as_json"))
    output.emit(output.result_json(result) if json_wanted else output.keep_text(result))


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only show what retention would delete.")
@click.option(
    "--type",
    "backup_type",
    type=click.Choice(ARCHIVE_TYPES),
    help="Only this type's backups (the recovery folder is then left alone).",
)
@click.pass_obj
def prune(settings: Settings, dry_run: bool, backup_type: str | None) -> None:
    """Apply retention now: daily per day, weekly per week, manual and emergency by count,
    and reports and exports in the recovery folder older than RECOVERY_RETENTION_DAYS."""
    plan = prune_service.plan_prune(settings, backup_type)
    output.emit(output.prune_plan_text(plan, dry_run=dry_run))
    if not dry_run and not plan.empty:
        output.emit(output.prune_done_text(prune_service.apply_prune(settings, plan)))


@cli.command(name="list")
@click.option("--type", "backup_type", type=click.Choice(ARCHIVE_TYPES), help="Only this type.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_command(settings: Settings, backup_type: str | None, as_json: bool) -> None:
    """List the backups, newest first."""
    backups = catalog.list_backups(settings, backup_type)
    if as_json:
        output.emit(output.to_json([output.info_json(b) for b in backups]))
    else:
        output.emit(output.backup_list(backups))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--check",
    is_flag=True,
    help="For monitoring: one line, exit 0 healthy, 1 warning (late backup, pending "
    "off-machine copy, paused scheduler), 2 critical (database missing or damaged, no "
    "verified backup).",
)
@click.pass_obj
def status(settings: Settings, as_json: bool, check: bool) -> None:
    """Show the database, the backups, the scheduler and the off-machine copies."""
    state = status_service.get_status(settings)
    if check:
        verdict = health.judge(settings, state, settings.now())
        output.emit(verdict.line())
        raise click.exceptions.Exit(verdict.level)
    output.emit(output.to_json(output.status_json(state)) if as_json else output.status_text(state))


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--all", "check_all", is_flag=True, help="Verify every backup.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("verify")
@click.pass_obj
def verify(settings: Settings, path: Path | None, check_all: bool, as_json: bool) -> None:
    """Re-run every check on a backup archive PATH (or a name `list` shows), or on all."""
    if bool(path) == check_all:
        raise click.UsageError("Give one archive PATH, or --all (not both).")
    paths = (
        [b.path for b in catalog.list_backups(settings)]
        if check_all
        else [catalog.resolve_archive(settings, str(path))]
    )
    if not paths:
        output.emit("[]" if as_json else "📋 No backups to verify.")
        return
    reports = catalog.verify_backups(settings, paths)
    if as_json:
        output.emit(
            output.to_json(
                [{"path": str(r.path), "ok": r.ok, "problems": r.problems} for r in reports]
            )
        )
    for report in reports if not as_json else []:
        output.emit(output.verify_text(report))
    failed = [r for r in reports if not r.ok]
    if failed:
        raise ArchiveInvalid(f"{len(failed)} of {len(reports)} archive(s) failed verification.")


@cli.command()
@click.argument("archive")
@click.option(
    "--confirm", is_flag=True, help="Really replace the database (after a safety backup)."
)
@click.option("--include-files", is_flag=True, help="Also restore the config and data files.")
@click.option(
    "--allow-schema-change",
    is_flag=True,
    help="Restore also when the archive changes the schema (tables, views, triggers, "
    "application_id) of a readable live database; the preview lists the changes.",
)
@click.option(
    "--from",
    "from_target",
    metavar="NAME",
    help="Take the archive from the off-machine target NAME (downloaded and decrypted with "
    "AGE_IDENTITY_FILE); ARCHIVE is then `latest` or a copy's name there. `--from replica`: "
    "the Litestream replica (REPLICA_URL), ARCHIVE `latest`.",
)
@click.option(
    "--at",
    "at_text",
    metavar="TIME",
    help="With --from replica: restore the database as it was at TIME, `YYYY-MM-DD HH:MM[:SS]` "
    "in BACKUP_TIMEZONE or ISO 8601 with an offset.",
)
@click.option(
    "--to",
    "to_path",
    type=click.Path(path_type=Path),
    help="Write the archive's database to this new file instead; the live database is not "
    "touched (no --confirm needed).",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="NAME",
    help="Restore only this table (repeatable), in one transaction; the other tables stay.",
)
@click.option(
    "--safety-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Put the safety copy of the current database here (e.g. another disk) instead of "
    "backups/pre-restore/.",
)
@click.option(
    "--no-safety-copy",
    is_flag=True,
    help="Make no safety copy of the current database (asked again; for when you have "
    "your own copy and no room for one).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("restore")
@click.pass_obj
def restore(
    settings: Settings,
    archive: str,
    confirm: bool,
    include_files: bool,
    allow_schema_change: bool,
    from_target: str | None,
    at_text: str | None,
    to_path: Path | None,
    tables: tuple[str, ...],
    safety_dir: Path | None,
    no_safety_copy: bool,
    as_json: bool,
) -> None:
    """Restore the database from ARCHIVE (a backup ZIP, or `latest`)."""
    if no_safety_copy and safety_dir is not None:
        raise click.UsageError("--safety-dir says where the safety copy goes: drop one of them.")
    at = _point_in_time(settings, from_target, at_text, include_files)
    if to_path is not None:
        if tables or include_files:
            raise click.UsageError(
                "--to writes the whole database to a new file: drop --table and --include-files."
            )
        copy = restore_service.restore_to(settings, archive, to_path, from_target, at)
        output.emit(
            output.result_json(copy, ok=copy.ok, state=copy.state)
            if as_json
            else output.copy_text(copy)
        )
        if not copy.ok:
            raise IntegrityFailure(f"{copy.path} does not match the backup; see above.")
        return
    if not confirm:
        plan = restore_service.check_only(settings, archive, from_target, list(tables), at)
        output.emit(
            output.result_json(
                plan, confirmed=False, needs_schema_consent=plan.needs_schema_consent
            )
            if as_json
            else output.restore_plan_text(plan)
        )
        flags = " --allow-schema-change" if plan.needs_schema_consent else ""
        then = (
            "a safety copy of the current database is made first"
            if plan.live_exists
            else f"there is no database at {settings.database_path} yet: the restore creates it"
        )
        raise NotConfirmed(
            f"Nothing was changed. To restore, run the same command with --confirm{flags} ({then})."
        )
    if no_safety_copy:
        _confirm_without_safety_copy(settings)
    source = f"{archive} on {from_target}" if from_target else archive
    if not as_json:
        output.emit(f"⏳ Restoring {settings.database_path} from {source} ...")
    result = restore_service.restore(
        settings,
        archive,
        include_files=include_files,
        allow_schema_change=allow_schema_change,
        from_target=from_target,
        tables=list(tables),
        safety_dir=safety_dir,
        safety_copy=not no_safety_copy,
        at=at,
    )
    output.emit(
        output.result_json(result, confirmed=True, ok=result.ok, state=result.state)
        if as_json
        else output.restore_result_text(result)
    )
    if not result.ok:
        raise IntegrityFailure("The restored database does not match the backup; see the report.")


NO_SAFETY_ANSWER = "no safety copy"


def _point_in_time(
    settings: Settings, from_target: str | None, at_text: str | None, include_files: bool
) -> datetime | None:
    """Read --at (only with --from replica, which has no files to restore)."""
    if from_target == REPLICA_SOURCE and include_files:
        raise click.UsageError("The replica holds the database only: drop --include-files.")
    if at_text is None:
        return None
    if from_target != REPLICA_SOURCE:
        raise click.UsageError("--at chooses a moment of the replica: add --from replica.")
    try:
        return parse_at(at_text, settings)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--at") from None


def _confirm_without_safety_copy(settings: Settings) -> None:
    """The second yes to restoring without a safety copy: typed, never a flag alone."""
    click.echo(
        f"⚠️ Restoring WITHOUT a safety copy: nothing can bring back {settings.database_path} "
        "as it is now.",
        err=True,
    )
    try:
        answer = click.prompt(
            f'Type "{NO_SAFETY_ANSWER}" to go on', default="", show_default=False, err=True
        )
    except click.exceptions.Abort:  # no input (a script, cron): no second yes
        answer = ""
    if answer.strip().lower() != NO_SAFETY_ANSWER:
        raise NotConfirmed(
            "Nothing was changed: restoring without a safety copy needs the typed answer. "
            "Without --no-safety-copy a safety copy is made (--safety-dir puts it elsewhere)."
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def diagnose(settings: Settings, as_json: bool) -> None:
    """Check the database (read-only); exit 0 when healthy, 1 otherwise."""
    result = diagnose_service.diagnose(settings)
    output.emit(
        output.result_json(result, verdict=result.verdict)
        if as_json
        else output.diagnosis_text(result)
    )
    if result.verdict != diagnose_service.HEALTHY:
        raise click.exceptions.Exit(int(ExitStatus.ERROR))


@cli.command(name="export")
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path),
    help="A new folder for the files (default: recovery/data_export_<time>).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("export")
@click.pass_obj
def export_command(settings: Settings, folder: Path | None, as_json: bool) -> None:
    """Export every table of the database as readable JSON files."""
    if folder is not None and folder.exists():
        raise click.UsageError(f"{folder} exists already; name a new folder with --out.")
    result = export_service.export_database(settings, folder)
    output.emit(
        output.result_json(result, complete=result.complete)
        if as_json
        else output.export_text(result)
    )
    if not result.complete:
        raise IntegrityFailure("Some tables could not be read to the end; see the summary.")


@cli.command()
@click.option(
    "--apply",
    is_flag=True,
    help="Also put the recovered database in place of the live one (the damaged files "
    "are kept in the recovery folder first). Stop the bot before using it.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("repair")
@click.pass_obj
def repair(settings: Settings, apply: bool, as_json: bool) -> None:
    """Build recovery/recovered_<time>.db from every row the damaged file still holds."""
    result = repair_service.repair(settings, apply=apply)
    output.emit(output.result_json(result) if as_json else output.repair_text(result))
    if result.integrity != "ok":
        raise IntegrityFailure("The recovered database fails integrity_check; see the report.")


@cli.command()
@click.option(
    "--users",
    default=3000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="How many sample users to create.",
)
@shows_progress("demo")
@click.pass_obj
def demo(settings: Settings, users: int) -> None:
    """Create a sample bot database (only where none exists), back it up, show the status."""
    result = demo_service.run_demo(settings, users)
    output.emit(output.demo_text(settings.database_path, result))
    output.emit("")
    output.emit(output.status_text(status_service.get_status(settings)))


cli.add_command(scheduler)
cli.add_command(offsite)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one return a kind of outcome
    """Run the CLI and map every outcome to a documented exit code (the one place)."""
    restrict_new_files()  # logs, history, exports, reports: owner-only under any umask
    try:
        code = cli.main(args=argv, prog_name="backup_manager.py", standalone_mode=False)
        if isinstance(code, int) and code:  # a command that ended with click's Exit(code)
            return code
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except click.ClickException as error:
        error.show()
        return int(ExitStatus.USAGE if isinstance(error, click.UsageError) else ExitStatus.ERROR)
    except (click.exceptions.Abort, KeyboardInterrupt):
        output.emit("❌ Interrupted; nothing half-written is left as a backup.", sys.stderr)
        return int(ExitStatus.INTERRUPTED)
    except BackupError as error:
        # a restore shown but not confirmed failed nothing: it waits for the operator
        shown = isinstance(error, NotConfirmed)
        output.emit(f"{'💡' if shown else '❌'} {error}", sys.stderr)
        return int(exit_status_for(error))
    except Exception as error:
        known = disk_error(error)
        if known is not None:
            logger.exception("%s", known)
            output.emit(f"❌ {known}", sys.stderr)
            return int(exit_status_for(known))
        logger.exception("unexpected error")
        output.emit(
            f"❌ Unexpected error: {error!r}. The traceback is in the log folder (errors.log).",
            sys.stderr,
        )
        return int(ExitStatus.ERROR)
    return int(ExitStatus.OK)
