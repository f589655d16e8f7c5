"""``/api/v1/reports/...``: what earned the sales, by channel, account, campaign, product, link
and day, in the merchant's time zone (scope ``reports:read``).

- ``GET /reports/{dimension}`` (``channel``, ``account``, ``campaign``, ``product``,
  ``link``, ``day``) ``?model=linear&from=2026-03-01&to=2026-03-31`` — one model's credited
  conversions and revenue with clicks, unique clicks and the conversion rate per row, and
  the totals.
- ``GET /reports/models?dimension=channel&models=first_touch,linear,markov`` — models side
  by side (all seven when ``models`` is not given).

``from`` and ``to`` are local dates of the merchant, both included (default: the last 30
days up to today). ``?format=csv`` — or a ``.csv`` suffix (``/reports/channel.csv``) —
answers ``text/csv`` instead of JSON. What each figure means: ``attribution.reports.queries``.

Rows come in pages: ``sort`` (``key``, or a figure, highest first: ``clicks``,
``unique_clicks``, ``conversions``, ``revenue`` in ``currency``, by default the merchant's),
``limit`` rows (JSON: 100 unless given; CSV: every row unless given) and ``cursor``, the
``next_cursor`` of the answer before. ``total`` and ``count`` (rows in all) always cover every
row: ``?sort=revenue&limit=10`` is the top ten.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Annotated, Literal, cast
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.models import MODELS
from attribution.reports import (
    DIMENSIONS,
    Dimension,
    Period,
    Sort,
    Window,
    compare_models,
    comparison_csv,
    comparison_json,
    report,
    report_csv,
    report_json,
)
from attribution.reports.series import daily_series, series_json
from hub.storage.models import Merchant
from hub.tenancy import Scope
from hub.web.bodies import json_response, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import SESSIONS
from hub.web.openapi import operation
from hub.web.scopes import require

__all__ = ["routes"]

routes = web.RouteTableDef()

_DEFAULT_DAYS = 30
_DEFAULT_ROWS = 100
_MAX_ROWS = 1000
_CURRENCY = r"^[A-Z]{3}$"


class _PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    format: Literal["json", "csv"] = "json"


class _WindowQuery(_PeriodQuery):
    limit: int | None = Field(
        default=None,
        ge=1,
        le=_MAX_ROWS,
        description=f"Rows per answer (JSON: {_DEFAULT_ROWS} unless given; CSV: every row).",
    )
    cursor: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="next_cursor of the answer before."
    )
    currency: str | None = Field(
        default=None,
        pattern=_CURRENCY,
        description="The currency sort=revenue sorts by (default: the merchant's).",
    )

    def window(self, sort: Sort, default_currency: str) -> Window:
        limit = self.limit or (None if self.format == "csv" else _DEFAULT_ROWS)
        return Window(sort, self.cursor or 0, limit, self.currency or default_currency)


class _ModelQuery(_PeriodQuery):
    model: str = "linear"

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model; known: {', '.join(MODELS)}")
        return value


class ReportQuery(_ModelQuery, _WindowQuery):
    sort: Sort = "key"


class ComparisonQuery(_WindowQuery):
    dimension: Dimension = "channel"
    sort: Literal["key", "conversions", "revenue"] = Field(
        default="key", description="By key, or by the first model's figures, highest first."
    )
    models: str = ",".join(MODELS)

    @field_validator("models")
    @classmethod
    def _known(cls, value: str) -> str:
        names = [m.strip() for m in value.split(",") if m.strip()]
        unknown = [m for m in names if m not in MODELS]
        if unknown or not names:
            raise ValueError(f"unknown models {unknown}; known: {', '.join(MODELS)}")
        return ",".join(dict.fromkeys(names))


class SeriesQuery(_ModelQuery):
    currency: str | None = Field(default=None, pattern=_CURRENCY)


# The answers, for the OpenAPI document (the handlers write them with orjson, as dicts).
_AMOUNT = r"^-?[0-9]+(\.[0-9]+)?$"
Amounts = dict[str, Annotated[str, Field(pattern=_AMOUNT)]]


class ReportPeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    timezone: str


class ReportFigures(BaseModel):
    conversions: float = Field(description="Credited share of conversions (a sum of weights).")
    revenue: Amounts = Field(description="Credited revenue per currency, net of refunds.")


class ReportRow(ReportFigures):
    key: str | int | None = Field(description="The channel kind, id or local date; null: none.")
    label: str
    clicks: int
    unique_clicks: int
    conversion_rate: float | None = Field(description="conversions / unique_clicks")


class ReportOut(BaseModel):
    dimension: Dimension
    model: str
    period: ReportPeriod
    sort: Sort
    rows: list[ReportRow]
    total: ReportRow
    count: int = Field(description="Rows in the whole report.")
    next_cursor: str | None


class ComparisonRow(BaseModel):
    key: str | int | None
    label: str
    models: dict[str, ReportFigures]


class ComparisonOut(BaseModel):
    dimension: Dimension
    models: list[str]
    period: ReportPeriod
    sort: Literal["key", "conversions", "revenue"]
    rows: list[ComparisonRow]
    totals: dict[str, ReportFigures]
    count: int
    next_cursor: str | None


class SeriesChannel(BaseModel):
    key: str
    label: str
    clicks: list[int] = Field(description="Per day of ``days``.")
    revenue: list[Annotated[str, Field(pattern=_AMOUNT)]] = Field(description="Per day.")


class SeriesOut(BaseModel):
    model: str
    currency: str
    period: ReportPeriod
    days: list[date]
    channels: list[SeriesChannel]


@asynccontextmanager
async def _snapshot(request: web.Request) -> AsyncIterator[AsyncSession]:
    """A session whose statements all see one snapshot of the database (PostgreSQL:
    REPEATABLE READ). A report reads the merchant's zone, then rollups kept in that zone: a
    zone change committed in between would otherwise leave it reading the old zone's rows,
    already rebuilt away (zeros)."""
    async with request.config_dict[SESSIONS]() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


async def _period(
    session: AsyncSession, merchant_id: int, query: _PeriodQuery
) -> tuple[Period, str]:
    """The query's period in the merchant's zone, and the merchant's currency."""
    found = (
        await session.execute(
            select(Merchant.timezone, Merchant.default_currency).where(Merchant.id == merchant_id)
        )
    ).one_or_none()
    tz, currency = (found[0] or "UTC", found[1] or "USD") if found else ("UTC", "USD")
    today = datetime.now(ZoneInfo(tz)).date()
    last = query.to or today
    first = query.from_ or last - timedelta(days=_DEFAULT_DAYS - 1)
    try:
        return Period(first, last, tz), currency
    except ValueError as exc:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "request is invalid",
            {"fields": [{"field": "from", "message": str(exc), "type": "period"}]},
        ) from None


def _csv(text: str, name: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@routes.get("/reports/models")
@operation(
    "Attribution models side by side",
    query=ComparisonQuery,
    response=ComparisonOut,
    media={"text/csv": "CSV export (?format=csv)"},
    errors=(ErrorCode.FORBIDDEN,),
    tags=("reports",),
)
async def models(request: web.Request) -> web.StreamResponse:
    merchant_id = require(request, Scope.REPORTS_READ).merchant_id
    query = read_query(request, ComparisonQuery)
    async with _snapshot(request) as session:
        period, currency = await _period(session, merchant_id, query)
        window = query.window(query.sort, currency)
        found = await compare_models(
            session, merchant_id, query.dimension, query.models.split(","), period, window
        )
    if query.format == "csv":
        return _csv(comparison_csv(found), f"models-by-{query.dimension}")
    return json_response(comparison_json(found))


@routes.get("/reports/series")
@operation(
    "Clicks and credited revenue per local day and channel kind (one model, one currency)",
    query=SeriesQuery,
    response=SeriesOut,
    errors=(ErrorCode.FORBIDDEN,),
    tags=("reports",),
)
async def series(request: web.Request) -> web.StreamResponse:
    merchant_id = require(request, Scope.REPORTS_READ).merchant_id
    query = read_query(request, SeriesQuery)
    async with _snapshot(request) as session:
        period, currency = await _period(session, merchant_id, query)
        found = await daily_series(
            session, merchant_id, query.model, period, query.currency or currency
        )
    return json_response(series_json(found))


# A dimension, or a dimension and ".csv"; anything else is not a route (404).
@routes.get(rf"/reports/{{dimension:(?:{'|'.join(DIMENSIONS)})(?:\.csv)?}}")
@operation(
    "Credited conversions, revenue, clicks and unique clicks by one dimension",
    query=ReportQuery,
    response=ReportOut,
    media={"text/csv": "CSV export (?format=csv or a .csv suffix)"},
    errors=(ErrorCode.FORBIDDEN,),
    tags=("reports",),
)
async def by_dimension(request: web.Request) -> web.StreamResponse:
    merchant_id = require(request, Scope.REPORTS_READ).merchant_id
    name = request.match_info["dimension"]
    as_csv = name.endswith(".csv")
    dimension = cast(Dimension, name.removesuffix(".csv"))
    query = read_query(request, ReportQuery)
    if as_csv:
        query = query.model_copy(update={"format": "csv"})
    async with _snapshot(request) as session:
        period, currency = await _period(session, merchant_id, query)
        found = await report(
            session, merchant_id, dimension, query.model, period, query.window(query.sort, currency)
        )
    if query.format == "csv":
        return _csv(report_csv(found), f"{dimension}-{query.model}")
    return json_response(report_json(found))
