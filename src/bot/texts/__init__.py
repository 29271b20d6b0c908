"""Everything the bot says, in Indonesian and English, chosen in one place.

The spec is Indonesian; an admin or user whose Telegram app is set to Indonesian
(`language_code` "id", "id-ID") reads Indonesian, everyone else English (the fallback).
The texts live in the modules beside this one, by topic, each key with both variants;
`say` is the only lookup.
"""

from __future__ import annotations

from telegram import User

from src.bot.texts import general, menus, restore, work

FALLBACK = "en"
LANGUAGES = ("id", "en")
TEXTS: dict[str, dict[str, str]] = {}
for _module in (general, menus, restore, work):
    _clash = TEXTS.keys() & _module.TEXTS.keys()
    if _clash:
        raise ValueError(f"text keys defined twice: {sorted(_clash)}")
    TEXTS.update(_module.TEXTS)
ADMIN_HELP = ("help_backup", "help_status", "help_backups", "help_last", "help_logs")


def language(user: User | str | None) -> str:
    """The language to answer in: Indonesian for "id" (any region), else English.

    user: a Telegram user (their `language_code`), or a language code itself.
    """
    code = user if isinstance(user, str) else (user.language_code if user is not None else None)
    return "id" if (code or "").lower().replace("_", "-").split("-")[0] == "id" else FALLBACK


def say(key: str, user: User | str | None, **values: object) -> str:
    """The text `key` in the user's language (a User or a language code), `values` filled in."""
    variants = TEXTS[key]
    return variants.get(language(user), variants[FALLBACK]).format(**values)
