"""What the bot says outside the menus, in Indonesian and English, chosen in one place.

The spec is Indonesian; an admin or user whose Telegram app is set to Indonesian
(`language_code` "id") reads Indonesian, everyone else English (the fallback).
"""

from __future__ import annotations

from telegram import User

FALLBACK = "en"
TEXTS: dict[str, dict[str, str]] = {
    "welcome": {
        "id": "👋 Selamat datang, {name}! Aku di sini untuk menemanimu dalam pemulihan. "
        "/help menampilkan apa yang bisa kulakukan.",
        "en": "👋 Welcome, {name}! I am here to keep you company in your recovery. "
        "/help shows what I can do.",
    },
    "welcome_back": {
        "id": "👋 Selamat datang kembali, {name}! Aku di sini untuk menemanimu dalam pemulihan. "
        "/help menampilkan apa yang bisa kulakukan.",
        "en": "👋 Welcome back, {name}! I am here to keep you company in your recovery. "
        "/help shows what I can do.",
    },
    "help_start": {
        "id": "/start - mulai (atau mulai lagi)",
        "en": "/start - begin (or begin again)",
    },
    "help_help": {"id": "/help - daftar ini", "en": "/help - this list"},
    "help_backup": {
        "id": "/backup - cadangan, pemulihan dan penjadwal (admin)",
        "en": "/backup - backups, restore and the scheduler (admins)",
    },
    "help_status": {
        "id": "/status - keadaan cadangan dan penjadwal",
        "en": "/status - the state of backups and the scheduler",
    },
    "help_backups": {
        "id": "/backups - daftar cadangan per jenis",
        "en": "/backups - the backups, by type",
    },
    "help_last": {"id": "/last - cadangan terbaru", "en": "/last - the newest backup"},
    "help_logs": {"id": "/logs - akhir log kesalahan", "en": "/logs - the end of the error log"},
    "admins_only": {
        "id": "⛔ Perintah ini hanya untuk admin bot.",
        "en": "⛔ This command is for the bot's admins only.",
    },
    "no_backups": {"id": "📭 Belum ada cadangan.", "en": "📭 No backups yet."},
    "log_empty": {"id": "✅ Log kesalahan kosong.", "en": "✅ The error log is empty."},
    "log_title": {
        "id": "📜 <b>errors.log</b> (baris terakhir)",
        "en": "📜 <b>errors.log</b> (last lines)",
    },
}  # fmt: skip
ADMIN_HELP = ("help_backup", "help_status", "help_backups", "help_last", "help_logs")


def language(user: User | None) -> str:
    """The language to answer a user in: Indonesian for "id", else English."""
    code = (user.language_code or "") if user is not None else ""
    return "id" if code.lower().split("-")[0] == "id" else FALLBACK


def say(key: str, user: User | None, **values: object) -> str:
    """The text `key` in the user's language, with `values` filled in."""
    variants = TEXTS[key]
    return variants.get(language(user), variants[FALLBACK]).format(**values)
