"""Reports: credited conversions and revenue, clicks, visitors and rates by dimension.

``periods`` (local-date periods and the local-day SQL), ``queries`` (the aggregates) and
``export`` (JSON documents and CSV).
"""

from __future__ import annotations

from attribution.reports.export import comparison_csv, comparison_json, report_csv, report_json
from attribution.reports.periods import MAX_DAYS, Period, local_day
from attribution.reports.queries import (
    DIMENSIONS,
    Comparison,
    Dimension,
    Figures,
    Report,
    Row,
    Sort,
    Window,
    compare_models,
    report,
)

__all__ = [
    "DIMENSIONS",
    "MAX_DAYS",
    "Comparison",
    "Dimension",
    "Figures",
    "Period",
    "Report",
    "Row",
    "Sort",
    "Window",
    "compare_models",
    "comparison_csv",
    "comparison_json",
    "local_day",
    "report",
    "report_csv",
    "report_json",
]
