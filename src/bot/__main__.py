"""`python -m src.bot`: run the PMO Recovery Bot (long polling) with its scheduler."""

from __future__ import annotations

import logging
import signal
import sys

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from src.bot.app import build_application, prepare_database
from src.config.settings import load_settings
from src.errors import BackupError, ExitStatus, exit_status_for
from src.logging_setup import configure_logging
from src.services.file_modes import restrict_new_files


def main() -> int:
    """Run until Ctrl-C or SIGTERM; return the exit status."""
    restrict_new_files()  # the bot's database, logs and backups: owner-only
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
    if hasattr(signal, "SIGHUP"):  # a closed SSH session must not end the bot: SIGTERM does
        signal.signal(
            signal.SIGHUP,
            lambda *_: logger.warning("SIGHUP ignored: the bot keeps running; SIGTERM stops it"),
        )
    try:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
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


if __name__ == "__main__":
    sys.exit(main())
