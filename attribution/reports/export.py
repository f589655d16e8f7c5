"""Reports as JSON-ready documents and as CSV (one header line, one line per row)."""

from __future__ import annotations

import csv
import io
from typing import Any

from attribution.reports.queries import Comparison, Figures, Report, Row

__all__ = ["comparison_csv", "comparison_json", "report_csv", "report_json"]


def _figures(f: Figures) -> dict[str, Any]:
    return {
        "conversions": round(f.conversions, 6),
        "revenue": {cur: str(amount) for cur, amount in f.revenue.items()},
    }


def _row(row: Row) -> dict[str, Any]:
    rate = row.conversion_rate
    return {
        "key": row.key,
        "label": row.label,
        "clicks": row.clicks,
        "unique_clicks": row.unique_clicks,
        **_figures(row.figures),
        "conversion_rate": None if rate is None else round(rate, 6),
    }


def _period(report: Report | Comparison) -> dict[str, str]:
    p = report.period
    return {"from": p.first_day.isoformat(), "to": p.last_day.isoformat(), "timezone": p.timezone}


def _next_cursor(report: Report | Comparison) -> str | None:
    """Where the next window starts (the offset of its first row), when rows are left."""
    following = report.window.offset + len(report.rows)
    return str(following) if following < report.count else None


def report_json(report: Report) -> dict[str, Any]:
    return {
        "dimension": report.dimension,
        "model": report.model,
        "period": _period(report),
        "sort": report.window.sort,
        "rows": [_row(r) for r in report.rows],
        "total": _row(report.total),
        "count": report.count,
        "next_cursor": _next_cursor(report),
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "dimension": comparison.dimension,
        "models": comparison.models,
        "period": _period(comparison),
        "sort": comparison.window.sort,
        "rows": [
            {"key": k, "label": label, "models": {m: _figures(f) for m, f in figs.items()}}
            for k, label, figs in comparison.rows
        ],
        "totals": {m: _figures(f) for m, f in comparison.totals.items()},
        "count": comparison.count,
        "next_cursor": _next_cursor(comparison),
    }


def _currencies(figures: list[Figures]) -> list[str]:
    return sorted({cur for f in figures for cur in f.revenue})


def _write(header: list[str], lines: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(lines)
    return out.getvalue()


def report_csv(report: Report) -> str:
    rows = [*report.rows, report.total]
    currencies = _currencies([r.figures for r in rows])
    header = [
        report.dimension,
        "label",
        "clicks",
        "unique_clicks",
        "conversions",
        "conversion_rate",
        *(f"revenue_{c}" for c in currencies),
    ]
    lines = []
    for r in rows:
        rate = r.conversion_rate
        lines.append(
            [
                "total" if r is report.total else ("" if r.key is None else r.key),
                r.label,
                r.clicks,
                r.unique_clicks,
                f"{r.figures.conversions:.6f}",
                "" if rate is None else f"{rate:.6f}",
                *(str(r.figures.revenue.get(c, "0")) for c in currencies),
            ]
        )
    return _write(header, lines)


def comparison_csv(comparison: Comparison) -> str:
    all_figures = [f for _, _, figs in comparison.rows for f in figs.values()]
    currencies = _currencies([*all_figures, *comparison.totals.values()])
    header = [comparison.dimension, "label"]
    for m in comparison.models:
        header += [f"{m}_conversions", *(f"{m}_revenue_{c}" for c in currencies)]
    lines = []
    for key, label, figs in [*comparison.rows, ("total", "total", comparison.totals)]:
        line: list[Any] = ["" if key is None else key, label]
        for m in comparison.models:
            f = figs[m]
            line += [f"{f.conversions:.6f}", *(str(f.revenue.get(c, "0")) for c in currencies)]
        lines.append(line)
    return _write(header, lines)
