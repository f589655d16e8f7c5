"""Amounts in a currency's minor unit (cents, fen, yen), as the hub stores them."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from babel.core import UnknownLocaleError
from babel.numbers import get_currency_precision, list_currencies

__all__ = ["from_minor", "is_currency", "to_minor"]

_KNOWN = frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return code in _KNOWN


def _digits(currency: str) -> int:
    try:
        return int(get_currency_precision(currency))
    except (UnknownLocaleError, KeyError):
        return 2


def to_minor(amount: Decimal, currency: str) -> int:
    """``Decimal("12.34"), "USD"`` → ``1234``; rounds half-even to the currency's digits."""
    scale = Decimal(10) ** _digits(currency)
    return int((amount * scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_minor(minor: int, currency: str) -> Decimal:
    digits = _digits(currency)
    return (Decimal(minor) / (Decimal(10) ** digits)).quantize(Decimal(1).scaleb(-digits))
