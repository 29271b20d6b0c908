"""`python -m src.bot`: run the PMO Recovery Bot (long polling) with its scheduler."""

from __future__ import annotations

import logging
import sys

from telegram import Update

from src.bot.app import build_application, prepare_database
from src.config.settings import load_settings
from src.errors import BackupError, ExitStatus, exit_status_for
from src.logging_setup import configure_logging


def main() -> int:
    """Run until Ctrl-C or SIGTERM; return the exit status."""
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
    logging.getLogger(__name__).info("bot starting (Bot API at %s)", settings.telegram_api_url)
    app.run_polling(allowed_updates=Update.ALL_TYPES)
    logging.getLogger(__name__).info("bot stopped")
    return int(ExitStatus.OK)


if __name__ == "__main__":
    sys.exit(main())
