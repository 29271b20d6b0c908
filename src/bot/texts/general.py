"""Texts outside the menus: the greeting, /help, refusals, the direct commands."""

from __future__ import annotations

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
    "admins_only_short": {"id": "⛔ Hanya untuk admin.", "en": "⛔ Admins only."},
    "private_only": {
        "id": "🔒 Menu cadangan hanya bisa dipakai di obrolan pribadi denganku: cadangan "
        "berisi data setiap pengguna.",
        "en": "🔒 The backup menu works only in a private chat with me: backups hold every "
        "user's data.",
    },
    "no_backups": {"id": "📭 Belum ada cadangan.", "en": "📭 No backups yet."},
    "log_empty": {"id": "✅ Log kesalahan kosong.", "en": "✅ The error log is empty."},
    "log_title": {
        "id": "📜 <b>errors.log</b> (baris terakhir)",
        "en": "📜 <b>errors.log</b> (last lines)",
    },
    "error_admin": {
        "id": "❌ Terjadi kesalahan; rinciannya ada di log bot (logs/errors.log). "
        "Kirim /backup untuk mencoba lagi.",
        "en": "❌ Something went wrong; it is in the bot's log (logs/errors.log). "
        "Send /backup to try again.",
    },
    "error_user": {
        "id": "❌ Terjadi kesalahan. Silakan coba lagi nanti.",
        "en": "❌ Something went wrong. Please try again later.",
    },
    "cut_mark": {
        "id": "\n… (dipotong agar muat dalam satu pesan)",
        "en": "\n… (cut to fit one message)",
    },
    "characters_cut": {
        "id": " [… {count} karakter dipotong …] ",
        "en": " [… {count} characters cut …] ",
    },
    # the command list Telegram shows
    "command_start": {"id": "mulai", "en": "begin"},
    "command_help": {"id": "apa yang bisa dilakukan bot", "en": "what the bot can do"},
    "command_backup": {"id": "cadangan dan pemulihan", "en": "backups and restore"},
    "command_status": {
        "id": "keadaan cadangan dan penjadwal",
        "en": "the state of backups and the scheduler",
    },
    "command_backups": {"id": "daftar cadangan per jenis", "en": "the backups, by type"},
    "command_last": {"id": "cadangan terbaru", "en": "the newest backup"},
    "command_logs": {"id": "akhir log kesalahan", "en": "the end of the error log"},
}  # fmt: skip
