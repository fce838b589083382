"""Escalation notifications in the reader's language, at the client's local time
(issue #14, item 12)."""

from __future__ import annotations

from datetime import UTC, datetime

from agencyhub.escalation import texts

WINTER = datetime(2026, 12, 7, 8, 15, tzinfo=UTC)
SUMMER = datetime(2026, 7, 7, 8, 15, tzinfo=UTC)


def test_times_are_on_the_clients_clock_in_the_readers_format() -> None:
    assert texts.local_time(WINTER, "Europe/Berlin", "de") == "07.12.2026, 09:15 CET"
    assert texts.local_time(SUMMER, "Europe/Berlin", "de-AT") == "07.07.2026, 10:15 CEST"
    assert texts.local_time(WINTER, "Europe/Zurich", "en") == "7 Dec 2026, 09:15 CET"
    assert texts.local_time(WINTER, "America/New_York", "fr") == "7 Dec 2026, 03:15 EST"


def test_titles_read_in_german_and_english() -> None:
    due = "07.12.2026, 09:15 CET"
    assert texts.reminder_title("de", "crisis", "Bäckerei Sonnenschein", due) == (
        "Erinnerung: ein Krisen-Beitrag von Bäckerei Sonnenschein ist fällig um"
        " 07.12.2026, 09:15 CET"
    )
    assert texts.step_title("en", 2, "high", "Stadtwerke", "7 Dec 2026, 09:15 CET") == (
        "Escalation step 2: a high item of Stadtwerke was due at 7 Dec 2026, 09:15 CET"
    )
    assert texts.step_title("de", 1, "normal", "Stadtwerke", due).startswith(
        "Eskalation Stufe 1: ein normaler Beitrag von Stadtwerke"
    )
    assert texts.fallback_taken_title("de", "publish_template", "Bäckerei", due) == (
        "Notfallplan für Bäckerei: Haltestatement veröffentlicht (07.12.2026, 09:15 CET)"
    )
    assert texts.fallback_skipped_title("en", "Bäckerei", "7 Dec 2026, 09:15 CET") == (
        "Emergency plan for Bäckerei: fallback not taken, still waiting for a decision"
        " (7 Dec 2026, 09:15 CET)"
    )


def test_the_outcome_says_what_went_out_where_or_why_nothing_did() -> None:
    assert texts.fallback_body("de", "Antwort", "x @b", "Danke!", None) == (
        "Beitrag: Antwort\nWo: x @b\nVeröffentlicht: Danke!"
    )
    assert texts.fallback_body("en", "Reply", "", None, "the template was retired") == (
        "Item: Reply\nWhy: the template was retired"
    )
    # A reply has no title of its own: no empty line for it.
    assert texts.fallback_body("en", "", "x @b", "Thanks", None) == "Where: x @b\nPublished: Thanks"
