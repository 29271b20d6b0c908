"""Everything the bot says, in Indonesian and English, chosen in one place.

The spec is Indonesian; an admin or user whose Telegram app is set to Indonesian
(`language_code` "id", "id-ID") reads Indonesian, everyone else English (the fallback).
The texts live in the modules beside this one, by topic, each key with both variants;
`say` is the only lookup.
"""

from __future__ import annotations

import re

from telegram import User

from src.bot.texts import general, menus, restore, steps, work

FALLBACK = "en"
LANGUAGES = ("id", "en")
TEXTS: dict[str, dict[str, str]] = {}
for _module in (general, menus, restore, steps, work):
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


def _pattern(phrase: str) -> re.Pattern[str]:
    """A core's phrase with `{name}` places as a pattern that reads those names back."""
    parts = re.split(r"\{(\w+)\}", phrase)
    return re.compile(
        "".join(f"(?P<{p}>.+)" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    )


# a phrase without names first (so "writing the tables" is not "writing {name}"), then in order
_STEPS = sorted(
    ((_pattern(v[FALLBACK]), k) for k, v in steps.TEXTS.items()),
    key=lambda step: "{" in steps.TEXTS[step[1]][FALLBACK],
)


def step(phase: str, user: User | str | None) -> str:
    """A step of a long job, named by the service core in English, in the user's language.

    A step the texts do not know is shown as it is.
    """
    if language(user) == FALLBACK:
        return phase
    for pattern, key in _STEPS:
        found = pattern.fullmatch(phase)
        if found:
            return say(key, user, **found.groupdict())
    return phase
