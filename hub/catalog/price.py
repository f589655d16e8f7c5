"""Read prices and currencies as shops write them.

`parse_price` reads an amount from a number or a string such as `"1,299.00"`, `"1.299,00"`,
`"€ 19,99"` or `"19.99 USD"`; `parse_currency` reads an ISO 4217 code (any case) or one of the
few symbols that name exactly one currency. `$` and `¥` name several currencies and give None.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["parse_currency", "parse_money", "parse_price"]

# Unambiguous markers, longest first so "US$" is read before "$".
_CURRENCY_MARKERS: tuple[tuple[str, str], ...] = (
    ("US$", "USD"),
    ("CA$", "CAD"),
    ("AU$", "AUD"),
    ("NZ$", "NZD"),
    ("HK$", "HKD"),
    ("NT$", "TWD"),
    ("S$", "SGD"),
    ("R$", "BRL"),
    ("C$", "CAD"),
    ("A$", "AUD"),
    ("CN¥", "CNY"),
    ("JP¥", "JPY"),
    ("RMB", "CNY"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("₹", "INR"),
    ("₩", "KRW"),
    ("₽", "RUB"),
    ("₺", "TRY"),
    ("₪", "ILS"),
    ("₫", "VND"),
    ("₴", "UAH"),
    ("₱", "PHP"),
    ("฿", "THB"),
    ("元", "CNY"),
    ("円", "JPY"),
)

_ISO_CODE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})(?![A-Za-z])")
_NUMBER = re.compile(r"\d[\d.,' \u00a0\u202f]*")
_MAX_PRICE = Decimal("1e12")


def parse_currency(value: object) -> str | None:
    """An upper-case ISO 4217 code from a code or an unambiguous symbol, else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"[A-Za-z]{3}", text):
        return text.upper()
    for marker, code in _CURRENCY_MARKERS:
        if marker in text:
            return code
    match = _ISO_CODE.search(text)
    if match and match.group(1).isupper():
        return match.group(1)
    return None


def _to_decimal(digits: str) -> Decimal | None:
    try:
        amount = Decimal(digits)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount >= _MAX_PRICE:
        return None
    return amount


def _normalize_number(raw: str) -> str:
    number = re.sub(r"[' \u00a0\u202f]", "", raw).rstrip(".,")
    last_dot, last_comma = number.rfind("."), number.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_mark = "." if last_dot > last_comma else ","
    elif last_comma >= 0:
        # "19,99" is a decimal comma; "1,299" and "1,299,000" are thousands.
        tail = number[last_comma + 1 :]
        decimal_mark = "," if number.count(",") == 1 and len(tail) != 3 else ""
    elif number.count(".") > 1:
        decimal_mark = ""  # "1.299.000"
    else:
        decimal_mark = "."  # schema.org writes prices with a dot
    if decimal_mark and decimal_mark in number:
        whole, _, fraction = number.rpartition(decimal_mark)
        whole = re.sub(r"[.,]", "", whole)
        return f"{whole}.{fraction}"
    return re.sub(r"[.,]", "", number)


def parse_price(value: object) -> Decimal | None:
    """A non-negative amount as Decimal, or None when there is none to read."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _to_decimal(str(value))
    if isinstance(value, float):
        return _to_decimal(repr(value))
    if isinstance(value, Decimal):
        return _to_decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _NUMBER.search(value)
    if match is None or value[: match.start()].rstrip().endswith(("-", "\u2212")):
        return None
    return _to_decimal(_normalize_number(match.group(0).strip()))


def parse_money(value: object) -> tuple[Decimal | None, str | None]:
    """An amount and the currency written next to it, such as `"€24,90"` or `"19.99 USD"`."""
    return parse_price(value), parse_currency(value)
