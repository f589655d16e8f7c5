"""Text primitives for renderers: counting per unit, cutting at safe boundaries, escaping.

Cutting works on plain text at extended-grapheme-cluster boundaries (the `regex` module's
``\\X``), so an emoji ZWJ sequence, a flag, a CJK character or a base letter with its combining
marks is never split. Escaping is applied after cutting, so an escape sequence such as ``&amp;``
is never cut either. Where a channel counts escaped text, pass a `measure` that escapes first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import regex

from connectors.limits import TextUnit

__all__ = [
    "ELLIPSIS",
    "escape_html",
    "escape_markdown",
    "escape_markdown_v2",
    "escape_slack",
    "escape_telegram_html",
    "fit",
    "graphemes",
    "measure",
    "weighted_length",
]

ELLIPSIS = "…"
_GRAPHEME = regex.compile(r"\X", regex.VERSION1)
URL_RE = re.compile(r"https?://[^\s<>\"']+")

# twitter-text v3 configuration: these code point ranges weigh 1, everything else 2.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")
# One emoji sequence: pictographs, flags, skin tones, ZWJ, variation selectors, tag
# sequences, or a keycap. twitter-text counts each such sequence as one emoji.
_EMOJI_SEQUENCE = regex.compile(
    r"[#*0-9]\ufe0f?\u20e3"
    r"|(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|\p{Emoji_Modifier}"
    r"|[\u200d\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f])+"
)


def graphemes(text: str) -> list[str]:
    """Split `text` into extended grapheme clusters."""
    return list(_GRAPHEME.findall(text))


def _code_point_weight(ch: str) -> int:
    if _EMOJI.match(ch):
        return 2
    cp = ord(ch)
    return 1 if any(lo <= cp <= hi for lo, hi in _LIGHT_RANGES) else 2


def _grapheme_weight(cluster: str) -> int:
    if _EMOJI_SEQUENCE.fullmatch(cluster):
        return 2
    # A cluster mixing an emoji with other marks (say 👍 + U+0301) is not one emoji
    # sequence: each code point counts, which is never less than twitter-text's count.
    return sum(_code_point_weight(ch) for ch in cluster)


def weighted_length(text: str) -> int:
    """twitter-text style weight (after NFC): Latin and common punctuation 1, CJK and other
    code points 2, and each emoji sequence (ZWJ family, flag, skin tone, keycap) 2 in all."""
    return sum(_grapheme_weight(c) for c in graphemes(unicodedata.normalize("NFC", text)))


def _count(text: str, unit: TextUnit) -> int:
    if unit is TextUnit.CHARS:
        return len(text)
    if unit is TextUnit.GRAPHEMES:
        return len(graphemes(text))
    if unit is TextUnit.UTF16:
        return len(text.encode("utf-16-le")) // 2
    if unit is TextUnit.UTF8_BYTES:
        return len(text.encode("utf-8"))
    return weighted_length(text)


def measure(text: str, unit: TextUnit, url_length: int | None = None) -> int:
    """Length of `text` as a channel counts it; with `url_length` each URL counts as that."""
    if url_length is None:
        return _count(text, unit)
    total, last = 0, 0
    for match in URL_RE.finditer(text):
        total += _count(text[last : match.start()], unit) + url_length
        last = match.end()
    return total + _count(text[last:], unit)


def _longest_fitting(clusters: list[str], ok: Callable[[int], bool]) -> int:
    lo, hi = 0, len(clusters)  # invariant: ok(lo) or lo == 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def fit(
    text: str,
    budget: int,
    measure: Callable[[str], int],
    *,
    ellipsis: str = ELLIPSIS,
) -> str:
    """Return `text` unchanged if ``measure(text) <= budget``, else its longest prefix that ends
    at a word boundary (or, when no boundary is near, a grapheme boundary) followed by
    `ellipsis`, such that the result still fits. Returns ``""`` when not even one grapheme and
    the ellipsis fit.
    """
    if measure(text) <= budget:
        return text
    clusters = graphemes(text)

    def candidate(n: int) -> str:
        return "".join(clusters[:n]).rstrip() + ellipsis

    n = _longest_fitting(clusters, lambda k: k > 0 and measure(candidate(k)) <= budget)
    if n == 0:
        return ""
    # Prefer a word boundary when one is within the last third of what we keep.
    for i in range(n, max(0, n - n // 3) - 1, -1):
        if i < len(clusters) and clusters[i].isspace() and i > 0:
            word_cut = candidate(i)
            if measure(word_cut) <= budget and "".join(clusters[:i]).strip():
                return word_cut
            break
    return candidate(n)


# --- escaping per dialect -------------------------------------------------------------------

_MD_V2_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_MD_SPECIAL = re.compile(r"([\\*_~`|>\[\]()#\-])")


def escape_telegram_html(text: str) -> str:
    """Telegram HTML: only ``&``, ``<``, ``>`` (and ``"`` for attribute values)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def escape_html(text: str) -> str:
    """HTML text and attribute escaping (Matrix ``formatted_body``, e-mail)."""
    return escape_telegram_html(text).replace("'", "&#x27;")


def escape_slack(text: str) -> str:
    """Slack mrkdwn: replace only ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_markdown_v2(text: str) -> str:
    """Telegram MarkdownV2 outside entities: backslash before each special character."""
    return _MD_V2_SPECIAL.sub(r"\\\1", text)


def escape_markdown(text: str) -> str:
    """Discord-flavoured Markdown: backslash before formatting characters."""
    return _MD_SPECIAL.sub(r"\\\1", text)
