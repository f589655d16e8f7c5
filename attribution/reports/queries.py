"""Credited conversions and revenue, clicks and unique visitors, grouped by one dimension.

Every number is a SQL aggregate over rows the indexes select — credits by
``(merchant_id, model, occurred_at)``, clicks by ``(merchant_id, at)`` — never a loop over rows
in Python; Python only joins the few grouped results by key and fetches their labels.

Dimensions: ``channel`` (the channel kind), ``account`` (channel account), ``campaign``,
``product``, ``link`` and ``day`` (the merchant-local date). Conversions and revenue are
grouped by what was credited: the clicked link's channel, account, campaign and link, the
*product sold* (from the order's line items) and the conversion's day. Clicks and unique
clicks (bots excluded) are grouped by the clicked link, its card's product, and the click's
day. A click is unique when the drain's unique gate let it through: the first of its visitor
on its link within ``edge.unique_window_s``; being a property of each click, unique clicks
add up over links and days like clicks do. ``conversions`` is the credited share of
conversions (a sum of weights); ``conversion_rate`` is ``conversions / unique_clicks``.
Revenue is net of refunds and kept per currency (amounts in different currencies are never
added); cancelled orders have no credits.

Credits are read, on PostgreSQL, from ``credit_days`` (per local day in the merchant's zone,
channel kind, account, campaign and currency), ``credit_product_days`` (per product sold) or
``credit_link_days`` (per link): all kept equal to the credits they cover by triggers and
rebuilt when the merchant's zone changes. A row holds every model's figures, each in columns
of its own (``<model>_credits``, ``<model>_weight``, ``<model>_revenue_minor``). A period in
another zone, and SQLite, sum the credits themselves (they carry their conversion's currency,
so PostgreSQL sums them from the covering index of ``attribution_credits`` alone);
``credits_from`` picks the source. Either way the credits are grouped per key and currency
with the models side by side, so that several models cost one pass. Weights and revenue are
double precision in both, so sums from the two agree to rounding.

Clicks are read, on PostgreSQL, from ``click_days`` (per link and local day), elsewhere from
``click_buckets`` (per link and 15-minute UTC bucket, kept equal to ``clicks`` by triggers)
whenever the period's local days begin on bucket boundaries — in every zone in use today —
and from ``clicks`` otherwise; all give the same numbers (``clicks_from`` picks one).

Weekly rollups: ``click_weeks``, ``credit_weeks``, ``credit_product_weeks`` and
``credit_link_weeks`` sum the day rollups per local week (Monday to Sunday), kept from them
by triggers. Except by day, reports read a period's whole weeks from these and the days
around them from the day rollups (``Period.spans``): a quarter is a fifth of the rows.

A report answers the rows of a ``Window`` (sorted by key or by a figure, from an offset, at
most a limit), with labels and figures made for those rows only, and totals over every row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from math import fsum
from typing import Any, Literal, get_args

from sqlalchemy import case, func, literal_column, null, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.reports.periods import Period, Span, local_day
from hub.money import from_minor
from hub.storage.models import (
    BUCKET_S,
    ROLLUP_MODELS,
    AttributionCredit,
    Campaign,
    ChannelAccount,
    Click,
    ClickBucket,
    ClickDay,
    ClickWeek,
    CreditDay,
    CreditLinkDay,
    CreditLinkWeek,
    CreditProductDay,
    CreditProductWeek,
    CreditWeek,
    Link,
    Merchant,
    Product,
)

__all__ = [
    "DIMENSIONS",
    "SORTS",
    "ClickColumns",
    "ClickSource",
    "Comparison",
    "CreditSource",
    "Dimension",
    "Figures",
    "Report",
    "Row",
    "Sort",
    "Window",
    "click_columns",
    "compare_models",
    "credit_source",
    "model_column",
    "plan_per_period",
    "report",
]

Dimension = Literal["channel", "account", "campaign", "product", "link", "day"]
DIMENSIONS: tuple[Dimension, ...] = ("channel", "account", "campaign", "product", "link", "day")
Key = str | int | None
# Credited weight, and revenue in minor units per currency, before rounding.
Sums = tuple[float, dict[str, float]]
# Where clicks are counted: the local days, the 15-minute buckets, the click rows, or
# "auto", the first of them that is exact for the period.
ClickSource = Literal["auto", "days", "buckets", "clicks"]
# Where credits are summed: the local-day rollups, the credit rows, or "auto", the rollups
# when they are kept in the period's zone.
CreditSource = Literal["auto", "days", "credits"]
# The order of a report's rows: by key (days in order, ids ascending), or by a figure,
# highest first (ties by key).
Sort = Literal["key", "clicks", "unique_clicks", "conversions", "revenue"]
SORTS: tuple[Sort, ...] = get_args(Sort)


@dataclass(frozen=True, slots=True)
class Window:
    """Which rows of a report: ordered by ``sort``, from ``offset``, at most ``limit`` (every
    row when ``None``). ``revenue`` sorts by the amount in ``currency`` (other currencies count
    as nothing); a model comparison sorts by the figures of its first model. Totals and
    ``Report.count`` always cover every row."""

    sort: Sort = "key"
    offset: int = 0
    limit: int | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.offset < 0 or (self.limit is not None and self.limit < 1):
            raise ValueError("a window starts at 0 or later and holds at least one row")
        if self.sort == "revenue" and not self.currency:
            raise ValueError("sorting by revenue needs a currency")

    def cut(self, keys: list[Key], value: Callable[[Key], float] | None) -> list[Key]:
        """The window's keys from every key in key order; ``value`` is the sorted figure."""
        if self.sort != "key" and value is not None:
            keys = sorted(keys, key=value, reverse=True)  # stable: ties keep the key order
        end = None if self.limit is None else self.offset + self.limit
        return keys[self.offset : end]


@dataclass(frozen=True, slots=True)
class Figures:
    """Credited conversions and revenue (per currency, as decimal amounts)."""

    conversions: float = 0.0
    revenue: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    key: Key
    label: str
    clicks: int
    unique_clicks: int
    figures: Figures

    @property
    def conversion_rate(self) -> float | None:
        if not self.unique_clicks:
            return None
        return self.figures.conversions / self.unique_clicks


@dataclass(frozen=True, slots=True)
class Report:
    dimension: Dimension
    model: str
    period: Period
    rows: list[Row]  # the window's rows
    total: Row
    count: int  # rows in the whole report
    window: Window


@dataclass(frozen=True, slots=True)
class Comparison:
    dimension: Dimension
    models: list[str]
    period: Period
    # key → label, then model → figures (the window's rows)
    rows: list[tuple[Key, str, dict[str, Figures]]]
    totals: dict[str, Figures]
    count: int  # rows in the whole comparison
    window: Window


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def plan_per_period(session: AsyncSession) -> None:
    """On PostgreSQL, plans for this transaction's statements are made for their values.

    The driver prepares statements and PostgreSQL switches a prepared statement to a generic
    plan after five runs; for a range of days whose size it cannot see, that plan is the
    wrong one (twice as slow on 90 days of credits)."""
    if _dialect(session) == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _credit_key(dimension: Dimension, period: Period, dialect: str) -> Any:
    if dimension == "day":
        return local_day(AttributionCredit.occurred_at, period, dialect)
    return {
        "channel": AttributionCredit.channel_kind,
        "account": AttributionCredit.channel_account_id,
        "campaign": AttributionCredit.campaign_id,
        "product": AttributionCredit.product_id,
        "link": AttributionCredit.link_id,
    }[dimension]


def _click_key(dimension: Dimension, cols: ClickColumns) -> Any:
    if dimension == "day":
        return cols.day
    return {
        "channel": Link.channel_kind,
        "account": Link.channel_account_id,
        "campaign": Link.campaign_id,
        "product": Link.product_id,
        "link": cols.link_id,
    }[dimension]


@dataclass(frozen=True, slots=True)
class ClickColumns:
    """People's clicks in a period, from one source: the columns to select and the filter."""

    source: ClickSource
    link_id: Any
    day: Any  # the merchant-local date
    clicks: Any
    unique_clicks: Any
    where: list[Any]


async def _kept_zone(session: AsyncSession, merchant_id: int) -> str | None:
    """The zone the merchant's local-day rollups are kept in (PostgreSQL only)."""
    if _dialect(session) != "postgresql":
        return None
    zone = await session.scalar(select(Merchant.timezone).where(Merchant.id == merchant_id))
    return str(zone) if zone is not None else None


async def credit_source(
    session: AsyncSession, merchant_id: int, period: Period, credits_from: CreditSource = "auto"
) -> CreditSource:
    """``days`` when the merchant's credit days are kept in the period's zone (PostgreSQL),
    else ``credits``. Asking for ``days`` when they cannot give the period's numbers raises
    ``ValueError``."""
    if credits_from == "credits":
        return "credits"
    if await _kept_zone(session, merchant_id) == period.timezone:
        return "days"
    if credits_from == "days":
        raise ValueError("credit days are kept in the merchant's zone on PostgreSQL only")
    return "credits"


def _click_rows(merchant_id: int, period: Period, per_day: bool) -> Any:
    """The period's rows of ``click_days``; unless ``per_day``, its whole weeks' rows of
    ``click_weeks`` and the days' around them: ``link_id``, ``day``, ``clicks``,
    ``unique_clicks``."""
    parts = []
    for span in _spans(period, not per_day):
        table: type[ClickDay | ClickWeek] = ClickWeek if span.weeks else ClickDay
        parts.append(
            select(table.link_id, table.day, table.clicks, table.unique_clicks).where(
                table.merchant_id == merchant_id,
                table.timezone == period.timezone,
                table.day >= span.first,
                table.day <= span.last,
            )
        )
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("click_rows")


async def click_columns(
    session: AsyncSession,
    merchant_id: int,
    period: Period,
    clicks_from: ClickSource = "auto",
    *,
    per_day: bool = True,
) -> ClickColumns:
    """Where clicks are counted (see the module's docstring): ``days`` when the merchant's
    days are kept in the period's zone (PostgreSQL), else ``buckets`` when the period's days
    begin on bucket boundaries, else ``clicks``. Asking for a source that cannot give the
    period's numbers exactly raises ``ValueError``. Unless ``per_day``, ``days`` reads whole
    weeks from ``click_weeks`` (and ``day`` is then a week's Monday for those rows)."""
    dialect = _dialect(session)
    if clicks_from in ("auto", "days"):
        if await _kept_zone(session, merchant_id) == period.timezone:
            rows = _click_rows(merchant_id, period, per_day)
            return ClickColumns(
                "days",
                rows.c.link_id,
                rows.c.day,
                func.sum(rows.c.clicks),
                func.sum(rows.c.unique_clicks),
                [],
            )
        if clicks_from == "days":
            raise ValueError("click days are kept in the merchant's zone on PostgreSQL only")
    on_grid = period.on_grid(BUCKET_S)
    if clicks_from == "buckets" and not on_grid:
        raise ValueError("the period's days do not begin on 15-minute bucket boundaries")
    if on_grid and clicks_from != "clicks":
        return ClickColumns(
            "buckets",
            ClickBucket.link_id,
            local_day(ClickBucket.bucket_at, period, dialect),
            func.sum(ClickBucket.clicks),
            func.sum(ClickBucket.unique_clicks),
            [
                ClickBucket.merchant_id == merchant_id,
                ClickBucket.bucket_at >= period.start,
                ClickBucket.bucket_at < period.end,
            ],
        )
    return ClickColumns(
        "clicks",
        Click.link_id,
        local_day(Click.at, period, dialect),
        func.count(Click.id),
        func.count(Click.id).filter(Click.is_unique.is_(True)),
        [
            Click.merchant_id == merchant_id,
            Click.is_bot.is_(False),
            Click.at >= period.start,
            Click.at < period.end,
        ],
    )


def _norm(key: Any) -> Key:
    if key is None or isinstance(key, int | str):
        return key
    return str(key)  # a date (PostgreSQL) → ISO text, as SQLite gives it


_Rollup = type[
    CreditDay | CreditProductDay | CreditLinkDay | CreditWeek | CreditProductWeek | CreditLinkWeek
]
# Each day rollup's weekly one: whole weeks of a period are read from it.
_WEEKLY: dict[_Rollup, _Rollup] = {
    CreditDay: CreditWeek,
    CreditProductDay: CreditProductWeek,
    CreditLinkDay: CreditLinkWeek,
}
_ROLLUP_KEY = {
    "channel": ("channel_kind", ""),
    "account": ("channel_account_id", 0),
    "campaign": ("campaign_id", 0),
    "product": ("product_id", 0),
    "link": ("link_id", 0),
}


def _rollup(dimension: Dimension | None) -> _Rollup:
    if dimension == "product":
        return CreditProductDay
    return CreditLinkDay if dimension == "link" else CreditDay


def _rollup_key(dimension: Dimension, table: _Rollup) -> Any:
    """The key of a rollup row, its stored '' or 0 read back as NULL."""
    if dimension == "day":
        return table.day
    column, empty = _ROLLUP_KEY[dimension]
    return func.nullif(getattr(table, column), empty)


def _spans(period: Period, weekly: bool) -> list[Span]:
    return period.spans() if weekly else [Span(period.first_day, period.last_day)]


def model_column(table: _Rollup, model: str, figure: str) -> Any:
    """A credit rollup's column of one model's ``credits``, ``weight`` or ``revenue_minor``."""
    if model not in ROLLUP_MODELS:
        raise ValueError(f"the credit rollups keep no model {model!r}")
    return getattr(table, f"{model}_{figure}")


_FIGURES = ("credits", "weight", "revenue_minor")


def _rollup_rows(
    merchant_id: int, dimension: Dimension | None, models: Sequence[str], period: Period
) -> Any:
    """The day rollup's rows of the period (and the weekly rollup's for its whole weeks, when
    the dimension has one) that one of ``models`` credited: key ``k``, ``currency``, and each
    model's ``<model>_credits``, ``<model>_weight`` and ``<model>_revenue_minor``."""
    days = _rollup(dimension)
    parts = []
    for span in _spans(period, dimension != "day"):
        table = _WEEKLY[days] if span.weeks else days
        key = [_rollup_key(dimension, table).label("k")] if dimension else []
        where = [
            table.merchant_id == merchant_id,
            table.timezone == period.timezone,
            table.day >= span.first,
            table.day <= span.last,
        ]
        if not set(ROLLUP_MODELS) <= set(models):  # a row holds credits of some model
            where.append(or_(*(model_column(table, m, "credits") != 0 for m in models)))
        parts.append(
            select(
                *key,
                func.nullif(table.currency, "").label("currency"),
                *(model_column(table, m, f).label(f"{m}_{f}") for m in models for f in _FIGURES),
            ).where(*where)
        )
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("rollup")


async def _credit_groups(
    session: AsyncSession,
    merchant_id: int,
    dimension: Dimension | None,
    models: Sequence[str],
    period: Period,
    credits_from: CreditSource = "auto",
) -> Any:
    """The credits grouped per key ``k`` (when a dimension is given) and ``currency``, every
    model's figures side by side: ``<model>_credits`` (more than 0 when the model credited
    the group), ``<model>_weight`` and ``<model>_revenue_minor`` (summed, in minor units)."""
    head: list[Any]
    if await credit_source(session, merchant_id, period, credits_from) == "days":
        rows = _rollup_rows(merchant_id, dimension, models, period)
        head = [rows.c.k] if dimension else []
        sums = [
            # Whether a model credited the group is all that is asked of its credits; max()
            # is an integer, where sum() of bigint would be numeric (slow on many rows).
            (func.max if f == "credits" else func.sum)(rows.c[f"{m}_{f}"]).label(f"{m}_{f}")
            for m in models
            for f in _FIGURES
        ]
        return select(*head, rows.c.currency, *sums).group_by(*head, rows.c.currency)
    credit = AttributionCredit
    head = [_credit_key(dimension, period, _dialect(session)).label("k")] if dimension else []
    sums = []
    for m in models:
        mine = credit.model == m
        sums += [
            func.count(case((mine, 1))).label(f"{m}_credits"),
            func.coalesce(func.sum(case((mine, credit.weight))), 0.0).label(f"{m}_weight"),
            func.coalesce(func.sum(case((mine, credit.revenue_minor))), 0.0).label(
                f"{m}_revenue_minor"
            ),
        ]
    currency = credit.currency.label("currency")
    return (
        select(*head, currency, *sums)
        .where(
            credit.merchant_id == merchant_id,
            credit.model.in_(list(models)),
            credit.occurred_at >= period.start,
            credit.occurred_at < period.end,
        )
        .group_by(*head, credit.currency)
    )


def _add_groups(
    into: dict[tuple[Key, str], Sums], key: Key, currency: Any, row: Any, at: int,
    models: Sequence[str],
) -> None:  # fmt: skip
    """Add one group's figures (``row[at:]``: each model's credits, weight and revenue) to
    ``into``, under (key, model) for each model that credited it."""
    for i, model in enumerate(models):
        j = at + 3 * i
        if not row[j]:
            continue
        found = into.get((key, model))
        if found is None:  # most keys: the first of their one or two currencies
            into[(key, model)] = (row[j + 1] or 0.0, {currency: row[j + 2] or 0.0})
        else:
            amounts = found[1]
            amounts[currency] = amounts.get(currency, 0.0) + (row[j + 2] or 0.0)
            into[(key, model)] = (found[0] + (row[j + 1] or 0.0), amounts)


async def _credited(
    session: AsyncSession,
    merchant_id: int,
    dimension: Dimension | None,
    models: Sequence[str],
    period: Period,
    credits_from: CreditSource = "auto",
) -> dict[tuple[Key, str], Sums]:
    query = await _credit_groups(session, merchant_id, dimension, models, period, credits_from)
    # One pass over the groups (one per key and currency), read as plain rows.
    credited: dict[tuple[Key, str], Sums] = {}
    norm = _norm if dimension == "day" else None
    at = 1 if dimension else 0
    for row in await _rows(session, query):
        k = None if dimension is None else norm(row[0]) if norm else row[0]
        _add_groups(credited, k, row[at], row, at + 1, models)
    return credited


async def _rows(session: AsyncSession, query: Any) -> Any:
    """The rows of a Core query, on the session's connection (without the ORM's result
    processing, a third of a report's time on tens of thousands of groups)."""
    return (await (await session.connection()).execute(query)).all()


@lru_cache(maxsize=256)
def _digits(currency: str) -> int:
    """The currency's minor-unit digits, as :func:`hub.money.from_minor` writes amounts."""
    exponent = from_minor(1, currency).as_tuple().exponent
    return -exponent if isinstance(exponent, int) else 2


def _figures(sums: Sums) -> Figures:
    """Rounded to minor units; the amounts are those of ``from_minor`` (asked once per
    currency for its digits: a report has a figure per key and model)."""
    weight, minor = sums
    revenue = {cur: Decimal(round(amount)).scaleb(-_digits(cur)) for cur, amount in minor.items()}
    return Figures(weight, dict(sorted(revenue.items())))


def _totals(credited: dict[tuple[Key, str], Sums]) -> dict[str, Figures]:
    """Per model, the sums over every key: each credit has exactly one key per dimension.
    ``fsum`` makes them exact, so they do not depend on the order the groups came in."""
    weights: dict[str, list[float]] = defaultdict(list)
    minor: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (_, model), (w, amounts) in credited.items():
        weights[model].append(w)
        for cur, amount in amounts.items():
            minor[model][cur].append(amount)
    return {
        m: _figures((fsum(ws), {cur: fsum(a) for cur, a in minor[m].items()}))
        for m, ws in weights.items()
    }


def _click_groups(dimension: Dimension | None, cols: ClickColumns) -> Any:
    """People's clicks grouped per key ``k`` (when a dimension is given): ``clicks`` and
    ``unique_clicks``."""
    key = _click_key(dimension, cols) if dimension else None
    query = select(
        *([key.label("k")] if key is not None else []),
        cols.clicks.label("clicks"),
        cols.unique_clicks.label("unique_clicks"),
    ).where(*cols.where)
    if dimension not in (None, "day", "link"):
        query = query.join(Link, Link.id == cols.link_id)
    return query if key is None else query.group_by(key)


async def _clicks(
    session: AsyncSession, dimension: Dimension | None, cols: ClickColumns
) -> dict[Key, tuple[int, int]]:
    out: dict[Key, tuple[int, int]] = {}
    norm = _norm if dimension == "day" else None
    for row in await _rows(session, _click_groups(dimension, cols)):
        k = None if dimension is None else norm(row[0]) if norm else row[0]
        out[k] = (int(row[-2] or 0), int(row[-1] or 0))
    return out


# More keys than this: the merchant's labels are read whole rather than by a list of ids.
_MAX_LISTED_IDS = 200


async def _labels(
    session: AsyncSession, merchant_id: int, dimension: Dimension, keys: set[Key]
) -> dict[Key, str]:
    ids = [k for k in keys if isinstance(k, int)]
    found: dict[Key, str] = {}
    if ids and dimension in ("account", "campaign", "product", "link"):
        table: Any = {
            "account": ChannelAccount,
            "campaign": Campaign,
            "product": Product,
            "link": Link,
        }[dimension]
        label: Any = {
            "account": ChannelAccount.name,
            "campaign": Campaign.name,
            "product": Product.title,
            "link": Link.code,
        }[dimension]
        query = select(table.id, label).where(table.merchant_id == merchant_id)
        if len(ids) <= _MAX_LISTED_IDS:
            query = query.where(table.id.in_(ids))
        wanted = set(ids)
        found = {row[0]: str(row[1]) for row in await session.execute(query) if row[0] in wanted}
    return {k: found.get(k, "(none)" if k is None else str(k)) for k in keys}


def _ordered(dimension: Dimension, keys: set[Key], period: Period) -> list[Key]:
    if dimension == "day":
        return [d.isoformat() for d in period.days()]
    return sorted(keys, key=lambda k: (k is None, str(type(k)), k if k is not None else 0))


def _sorted_by(
    window: Window,
    model: str,
    credited: dict[tuple[Key, str], Sums],
    clicks: dict[Key, tuple[int, int]] | None = None,
) -> Callable[[Key], float] | None:
    """The figure that ``window`` sorts by, per key (``None`` when it sorts by key)."""
    none: Sums = (0.0, {})
    if window.sort in ("clicks", "unique_clicks"):
        if clicks is None:
            raise ValueError("a model comparison sorts by key, conversions or revenue")
        at = 0 if window.sort == "clicks" else 1
        return lambda k: clicks.get(k, (0, 0))[at]
    if window.sort == "conversions":
        return lambda k: credited.get((k, model), none)[0]
    if window.sort == "revenue":
        currency = str(window.currency)
        return lambda k: credited.get((k, model), none)[1].get(currency, 0.0)
    return None


async def report(
    session: AsyncSession,
    merchant_id: int,
    dimension: Dimension,
    model: str,
    period: Period,
    window: Window = Window(),
    *,
    clicks_from: ClickSource = "auto",
    credits_from: CreditSource = "auto",
) -> Report:
    """One model's figures for ``dimension`` over ``period``: the rows of ``window``, and the
    totals of every row. Figures and labels are made for the window's rows only."""
    await plan_per_period(session)
    cols = await click_columns(
        session, merchant_id, period, clicks_from, per_day=dimension == "day"
    )
    if dimension == "day" or window.limit is None:
        # Every row is shown (every day of the period, or an export): nothing to cut, and
        # Python joins the groups for less than the statement that cuts a window.
        credited = await _credited(session, merchant_id, dimension, [model], period, credits_from)
        clicks = await _clicks(session, dimension, cols)
        ordered = _ordered(dimension, {k for k, _ in credited} | set(clicks), period)
        shown = window.cut(ordered, _sorted_by(window, model, credited, clicks))
        # Every click and credit has exactly one key: the totals are the sums of the groups.
        found = _totals(credited)
        clicked = (sum(c for c, _ in clicks.values()), sum(u for _, u in clicks.values()))
        count = len(ordered)
    else:
        cut = await _window(
            session, merchant_id, dimension, [model], period, window, credits_from, cols
        )
        credited, found, shown, count, clicks, clicked = cut
    labels = await _labels(session, merchant_id, dimension, set(shown))
    rows = [
        Row(
            k,
            labels.get(k, str(k)),
            *clicks.get(k, (0, 0)),
            _figures(credited[(k, model)]) if (k, model) in credited else Figures(),
        )
        for k in shown
    ]
    total = Row(None, "total", *clicked, found.get(model, Figures()))
    return Report(dimension, model, period, rows, total, count, window)


async def compare_models(
    session: AsyncSession,
    merchant_id: int,
    dimension: Dimension,
    models: Sequence[str],
    period: Period,
    window: Window = Window(),
    *,
    credits_from: CreditSource = "auto",
) -> Comparison:
    """Several models side by side for ``dimension`` over ``period``: the rows of ``window``
    (sorted by the first model's figures), and the totals of every row.

    By day, every day of the period is a row and the groups are few (days x models). By the
    other dimensions there are thousands of keys times seven models: the database groups,
    orders and cuts the window, and only the window's groups and the totals come back."""
    models = list(models)
    await plan_per_period(session)
    if dimension == "day":
        credited = await _credited(session, merchant_id, dimension, models, period, credits_from)
        ordered = _ordered(dimension, {k for k, _ in credited}, period)
        shown = window.cut(ordered, _sorted_by(window, models[0], credited))
        found = _totals(credited)
        count = len(ordered)
    else:
        if window.sort in ("clicks", "unique_clicks"):
            raise ValueError("a model comparison sorts by key, conversions or revenue")
        credited, found, shown, count, _, _ = await _window(
            session, merchant_id, dimension, models, period, window, credits_from
        )
    labels = await _labels(session, merchant_id, dimension, set(shown))
    rows = [
        (
            k,
            labels.get(k, str(k)),
            {m: _figures(credited[(k, m)]) if (k, m) in credited else Figures() for m in models},
        )
        for k in shown
    ]
    totals = {m: found.get(m, Figures()) for m in models}
    return Comparison(dimension, models, period, rows, totals, count, window)


async def _window(
    session: AsyncSession,
    merchant_id: int,
    dimension: Dimension,
    models: list[str],
    period: Period,
    window: Window,
    credits_from: CreditSource,
    cols: ClickColumns | None = None,
) -> tuple[
    dict[tuple[Key, str], Sums],
    dict[str, Figures],
    list[Key],
    int,
    dict[Key, tuple[int, int]],
    tuple[int, int],
]:
    """The window of a report (with clicks, from ``cols``) or of a model comparison, cut by
    the database in one statement: the window's credit groups, the totals per model, the
    window's keys in order, the number of keys, the window's clicks per key and the totals of
    the clicks. Keys are ordered as :func:`_ordered` orders them (text by code
    point, ``NULL`` last), after the sorted figure (of the first model) when there is one:
    thousands of keys never come back to Python."""
    groups = (
        await _credit_groups(session, merchant_id, dimension, models, period, credits_from)
    ).cte("groups")
    clicks = None if cols is None else _click_groups(dimension, cols).cte("click_groups")
    first = models[0]
    # Per key, the figure the window sorts by.
    figure: Any = None
    if window.sort == "conversions":
        figure = groups.c[f"{first}_weight"]
    elif window.sort == "revenue":
        mine = groups.c.currency == window.currency
        figure = case((mine, groups.c[f"{first}_revenue_minor"]), else_=0.0)
    parts = [select(groups.c.k.label("k"), (figure if figure is not None else null()).label("v"))]
    if clicks is not None:
        by = clicks.c[window.sort] if window.sort in ("clicks", "unique_clicks") else null()
        parts.append(select(clicks.c.k, by))
    every = union_all(*parts).subquery("every")
    key: Any = every.c.k
    if dimension == "channel" and _dialect(session) == "postgresql":
        key = key.collate("C")
    order = [key.asc().nulls_last()]
    if window.sort != "key":
        order.insert(0, func.coalesce(func.sum(every.c.v), 0.0).desc())
    keys = (
        select(every.c.k, func.row_number().over(order_by=order).label("pos"))
        .group_by(every.c.k)
        .cte("keys")
    )
    # NULL keys join too, as a value no key has (a join on IS NOT DISTINCT FROM cannot hash).
    none = "" if dimension == "channel" else -1
    in_window = [keys.c.pos > window.offset]
    if window.limit is not None:
        in_window.append(keys.c.pos <= window.offset + window.limit)
    figures = [f"{m}_{f}" for m in models for f in _FIGURES]

    def joined(table: Any) -> Any:
        on = func.coalesce(table.c.k, none) == func.coalesce(keys.c.k, none)
        return table.join(keys, on)

    counted = select(func.count()).select_from(keys).scalar_subquery()
    statements = [
        select(
            literal_column("'row'"), keys.c.pos, groups.c.k, groups.c.currency,
            *(groups.c[c] for c in figures),
        ).select_from(joined(groups)).where(*in_window),
        select(
            literal_column("'total'"), counted, null(), groups.c.currency,
            *((func.max if c.endswith("_credits") else func.sum)(groups.c[c]) for c in figures),
        ).group_by(groups.c.currency),
    ]  # fmt: skip
    if clicks is not None:
        pad = [null()] * (len(figures) - 2)
        statements += [
            select(
                literal_column("'clicks'"), keys.c.pos, clicks.c.k, null(),
                clicks.c.clicks, clicks.c.unique_clicks, *pad,
            ).select_from(joined(clicks)).where(*in_window),
            select(
                literal_column("'clicked'"), counted, null(), null(),
                func.sum(clicks.c.clicks), func.sum(clicks.c.unique_clicks), *pad,
            ),
        ]  # fmt: skip
    credited: dict[tuple[Key, str], Sums] = {}
    summed: dict[tuple[Key, str], Sums] = {}
    clicked: dict[Key, tuple[int, int]] = {}
    clicked_total = (0, 0)
    position: dict[Key, int] = {}
    count = 0
    for row in await _rows(session, union_all(*statements)):
        part, pos, k, currency = row[:4]
        if part == "row":
            position[k] = pos
            _add_groups(credited, k, currency, row, 4, models)
        elif part == "total":
            count = pos
            _add_groups(summed, None, currency, row, 4, models)
        elif part == "clicks":
            position[k] = pos
            clicked[k] = (int(row[4] or 0), int(row[5] or 0))
        else:
            count = pos
            clicked_total = (int(row[4] or 0), int(row[5] or 0))
    shown = sorted(position, key=position.__getitem__)
    return credited, _totals(summed), shown, count, clicked, clicked_total
