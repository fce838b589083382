"""Platforms, their text limits, and inbound item kinds: pure data and checks."""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    LINKEDIN = "linkedin"
    X = "x"
    MASTODON = "mastodon"
    TIKTOK = "tiktok"
    WEBSITE = "website"
    OTHER = "other"


# Characters a post or reply may have on each platform (the platforms' published limits).
DEFAULT_TEXT_LIMITS: dict[str, int] = {
    Platform.FACEBOOK: 63206,
    Platform.INSTAGRAM: 2200,
    Platform.LINKEDIN: 3000,
    Platform.X: 280,
    Platform.MASTODON: 500,
    Platform.TIKTOK: 2200,
    Platform.WEBSITE: 10000,
    Platform.OTHER: 5000,
}


class InboundKind(StrEnum):
    COMMENT = "comment"
    MENTION = "mention"
    DIRECT_MESSAGE = "direct_message"
    REVIEW = "review"


def text_limit_for(platform: str, override: int | None) -> int:
    return override if override is not None else DEFAULT_TEXT_LIMITS[platform]
