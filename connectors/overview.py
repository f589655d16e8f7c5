"""What each registered channel supports, as one table (the README's channel table)."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.limits import TextUnit
from connectors.registry import get, kinds

__all__ = ["ChannelOverview", "markdown_table", "overview"]

_UNITS = {
    TextUnit.CHARS: "characters",
    TextUnit.GRAPHEMES: "graphemes",
    TextUnit.UTF16: "UTF-16 units",
    TextUnit.UTF8_BYTES: "UTF-8 bytes",
    TextUnit.WEIGHTED: "weighted",
}


@dataclass(frozen=True, slots=True)
class ChannelOverview:
    kind: str
    text_limit: str
    markup: str
    media: str
    retract: bool
    idempotency: bool
    pacing: str


def overview() -> list[ChannelOverview]:
    rows = []
    for kind in kinds():
        limits = get(kind).limits
        text = f"{limits.max_text:,} {_UNITS[limits.text_unit]}"
        if limits.url_length:
            text += f", URLs count {limits.url_length}"
        if limits.max_caption:
            text += f" ({limits.max_caption:,} as caption)"
        media = (
            f"{limits.max_media} ({', '.join(t.split('/')[-1] for t in limits.media_types)})"
            if limits.max_media
            else "none"
        )
        pacing = []
        if limits.rate:
            pacing.append(f"{limits.rate.count}/{limits.rate.window_s:g} s per "
                          f"{limits.rate.scope.value}")
        if limits.daily_cap:
            pacing.append(f"{limits.daily_cap}/day")
        rows.append(
            ChannelOverview(
                kind=kind,
                text_limit=text,
                markup=limits.markup.value,
                media=media,
                retract=limits.can_delete,
                idempotency=limits.has_idempotency_key,
                pacing="; ".join(pacing) or "-",
            )
        )
    return rows


def markdown_table(rows: list[ChannelOverview] | None = None) -> str:
    rows = overview() if rows is None else rows
    head = "| kind | text limit | markup | media | retract | idempotency key | pacing |"
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| `{r.kind}` | {r.text_limit} | {r.markup} | {r.media} | "
            f"{'yes' if r.retract else 'no'} | {'yes' if r.idempotency else 'no'} | {r.pacing} |"
        )
    return "\n".join(lines)
