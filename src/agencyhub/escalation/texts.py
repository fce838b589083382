"""What an escalation notification says, in the reader's language and at the client's
local time. Pure functions: no I/O and no clock.

German and English, like the web app; any other locale reads English.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

_SEVERITY = {
    "de": {"normal": "normaler", "high": "dringender", "crisis": "Krisen-"},
    "en": {"normal": "normal", "high": "high", "crisis": "crisis"},
}
_ACTION = {
    "de": {
        "publish_template": "Haltestatement veröffentlicht",
        "hide_item": "Kommentar verborgen",
        "crisis_mode": "Krisenmodus ausgerufen",
    },
    "en": {
        "publish_template": "holding statement published",
        "hide_item": "comment hidden",
        "crisis_mode": "crisis mode declared",
    },
}


def language(locale: str | None) -> str:
    """``de`` for any German locale (de, de-AT, de_CH …), else ``en``."""
    return "de" if (locale or "").lower().startswith("de") else "en"


def local_time(moment: datetime, timezone: str, locale: str | None) -> str:
    """``moment`` on the client's clock, e.g. "07.12.2026, 09:15 CET" or
    "7 Dec 2026, 09:15 CET"."""
    local = moment.astimezone(ZoneInfo(timezone))
    zone = local.tzname() or timezone
    if language(locale) == "de":
        return f"{local:%d.%m.%Y, %H:%M} {zone}"
    return f"{local.day} {local:%b %Y, %H:%M} {zone}"


def _item(severity: str, lang: str) -> str:
    word = _SEVERITY[lang].get(severity, severity)
    if lang == "de":
        return f"ein {word}Beitrag" if word.endswith("-") else f"ein {word} Beitrag"
    return f"a {word} item"


def reminder_title(locale: str | None, severity: str, client: str, due: str) -> str:
    lang = language(locale)
    if lang == "de":
        return f"Erinnerung: {_item(severity, lang)} von {client} ist fällig um {due}"
    return f"Reminder: {_item(severity, lang)} of {client} is due at {due}"


def step_title(locale: str | None, step: int, severity: str, client: str, due: str) -> str:
    lang = language(locale)
    if lang == "de":
        return f"Eskalation Stufe {step}: {_item(severity, lang)} von {client} war fällig um {due}"
    return f"Escalation step {step}: {_item(severity, lang)} of {client} was due at {due}"


def fallback_taken_title(locale: str | None, action: str, client: str, at: str) -> str:
    lang = language(locale)
    what = _ACTION[lang].get(action, action)
    if lang == "de":
        return f"Notfallplan für {client}: {what} ({at})"
    return f"Emergency plan for {client}: {what} ({at})"


def fallback_skipped_title(locale: str | None, client: str, at: str) -> str:
    if language(locale) == "de":
        return f"Notfallplan für {client}: Rückfallmaßnahme nicht ausgeführt, weiter offen ({at})"
    return f"Emergency plan for {client}: fallback not taken, still waiting for a decision ({at})"


def fallback_body(
    locale: str | None, draft_title: str, where: str, text: str | None, reason: str | None
) -> str:
    """What the people of an outcome notice read: the item, where, what went out (or
    why nothing did)."""
    lang = language(locale)
    lines = [f"{'Beitrag' if lang == 'de' else 'Item'}: {draft_title}"] if draft_title else []
    if where:
        lines.append(f"{'Wo' if lang == 'de' else 'Where'}: {where}")
    if text:
        lines.append(f"{'Veröffentlicht' if lang == 'de' else 'Published'}: {text}")
    if reason:
        lines.append(f"{'Grund' if lang == 'de' else 'Why'}: {reason}")
    return "\n".join(lines)
