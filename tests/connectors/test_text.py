"""Unit tests of the shared primitives: counting, cutting, escaping, prices, templates,
Retry-After and error classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest

from connectors import (
    AuthExpired,
    Misconfigured,
    OutcomeUnknown,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TextUnit,
    TransientError,
)
from connectors._http import classify, code_of, parse_retry_after
from connectors._price import format_price
from connectors._template import card_fields, compose, dialect_for, parse
from connectors._text import (
    ELLIPSIS,
    escape_markdown_v2,
    escape_slack,
    escape_telegram_html,
    fit,
    graphemes,
    measure,
)
from connectors.errors import ErrorKind
from connectors.limits import Markup
from tests.connectors.conftest import make_card

FAMILY = "👩‍👩‍👧‍👦"


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("abc", TextUnit.CHARS, 3),
        (FAMILY, TextUnit.CHARS, 7),
        (FAMILY, TextUnit.GRAPHEMES, 1),
        (FAMILY, TextUnit.UTF16, 11),
        (FAMILY, TextUnit.UTF8_BYTES, 25),
        ("e\u0301", TextUnit.GRAPHEMES, 1),
        ("日本語", TextUnit.UTF8_BYTES, 9),
        ("日本語", TextUnit.WEIGHTED, 6),
        ("hi 👍🏽", TextUnit.WEIGHTED, 5),
    ],
)
def test_measure_per_unit(text: str, unit: TextUnit, expected: int) -> None:
    assert measure(text, unit) == expected


def test_measure_counts_urls_as_fixed_length() -> None:
    text = "see https://example.com/a/very/long/path?with=query and more"
    assert measure(text, TextUnit.GRAPHEMES, url_length=23) == len("see  and more") + 23


def test_fit_prefers_word_boundary() -> None:
    assert fit("Hello wonderful world", 18, len) == "Hello wonderful" + ELLIPSIS
    assert fit("short", 18, len) == "short"
    assert fit("abc", 0, len) == ""


@pytest.mark.parametrize("cluster", [FAMILY, "🇯🇵", "❤️‍🔥", "e\u0301\u0323", "語"])
def test_fit_never_splits_a_cluster(cluster: str) -> None:
    text = cluster * 10
    for budget in range(1, len(text) + 1):
        kept = fit(text, budget, len).removesuffix(ELLIPSIS)
        assert kept == cluster * (len(graphemes(kept)))


def test_escaping_per_dialect() -> None:
    assert (
        escape_telegram_html('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
    )
    assert escape_slack("a & <b> *c*") == "a &amp; &lt;b&gt; *c*"
    assert escape_markdown_v2("1.5 (x) _y_ \\") == "1\\.5 \\(x\\) \\_y\\_ \\\\"


def test_escape_sequences_are_never_cut() -> None:
    card = make_card(title="&" * 50, description="", price=None, currency=None, tags=())
    values = card_fields(card, "https://go.example/x")
    dialect = dialect_for(Markup.SLACK_MRKDWN)
    for budget in range(30, 120):
        out = compose(
            "$title $link", values, dialect=dialect, budget=budget, count=lambda c: len(c.marked)
        )
        assert out.marked.endswith("<https://go.example/x>")
        head = out.marked.removesuffix("<https://go.example/x>").strip().strip("*")
        head = head.removesuffix(ELLIPSIS)
        assert head.replace("&amp;", "") == "", head
        assert out.marked.endswith("<https://go.example/x>")


def test_prices_follow_currency_and_locale() -> None:
    assert format_price(Decimal("12.5"), "EUR", "de-DE") == "12,50\xa0€"
    assert format_price(Decimal("1200"), "JPY", "ja_JP") == "￥1,200"
    assert format_price(Decimal("9.99"), "USD", "en_US") == "$9.99"
    assert format_price(Decimal("9.99"), "USD", "xx-YY") == "$9.99"  # unknown → English


def test_template_rejects_unknown_and_malformed_fields() -> None:
    assert parse("$title") == ((True, "title"), (False, "\n"), (True, "link"))
    assert parse("$$ $link") == ((False, "$"), (False, " "), (True, "link"))
    for bad in ("$secret", "${title.__class__}", "$", "{title}$"):
        with pytest.raises(ValueError):
            parse(bad)


def test_compose_raises_when_even_the_link_does_not_fit() -> None:
    values = card_fields(make_card(), "https://go.example/" + "x" * 100)
    with pytest.raises(PermanentError) as info:
        compose(
            "$link",
            values,
            dialect=dialect_for(Markup.PLAIN),
            budget=50,
            count=lambda c: len(c.plain),
        )
    assert info.value.code == "text_too_long"


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0


def test_code_of_normalises_descriptions() -> None:
    assert code_of("Bad Request: can't parse entities") == "bad_request_can_t_parse_entities"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, None, RateLimited),
        (401, None, AuthExpired),
        (500, None, TransientError),
        (503, None, TransientError),
        (408, None, TransientError),
        (418, None, PermanentError),
        (200, "boom", Misconfigured),
        (200, "unknown_code", PermanentError),
        (504, "maybe", OutcomeUnknown),
        (429, "quota", QuotaExhausted),
    ],
)
def test_classify_uses_code_then_status_then_defaults(
    status: int, code: str | None, expected: type[Exception]
) -> None:
    table = {
        "boom": ErrorKind.MISCONFIGURED,
        "maybe": ErrorKind.OUTCOME_UNKNOWN,
        "quota": ErrorKind.QUOTA_EXHAUSTED,
    }
    error = classify(table, status=status, code=code, retry_after_s=3)
    assert type(error) is expected
    if isinstance(error, RateLimited):
        assert error.retry_after_s == 3


def test_a_quota_without_a_hint_waits_a_day() -> None:
    error = classify({"quota": ErrorKind.QUOTA_EXHAUSTED}, status=429, code="quota")
    assert isinstance(error, QuotaExhausted) and error.retry_after_s == 24 * 3600


def test_misconfigured_is_permanent_and_outcome_unknown_is_not_transient() -> None:
    assert issubclass(Misconfigured, PermanentError)
    assert not issubclass(OutcomeUnknown, TransientError)
