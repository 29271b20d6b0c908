"""`offsite`: list, verify and sync the off-machine copies."""

from __future__ import annotations

import click

from src.cli import offsite_output, output
from src.cli.progress_display import shows_progress
from src.config.settings import Settings
from src.errors import OffsiteError
from src.presentation import offsite as offsite_words
from src.services.offsite import checking, copying


@click.group()
def offsite() -> None:
    """The encrypted copies on other machines (OFFSITE_TARGETS)."""


@offsite.command(name="list")
@click.option("--target", "target", help="Only this target (a name in OFFSITE_TARGETS).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_command(settings: Settings, target: str | None, as_json: bool) -> None:
    """List what each target holds, newest first."""
    listings = checking.list_copies(settings, target)
    if as_json:
        output.emit(output.to_json(offsite_output.listing_json(listings)))
    else:
        output.emit(offsite_output.listing_text(listings))
    failed = [listing for listing in listings if listing.error]
    if failed:
        raise OffsiteError(f"{len(failed)} target(s) could not be listed: {failed[0].error}")


@offsite.command()
@click.option("--target", "target", help="Only this target.")
@click.option("--all", "check_all", is_flag=True, help="Every copy, not the newest of each type.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("offsite verify")
@click.pass_obj
def verify(settings: Settings, target: str | None, check_all: bool, as_json: bool) -> None:
    """Download copies and check them (with AGE_IDENTITY_FILE: every check of `verify`)."""
    checks = checking.verify_copies(settings, target, check_all=check_all)
    if as_json:
        output.emit(
            output.to_json(
                [
                    {
                        "target": c.target,
                        "name": c.name,
                        "ok": c.ok,
                        "problems": c.problems,
                        "notes": c.notes,
                    }
                    for c in checks
                ]
            )
        )
    for check in checks if not as_json else []:
        output.emit(offsite_output.check_text(check))
    failure = checking.verify_failure(checks)
    if failure is not None:
        raise failure


@offsite.command()
@click.option("--target", "target", help="Only this target.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@shows_progress("offsite sync")
@click.pass_obj
def sync(settings: Settings, target: str | None, as_json: bool) -> None:
    """Copy now everything pending, or missing on a target (the newest it keeps)."""
    if target is not None and settings.offsite.target(target) is None:
        raise click.UsageError(f"No target named {target!r} in OFFSITE_TARGETS.")
    run = copying.sync(settings, target)
    lines = offsite_words.run_lines(run)
    if as_json:
        output.emit(output.result_json(run, ok=run.ok))
    else:
        output.emit("\n".join(lines) if lines else "✅ Off-machine: everything is copied already.")
    if run.not_copied:
        raise OffsiteError(run.not_copied)
    if not run.ok:
        failed = [o for o in run.outcomes if not o.ok]
        raise OffsiteError(f"{len(failed)} copy(ies) stay pending; they are retried later.")
