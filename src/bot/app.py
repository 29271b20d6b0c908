"""Build the bot's Application: handlers, the scheduler's heartbeat, the Bot API address."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from src.bot import jobs
from src.bot.handlers import backup_handlers, command_handlers, start_handlers
from src.bot.notifier import TelegramNotifier
from src.config.settings import Settings
from src.database.schema import create_database
from src.driver.heartbeat import Heartbeat
from src.errors import ConfigError, LockBusy
from src.services.backup_scheduler import BackupScheduler
from src.services.notifiers import notifier_for

logger = logging.getLogger(__name__)

BotApplication = Application[Any, Any, Any, Any, Any, Any]
# updates handled at once: a backup's handler waits for its worker thread, not for a slot
# here, so the 9th admin press and everyone's /start are still answered
CONCURRENT_UPDATES = 32
RATE_LIMIT_RETRIES = 3  # a 429 is waited out (retry_after) this many times per call


def build_application(settings: Settings) -> BotApplication:
    """The Application `python -m src.bot` runs (tests point TELEGRAM_API_URL at a fake).

    Raises:
        ConfigError: BOT_TOKEN is not set.
    """
    if not settings.bot_token:
        raise ConfigError(
            "BOT_TOKEN is not set. Put the token from @BotFather in .env "
            "(BOT_TOKEN=123456:ABC...) or in the environment, and ADMIN_USER_IDS with your "
            "Telegram user id."
        )
    api = settings.telegram_api_url
    app = (
        ApplicationBuilder()
        .token(settings.bot_token)
        .base_url(f"{api}/bot{{token}}")
        .base_file_url(f"{api}/file/bot{{token}}")
        .concurrent_updates(CONCURRENT_UPDATES)
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .build()
    )
    app.bot_data["settings"] = settings
    app.bot_data["menu_generation"] = secrets.token_hex(4)  # old menus expire on restart
    app.bot_data["work_pool"] = jobs.work_pool()
    start_handlers.register(app)
    backup_handlers.register(app)
    command_handlers.register(app)
    return app


def prepare_database(settings: Settings) -> None:
    """Create the bot's database (schema only) when it does not exist yet."""
    if not settings.database_path.exists():
        create_database(settings.database_path)
        logger.info("created the bot's database at %s", settings.database_path)


async def _post_init(app: BotApplication) -> None:
    settings: Settings = app.bot_data["settings"]
    await command_handlers.publish(app, settings)
    app.bot_data["scheduler"] = app.bot_data["heartbeat"] = None
    admins, run = backup_handlers.admin_ids(settings), app.bot_data["menu_generation"]
    await jobs.tell_unseen(app.bot, settings, admins, run)
    notifier = TelegramNotifier(app.bot, asyncio.get_running_loop(), admins, settings)
    app.bot_data["notifier"] = notifier
    await notifier.resend_pending()  # alarms a stopped bot could not deliver
    if not settings.bot_run_scheduler:
        logger.info("BOT_RUN_SCHEDULER is off: the bot does not run the scheduler")
        return
    core = BackupScheduler(settings, notifier=notifier_for(settings, notifier))
    heartbeat = Heartbeat(core)
    try:
        await asyncio.to_thread(heartbeat.start)
    except LockBusy as error:
        logger.warning("the bot runs without its own scheduler: %s", error)
        return
    # the scheduler makes the button's backups too (its handlers see only the core)
    app.bot_data["scheduler"], app.bot_data["heartbeat"] = core, heartbeat


async def _post_stop(app: BotApplication) -> None:
    heartbeat: Heartbeat | None = app.bot_data.get("heartbeat")
    if heartbeat is not None:
        logger.info("stopping the scheduler (a backup in progress finishes first)")
        await asyncio.to_thread(heartbeat.stop)
        app.bot_data["scheduler"] = app.bot_data["heartbeat"] = None
    app.bot_data["work_pool"].shutdown(wait=True)  # the handlers awaiting it have ended
