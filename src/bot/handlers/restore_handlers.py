"""The restore buttons: validate and show, then a second press by the same admin confirms.

The confirmation works only for the admin who asked, only once, only before it expires, and
only when no other job runs (then it is refused with what runs, and stays valid). Cancel after
Confirm cancels a restore whose work has not begun, and says it is too late once it has.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from telegram import Document, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from src.bot import jobs, views
from src.bot.handlers import common
from src.bot.handlers.common import Screen
from src.bot.texts import say
from src.config.settings import Settings
from src.errors import BackupError
from src.services import catalog, received, restore_service

logger = logging.getLogger(__name__)

CONFIRM_MINUTES = 5


async def plan(update: Update, context: ContextTypes.DEFAULT_TYPE, argument: str) -> None:
    """Step one of a restore: validate and show; the confirmation is a second button.

    argument: the backup's short id, and the restore list's page it was chosen on
    (`id:page`; Cancel leads back there) or none (chosen from its details).
    """
    menu = common.menu(context, update)
    await common.answer(update, menu.say("checking_backup"))
    ident, _, page = argument.partition(":")
    item = await common.find(update, context, ident)
    if item is None:
        return
    name = f"<code>{views.escape(item.name)}</code>"
    await common.busy(update, menu.say("validating", name=name))
    user = update.effective_user
    where = (item.backup_type, int(page)) if page.isdigit() else None
    screen = await offer(context, menu, user.id if user else None, Path(item.path), where=where)
    await common.show(update, screen)


async def offer(
    context: ContextTypes.DEFAULT_TYPE,
    menu: views.Menu,
    user_id: int | None,
    archive: Path,
    sent: bool = False,
    where: tuple[str, int] | None = None,
) -> Screen:
    """Validate an archive and return the restore plan with its Confirm button (or why not).

    sent: a file an admin sent (an age copy is opened first). where: the restore list's
    type and page the archive was chosen on.
    """
    check = functools.partial(_check, common.settings(context), archive, sent)
    return await _offer(context, menu, user_id, check, {}, menu.say("what_validation"), where)


async def offer_moment(
    context: ContextTypes.DEFAULT_TYPE, menu: views.Menu, user_id: int | None, at: datetime
) -> Screen:
    """Restore the replica as of `at` into a check file; return the plan with its Confirm
    button (or why not: e.g. a moment before the oldest restorable one)."""
    check = functools.partial(
        restore_service.check_only, common.settings(context), "latest", "replica", at=at
    )
    source = {"reference": "latest", "from_target": "replica", "at": at.isoformat()}
    return await _offer(context, menu, user_id, check, source, menu.say("what_pit"))


async def _offer(
    context: ContextTypes.DEFAULT_TYPE,
    menu: views.Menu,
    user_id: int | None,
    check: Callable[[], restore_service.RestorePlan],
    source: dict[str, str],
    what: str,
    where: tuple[str, int] | None = None,
) -> Screen:
    """Run the check; keep what the Confirm button restores (`source`: how to fetch it again)
    and where Cancel leads back to (`where`: a restore list's type and page)."""
    try:
        plan = await jobs.in_pool(context, check)
    except BackupError as error:  # Back leads to the restore list's page it was chosen on
        back = ("rlist", f"{where[0]}:{where[1]}") if where else ("menu", "")
        return views.failure(menu, what, str(error), back)
    token = secrets.token_urlsafe(9)
    context.bot_data.setdefault("restore_confirmations", {})[token] = {
        "user": user_id,
        "archive": str(plan.validation.archive),
        "expires": time.monotonic() + CONFIRM_MINUTES * 60,
        "schema_changes": [change.describe() for change in plan.schema_changes],
        "allow_schema_change": False,
        "back": f"{where[0]}:{where[1]}" if where else "",
        **source,
    }
    return views.restore_plan(menu, plan, token, CONFIRM_MINUTES, where)


def _check(settings: Settings, archive: Path, sent: bool) -> restore_service.RestorePlan:
    if sent:
        archive = received.open_received(settings, archive)
    return restore_service.check_only(settings, str(archive))


async def receive(update: Update, context: ContextTypes.DEFAULT_TYPE, document: Document) -> Screen:
    """Download a sent archive into its own folder, then offer it like a listed backup."""
    settings, name = common.settings(context), document.file_name or "archive.zip"
    user, menu = update.effective_user, common.menu(context, update)
    try:
        sent = await context.bot.get_file(document.file_id)
        path = await asyncio.to_thread(received.place, settings, name)
        await sent.download_to_drive(path, read_timeout=300)
    except BadRequest as error:
        too_big = "too big" in str(error).lower()
        limit = received.DOWNLOAD_LIMIT_MB
        reason = menu.say("file_too_large", name=name, limit=limit) if too_big else str(error)
        return views.failure(menu, menu.say("what_receiving"), reason)
    logger.warning("archive %s received from admin %s", name, user.id if user else None)
    return await offer(context, menu, user.id if user else None, path, sent=True)


async def _pending(
    update: Update, context: ContextTypes.DEFAULT_TYPE, token: str
) -> dict[str, Any] | None:
    """The confirmation entry behind a button, if it is still valid and the presser's own."""
    pending: dict[str, Any] = context.bot_data.setdefault("restore_confirmations", {})
    entry: dict[str, Any] | None = pending.get(token)
    user = update.effective_user
    if entry is None or entry["expires"] < time.monotonic():
        pending.pop(token, None)
        await common.answer(update, say("no_longer_valid", user), True)
        return None
    if entry["user"] != (user.id if user else None):
        logger.warning("restore confirmation of admin %s pressed by %s", entry["user"], user)
        await common.answer(update, say("not_yours", user), True)
        return None
    return entry


async def schema(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """The extra step when the archive changes the schema: name the changes, ask again."""
    entry = await _pending(update, context, token)
    if entry is None:
        return
    await common.answer(update)
    entry["allow_schema_change"] = True
    logger.warning(
        "restore of %s: admin %s is shown its schema changes", entry["archive"], entry["user"]
    )
    await common.show(
        update,
        views.schema_consent(
            common.menu(context, update),
            Path(entry["archive"]).name,
            entry["schema_changes"],
            token,
        ),
    )


async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """Step two: only the admin who asked, only before it expires, only once, only alone."""
    entry = await _pending(update, context, token)
    if entry is None:
        return
    archive = Path(entry["archive"]).name
    job = await jobs.begin(update, context, f"a restore from {archive}")
    if job is None:  # another job runs: refused with what runs; the confirmation stays valid
        return
    context.bot_data["restore_confirmations"].pop(token, None)
    started: dict[str, dict[str, Any]] = context.bot_data.setdefault("restores_started", {})
    started[token] = entry
    menu = common.menu(context, update)
    try:
        await common.answer(update, menu.say("restoring"))
        title = menu.say("restoring_title")
        await common.busy(update, title)
        if entry.get("cancelled"):  # Cancel came while the "⏳" was on its way
            await _cancelled(update, context, job)
            return
        entry["running"] = True
        logger.warning("restore of %s confirmed by %s", archive, job.started_by)
        settings = common.settings(context)
        at = entry.get("at")
        work = functools.partial(
            restore_service.restore,
            settings,
            entry.get("reference", entry["archive"]),
            allow_schema_change=entry["allow_schema_change"],
            from_target=entry.get("from_target"),
            at=datetime.fromisoformat(at) if at else None,
        )
        done = functools.partial(views.restore_done, menu)
        shown = common.progress(update, title)
        failed = menu.say("what_restore")
        screen = await jobs.run(context, menu, job, work, done, failed, shown=shown)
    finally:
        started.pop(token, None)
    await jobs.show_outcome(update, context, job, screen)


async def _cancelled(update: Update, context: ContextTypes.DEFAULT_TYPE, job: Any) -> None:
    menu = common.menu(context, update)
    text = menu.say("cancelled_before")
    await asyncio.to_thread(jobs.finish_cancelled, common.settings(context), job, text)
    screen = (text, InlineKeyboardMarkup([menu.nav()]))
    await jobs.show_outcome(update, context, job, screen)


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """Drop a restore confirmation (back to the restore list's page it was chosen on, else to
    the main menu); after Confirm, cancel it only if its work has not begun."""
    user = update.effective_user
    entry = context.bot_data.setdefault("restores_started", {}).get(token)
    if entry is None:
        dropped = context.bot_data.setdefault("restore_confirmations", {}).pop(token, None)
        back = dropped.get("back", "") if dropped else ""
        if back:
            await on_page(update, context, back)
        else:
            await common.main(update, context, "")
    elif entry.get("running"):
        await common.answer(update, say("too_late", user), alert=True)
    else:
        entry["cancelled"] = True
        await common.answer(update, say("cancelled", user))


async def on_page(update: Update, context: ContextTypes.DEFAULT_TYPE, argument: str) -> None:
    """A page of the restore list (`kind:page`)."""
    kind, _, number = argument.partition(":")
    await common.answer(update)
    backups = await asyncio.to_thread(catalog.list_backups, common.settings(context))
    menu = common.menu(context, update)
    page = int(number) if number.isdigit() else 0
    await common.show(update, views.backup_page(menu, backups, kind, page, "rlist"))
