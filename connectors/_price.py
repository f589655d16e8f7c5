"""Price formatting for a currency and a locale, by Babel (CLDR data)."""

from __future__ import annotations

from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency

__all__ = ["format_price"]


def _locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def format_price(amount: Decimal, currency: str, locale: str = "en") -> str:
    """`amount` in `currency` as written in `locale`, e.g. ``12,50 €`` for de_DE/EUR,
    ``¥1,200`` for ja_JP/JPY. An unknown locale falls back to English.
    """
    return format_currency(amount, currency, locale=_locale(locale))
