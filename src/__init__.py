"""Backup and recovery for SQLite-backed Telegram bots (PMO Recovery Bot)."""

__version__ = "0.1.0"
