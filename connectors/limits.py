"""Channel limits as data. The base renderer and the conformance tests read these; nothing here
is code a channel has to write.

How a channel counts text is part of the limit: `TextUnit` names the unit, and `url_length`
(when set) means every URL counts as that many units whatever its real length (Mastodon and X
count every link as 23).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ChannelLimits", "Markup", "Rate", "RateScope", "TextUnit"]


class TextUnit(StrEnum):
    """How a channel counts the length of a text."""

    CHARS = "chars"  # Unicode code points (len() of a Python str)
    GRAPHEMES = "graphemes"  # extended grapheme clusters (what a reader sees as one character)
    UTF16 = "utf16"  # UTF-16 code units (JavaScript string length)
    UTF8_BYTES = "utf8_bytes"  # bytes of the UTF-8 encoding
    WEIGHTED = "weighted"  # twitter-text style: 1 for Latin and common punctuation, else 2


class Markup(StrEnum):
    """The formatting dialect a channel's text is written in."""

    PLAIN = "plain"
    TELEGRAM_HTML = "telegram_html"
    MARKDOWN_V2 = "markdown_v2"  # Telegram MarkdownV2
    SLACK_MRKDWN = "slack_mrkdwn"
    MATRIX_HTML = "matrix_html"  # org.matrix.custom.html + plain body
    MARKDOWN = "markdown"  # CommonMark-ish (Discord)
    JSON = "json"  # structured payload, no text markup (generic webhook)


class RateScope(StrEnum):
    ACCOUNT = "account"  # per channel account (bot token, webhook, access token)
    APP = "app"  # shared by every account of our application


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` calls per `window_s` seconds, per `scope`."""

    count: int
    window_s: float
    scope: RateScope = RateScope.ACCOUNT

    def __post_init__(self) -> None:
        if self.count < 1 or self.window_s <= 0:
            raise ValueError("rate needs count >= 1 and window_s > 0")


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """What a channel allows, declared once per connector.

    - `max_text`: limit of the main text, in `text_unit`; `max_caption` the limit when the text
      is a caption under an image (Telegram 1024), else ``None``.
    - `url_length`: when set, each URL counts as this many units (Mastodon, X).
    - `max_media`, `media_types`: attachments per post and accepted MIME types.
    - `markup`: formatting dialect of the text.
    - `rate`: documented or advised pacing; `daily_cap`: posts per account per day, if any.
    - `has_idempotency_key`: the channel de-duplicates retried requests by a client key.
    - `can_delete`: a published post can be retracted through the API.
    - `base_url`: the production endpoint; a config's `base_url` overrides it (tests, proxies,
      self-hosted servers).
    """

    max_text: int
    text_unit: TextUnit
    base_url: str
    markup: Markup = Markup.PLAIN
    max_caption: int | None = None
    url_length: int | None = None
    max_media: int = 0
    media_types: tuple[str, ...] = ()
    rate: Rate | None = None
    daily_cap: int | None = None
    has_idempotency_key: bool = False
    can_delete: bool = True

    def __post_init__(self) -> None:
        if self.max_text < 1:
            raise ValueError("max_text must be >= 1")
        if self.max_caption is not None and self.max_caption < 1:
            raise ValueError("max_caption must be >= 1 when set")
        if self.max_media < 0:
            raise ValueError("max_media must be >= 0")
        if self.daily_cap is not None and self.daily_cap < 1:
            raise ValueError("daily_cap must be >= 1 when set")
