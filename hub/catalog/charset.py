"""Turn the bytes of a fetched page into text.

The encoding is taken from, in order: a byte order mark, the `charset` of the HTTP
`Content-Type` header, a `<meta charset>` or `<meta http-equiv="Content-Type">` near the top of
the document, a strict UTF-8 decode, and finally `charset-normalizer`'s guess. Labels are mapped
the way browsers map them (WHATWG Encoding Standard) where Python's codec of the same name is
narrower: `iso-8859-1` and `ascii` mean windows-1252, `gb2312` and `gbk` mean gb18030,
`shift_jis` means windows-31j (cp932), `euc-kr` means cp949.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

__all__ = ["decode_html", "normalize_charset"]

# How far into the document a <meta> declaring the charset is looked for. The HTML standard
# says 1024 bytes; real shops put long comment blocks and scripts first, so look further.
_META_SCAN_BYTES = 8192

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Python codec name (after codecs.lookup) -> the codec a browser would really use.
_BROWSER_CODECS = {
    "ascii": "cp1252",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
}

_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_META_CHARSET = re.compile(
    rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]{1,40})""", re.IGNORECASE
)


def normalize_charset(label: str | None) -> str | None:
    """Return the Python codec for an encoding label, or None if it is not one we know."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").lower()
    if cleaned in {"x-user-defined", "replacement"}:
        return None
    try:
        name = codecs.lookup(cleaned).name
    except LookupError:
        return None
    return _BROWSER_CODECS.get(name, name)


def _meta_charset(body: bytes) -> str | None:
    head = _COMMENT.sub(b"", body[:_META_SCAN_BYTES])
    for match in _META_CHARSET.finditer(head):
        codec = normalize_charset(match.group(1).decode("ascii"))
        if codec is None:
            continue
        # A document that could be parsed as ASCII to find this tag is not UTF-16 (WHATWG).
        if codec.startswith("utf-16") or codec.startswith("utf-32"):
            return "utf-8"
        return codec
    return None


def _guess(body: bytes) -> str:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    best = charset_normalizer.from_bytes(body).best()
    if best is not None:
        codec = normalize_charset(best.encoding)
        if codec is not None:
            return codec
    return "cp1252"


def decode_html(body: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Decode an HTML document; return the text and the codec used.

    Bytes that are invalid in the chosen encoding become U+FFFD; this never raises.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace"), codec
    codec = normalize_charset(header_charset) or _meta_charset(body) or _guess(body)
    return body.decode(codec, errors="replace"), codec
