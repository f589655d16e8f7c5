"""The README's channel table is the one the connectors declare."""

from __future__ import annotations

from connectors.overview import markdown_table, overview
from connectors.registry import kinds
from tests.conftest import REPO


def test_every_kind_has_a_row() -> None:
    assert [row.kind for row in overview()] == list(kinds())


def test_readme_table_matches_the_connectors() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- channels:start -->\n", 1)[1].split("\n<!-- channels:end -->", 1)[0]
    assert table == markdown_table(), "README out of date: paste the output of `hub channels`"
