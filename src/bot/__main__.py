"""`python -m src.bot`: run the PMO Recovery Bot (long polling) with its scheduler."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from src.bot import jobs
from src.bot.app import BotApplication, build_application, prepare_database
from src.config.settings import load_settings
from src.errors import BackupError, ExitStatus, exit_status_for
from src.logging_setup import configure_logging
from src.services.file_modes import restrict_new_files


def main() -> int:
    """Run until Ctrl-C or SIGTERM; return the exit status."""
    restrict_new_files()  # the bot's database, logs and backups: owner-only
    if hasattr(signal, "SIGHUP"):  # from the first moment: a closed SSH session never ends it
        signal.signal(signal.SIGHUP, lambda *_: print("SIGHUP ignored", file=sys.stderr))
    try:
        settings = load_settings()
        configure_logging(
            settings.log_dir, settings.bot_token, console_level=logging.INFO, console_errors=True
        )
        app = build_application(settings)
        prepare_database(settings)
    except BackupError as error:
        print(f"❌ {error}", file=sys.stderr)
        return int(exit_status_for(error))
    logger = logging.getLogger(__name__)
    logger.info("bot starting (Bot API at %s)", settings.telegram_api_url)
    try:
        if sys.platform == "win32":  # no loop signal handlers there: Ctrl-C as PTB does it
            app.run_polling(allowed_updates=Update.ALL_TYPES)
        else:
            asyncio.set_event_loop(asyncio.new_event_loop())
            _handle_signals(app, asyncio.get_event_loop())
            app.run_polling(allowed_updates=Update.ALL_TYPES, stop_signals=None)
    except InvalidToken:  # its message would show the token: say it in our words
        print(
            f"❌ The Bot API at {settings.telegram_api_url} refused BOT_TOKEN. Copy the token "
            "again from @BotFather (/mybots → API Token) into .env.",
            file=sys.stderr,
        )
        return int(ExitStatus.CONFIG)
    except NetworkError as error:
        print(
            f"❌ Cannot reach the Bot API at {settings.telegram_api_url} "
            f"({type(error).__name__}). Check the internet connection or TELEGRAM_API_URL.",
            file=sys.stderr,
        )
        return int(ExitStatus.ERROR)
    logger.info("bot stopped")
    return int(ExitStatus.OK)


def _handle_signals(app: BotApplication, loop: asyncio.AbstractEventLoop) -> None:
    """SIGTERM/SIGINT stop the bot after the work in progress; a second one is only logged;
    SIGHUP (a closed SSH session, `systemctl reload`) is logged and ignored."""
    logger = logging.getLogger(__name__)
    stopping: list[int] = []

    def stop(signum: int) -> None:
        name = signal.Signals(signum).name
        if not stopping:
            stopping.append(signum)
            logger.info("%s: stopping (a backup or restore in progress finishes first)", name)
            app.stop_running()
            return
        running = jobs.running(app.bot_data["settings"])
        logger.warning(
            "%s again: still finishing %s; the bot stops when it is done (SIGKILL ends it at "
            "once; nothing half-written is ever listed as a backup)",
            name,
            running.what if running else "the work in progress",
        )

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    loop.add_signal_handler(
        signal.SIGHUP,
        lambda: logger.warning("SIGHUP ignored: the bot keeps running; SIGTERM stops it"),
    )


if __name__ == "__main__":
    sys.exit(main())
