"""The PMO Recovery Bot's Telegram door: `python -m src.bot`."""
