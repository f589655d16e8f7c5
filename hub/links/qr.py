"""QR codes of a link's short URL, as SVG or PNG (segno: pure Python, no Pillow)."""

from __future__ import annotations

import io
from typing import Literal

import segno

__all__ = ["qr_image"]


def qr_image(url: str, fmt: Literal["svg", "png"], *, scale: int = 8, border: int = 4) -> bytes:
    """The QR code of ``url`` (error correction M, or better when it fits the same size)."""
    code = segno.make(url, error="m", micro=False, boost_error=True)
    out = io.BytesIO()
    if fmt == "svg":
        code.save(out, kind="svg", scale=scale, border=border, xmldecl=True, svgns=True)
    else:
        code.save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
