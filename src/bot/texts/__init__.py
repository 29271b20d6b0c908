"""Everything the bot says, in Indonesian and English, chosen in one place.

The spec is Indonesian; an admin or user whose Telegram app is set to Indonesian
(`language_code` "id", "id-ID") reads Indonesian, everyone else English (the fallback).
The texts live in the modules beside this one, by topic, each key with both variants;
`say` is the only lookup of the bot's own texts. `step` and `alarm_body` show what the
service core phrases in English (a job's steps, the scheduler's alarm messages) in the
user's language, through the phrase tables `steps` and `alarms`.
"""

from __future__ import annotations

import re

from telegram import User

from src.bot.texts import alarms, general, menus, restore, steps, work

FALLBACK = "en"
LANGUAGES = ("id", "en")
TEXTS: dict[str, dict[str, str]] = {}
for _module in (alarms, general, menus, restore, steps, work):
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
        "".join(f"(?P<{p}>.*?)" if i % 2 else re.escape(p) for i, p in enumerate(parts)),
        re.DOTALL,
    )


def _patterns(table: dict[str, dict[str, str]]) -> list[tuple[re.Pattern[str], str]]:
    """A table's English phrases as patterns: those without places first, then in order."""
    found = [(_pattern(variants[FALLBACK]), key) for key, variants in table.items()]
    return sorted(found, key=lambda pair: "{" in table[pair[1]][FALLBACK])


_STEPS = _patterns(steps.TEXTS)
_ALARMS = _patterns(alarms.TEXTS)


def _translate(
    patterns: list[tuple[re.Pattern[str], str]], phrase: str, user: User | str | None
) -> str:
    """The core's English `phrase` in the user's language: the first pattern fitting it
    whole, its places carried over (a backup type translated); else `phrase` as it is."""
    if language(user) == FALLBACK:
        return phrase
    for pattern, key in patterns:
        found = pattern.fullmatch(phrase)
        if found:
            values = found.groupdict()
            kind = f"kind_{values.get('kind')}"
            if "kind" in values and kind in TEXTS:
                values["kind"] = say(kind, user).lower()
            return say(key, user, **values)
    return phrase


def step(phase: str, user: User | str | None) -> str:
    """A step of a long job, named by the service core in English, in the user's language.

    A step the texts do not know is shown as it is.
    """
    return _translate(_STEPS, phase, user)


def alarm_body(message: str, user: User | str | None) -> str:
    """The scheduler's message under an alarm in the user's language (its reasons as the
    core words them); a message the texts do not know is shown as it is."""
    return _translate(_ALARMS, message, user)
