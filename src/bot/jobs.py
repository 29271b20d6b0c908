"""A backup or restore asked for with a button: one at a time, its outcome recorded, then shown.

The work runs in a small pool of its own (`WORK_THREADS`), so quick replies to everyone else
(`/start`, the menus) never wait behind it in asyncio's default pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html import escape
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from src.bot import delivery, menu_guard, views
from src.bot.progress_edits import MenuProgress, reporting
from src.bot.texts import FALLBACK, language, say
from src.config.settings import Settings
from src.errors import BackupError
from src.services import admin_reach
from src.services.jobs import Job, JobBusy, Jobs

logger = logging.getLogger(__name__)

R = TypeVar("R")
WORK_THREADS = 2  # one job at a time, plus a validation or a download beside it
Screen = tuple[str, InlineKeyboardMarkup]


def work_pool() -> ThreadPoolExecutor:
    """The bounded pool for slow work (backups, restores, validations, downloads)."""
    return ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="bot-work")


async def in_pool(context: ContextTypes.DEFAULT_TYPE, work: Callable[[], R]) -> R:
    """Run slow work in the bot's work pool."""
    pool: ThreadPoolExecutor = context.bot_data["work_pool"]
    return await asyncio.get_running_loop().run_in_executor(pool, work)


def who(update: Update) -> str:
    """How a job's starter is named to the other admins."""
    user = update.effective_user
    if user is None:
        return "an admin"
    return f"admin {user.id} ({user.full_name})"


def running(settings: Settings) -> Job | None:
    """The job that runs now, if any (for the menus)."""
    return Jobs(settings).running()


async def begin(update: Update, context: ContextTypes.DEFAULT_TYPE, what: str) -> Job | None:
    """Record a job as running; when another runs, answer with what runs and return None."""
    settings: Settings = context.bot_data["settings"]
    chat = update.effective_chat
    try:
        run = context.bot_data["menu_generation"]
        return await asyncio.to_thread(
            Jobs(settings).begin, what, who(update), chat.id if chat else None, run
        )
    except JobBusy as busy:
        query = update.callback_query
        logger.info("refused %s: %s", what, busy)
        if query is not None:
            try:
                lang = language(update.effective_user)
                refusal = views.job_busy(busy.job, lang)
                await query.answer(views.middle_cut(refusal, 200, lang), show_alert=True)
            except TelegramError as error:
                logger.warning("could not say why %s was refused: %s", what, error)
        return None


async def run(
    context: ContextTypes.DEFAULT_TYPE,
    menu: views.Menu,
    job: Job,
    work: Callable[[], R],
    done: Callable[[R], Screen],
    failed: str,
    shown: MenuProgress | None = None,
) -> Screen:
    """Do a job's work in the pool; record its outcome (before it is shown) and return it.

    menu: the menu it was asked from (its language says the failure); failed: what failed,
    in that language. shown: where the work's progress is shown meanwhile (the menu's "⏳"
    message).
    """
    settings: Settings = context.bot_data["settings"]
    status, screen = "failed", views.failure(menu, failed, menu.say("unexpected_error"))
    try:
        result = await in_pool(context, work if shown is None else reporting(shown, work))
        status, screen = "done", done(result)
    except BackupError as error:
        screen = views.failure(menu, failed, str(error))
    finally:  # even an unexpected error ends the job: a job left running would refuse all
        await asyncio.to_thread(Jobs(settings).finish, job, status, screen[0])
    return screen


def finish_cancelled(settings: Settings, job: Job, text: str) -> None:
    """Record a job cancelled before its work started."""
    Jobs(settings).finish(job, "cancelled", text)


async def show_outcome(
    update: Update, context: ContextTypes.DEFAULT_TYPE, job: Job, screen: Screen
) -> None:
    """Show a job's outcome in its menu (or as a new message); it is marked seen once shown."""
    query = update.callback_query
    settings: Settings = context.bot_data["settings"]
    if query is None or query.message is None:
        return
    chat, message_id = query.message.chat.id, query.message.message_id
    menu_guard.outcome_shown()
    try:
        await delivery.edit_or_send(context.bot, chat, message_id, *screen)
    except TelegramError as error:
        logger.error(  # noqa: TRY400 - Telegram's words are enough
            "the outcome of %s could not be shown (%s); it is sent after the next restart",
            job.what,
            error,
        )
        await asyncio.to_thread(
            admin_reach.record, settings, chat, delivery.reach_state(error), str(error)
        )
        return
    await asyncio.to_thread(Jobs(settings).mark_shown, job)


async def tell_unseen(bot: Bot, settings: Settings, admins: list[int], run: str) -> None:
    """After a restart: say which jobs it cut short, and show outcomes nobody saw.

    Each admin is told in the language of their last update (English when it is not known);
    an outcome is shown as it was recorded, in the language of the admin who asked.
    """
    languages = await asyncio.to_thread(admin_reach.languages, settings)
    for job in await asyncio.to_thread(Jobs(settings).unseen, run):
        reached = []
        chats = admins if job.status == "interrupted" or job.chat_id is None else [job.chat_id]
        for chat in chats:
            lang = languages.get(chat, FALLBACK)
            if job.status == "interrupted":
                text = views.interrupted(job, lang)
            else:
                outcome = job.outcome or escape(views.job_what(job.what, lang))
                text = f"{say('from_before_restart', lang)}\n{outcome}"
            if await send(bot, settings, chat, views.fit(text, lang)):
                reached.append(chat)
        if reached:
            await asyncio.to_thread(Jobs(settings).acknowledge, job)


async def send(
    bot: Bot, settings: Settings, chat: int, text: str, attempts: int = delivery.ATTEMPTS
) -> bool:
    """Send a message to an admin with retries; record what it met."""
    try:
        await delivery.with_retries(
            lambda: bot.send_message(chat, text, parse_mode=ParseMode.HTML), attempts
        )
    except TelegramError as error:
        logger.warning("message to %s failed: %s", chat, error)
        await asyncio.to_thread(
            admin_reach.record, settings, chat, delivery.reach_state(error), str(error)
        )
        return False
    await asyncio.to_thread(admin_reach.record, settings, chat, "delivered")
    return True
