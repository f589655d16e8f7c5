"""``hub products import``: product pages from a real local shop, a few at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select

from hub.config import Settings
from hub.storage.db import SessionFactory
from hub.storage.models import Product
from tests.hub.cli.conftest import Hub, add_merchant, progress_lines, write_config


@dataclass
class Shop:
    base: str
    titles: dict[str, str]
    seen: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    def url(self, path: str) -> str:
        return self.base + path


def _page(title: str, price: str) -> str:
    return (
        "<html><head>"
        '<meta property="og:type" content="product">'
        f'<meta property="og:title" content="{title}">'
        '<meta property="og:description" content="A fine thing.">'
        f'<meta property="product:price:amount" content="{price}">'
        '<meta property="product:price:currency" content="EUR">'
        "</head><body></body></html>"
    )


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    state = Shop(base="", titles={"1": "Green Tea", "2": "Black Tea", "3": "Oolong"})

    async def product(request: web.Request) -> web.Response:
        state.seen.append(request.path)
        state.in_flight += 1
        state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            await asyncio.sleep(0.05)
            title = state.titles.get(request.match_info["n"])
            if title is None:
                raise web.HTTPNotFound()
            return web.Response(text=_page(title, "9.50"), content_type="text/html")
        finally:
            state.in_flight -= 1

    async def article(request: web.Request) -> web.Response:
        state.seen.append(request.path)
        html = '<html><head><meta property="og:type" content="article"></head></html>'
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/p/{n}", product)
    app.router.add_get("/blog", article)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
def hub(tmp_path: Path, settings: Settings) -> Hub:
    # The shop listens on loopback, which imports refuse unless allowed.
    extra = "product_import:\n  allow_private: true\n  timeout_s: 5\n"
    return Hub(write_config(tmp_path, settings.database.url, extra))


async def _products(sessions: SessionFactory, merchant_id: int) -> dict[str, Product]:
    async with sessions() as session:
        rows = await session.scalars(select(Product).where(Product.merchant_id == merchant_id))
        return {p.url: p for p in rows}


def _lines(stdout: str) -> dict[str, list[str]]:
    """URL → its result columns (status, product id, reason)."""
    out = {}
    for line in stdout.splitlines():
        cols = line.split("\t")
        if len(cols) >= 3:
            out[cols[2]] = [cols[0], cols[1], *cols[3:]]
    return out


async def test_imports_reports_failures_and_is_idempotent(
    hub: Hub, sessions: SessionFactory, shop: Shop
) -> None:
    merchant = await add_merchant(sessions, storefront=shop.base + "/")
    urls = [
        shop.url("/p/1"),
        shop.url("/p/2"),
        shop.url("/p/404"),
        shop.url("/blog"),
        "https://elsewhere.test/p/1",
        shop.url("/p/1"),
        "ftp://files.test/p/1",
    ]
    result = await hub("products", "import", "--merchant", str(merchant), "-c", "2", *urls)

    assert result.exit_code == 1, result.output
    lines = _lines(result.stdout)
    assert set(lines) == set(urls)  # the repeated URL is imported once
    products = await _products(sessions, merchant)
    assert sorted(p.title for p in products.values()) == ["Black Tea", "Green Tea"]
    green = products[shop.url("/p/1")]
    assert (green.price_minor, green.currency) == (950, "EUR")
    assert lines[shop.url("/p/1")] == ["created", str(green.id)]
    assert lines[shop.url("/p/404")][0] == "failed"
    assert lines[shop.url("/p/404")][2].startswith("http_status:")
    assert lines[shop.url("/blog")][2].startswith("no_product:")
    assert lines["https://elsewhere.test/p/1"][2].startswith("outside_storefront:")
    assert lines["ftp://files.test/p/1"][2].startswith("invalid_url:")
    assert result.stdout.splitlines()[-1] == "6 URLs: 2 created, 0 updated, 0 unchanged, 4 failed"
    # bounded: never more pages at a time than --concurrency
    assert shop.most_in_flight == 2
    # progress on stderr (not a terminal): sparse lines and a closing one, none on stdout
    progress = progress_lines(result.stderr, "import products")
    assert progress and progress[-1].startswith("import products: 6/6 in ")
    assert len(progress) <= 6
    assert "import products" not in result.stdout

    # the same run again: no second product; a changed page updates its product
    shop.titles["2"] = "Black Tea, smoked"
    again = await hub("products", "import", "--merchant", str(merchant), *urls[:2])
    assert again.exit_code == 0, again.output
    assert _lines(again.stdout)[shop.url("/p/1")] == ["unchanged", str(green.id)]
    assert _lines(again.stdout)[shop.url("/p/2")][0] == "updated"
    after = await _products(sessions, merchant)
    assert set(after) == set(products)
    assert after[shop.url("/p/2")].title == "Black Tea, smoked"
    assert after[shop.url("/p/2")].updated_at is not None


async def test_urls_from_a_file(
    hub: Hub, sessions: SessionFactory, shop: Shop, tmp_path: Path
) -> None:
    merchant = await add_merchant(sessions, storefront=shop.base)
    listing = tmp_path / "urls.txt"
    listing.write_text(
        f"# the teas\n{shop.url('/p/1')}\n\n  {shop.url('/p/3')}  \n", encoding="utf-8"
    )
    result = await hub("products", "import", "--merchant", str(merchant), "--file", str(listing))
    assert result.exit_code == 0, result.output
    assert sorted(p.title for p in (await _products(sessions, merchant)).values()) == [
        "Green Tea",
        "Oolong",
    ]
    assert "2 URLs: 2 created, 0 updated, 0 unchanged, 0 failed" in result.stdout


async def test_refusals_change_nothing(hub: Hub, sessions: SessionFactory, shop: Shop) -> None:
    merchant = await add_merchant(sessions, storefront=shop.base)
    unknown = await hub("products", "import", "--merchant", "999", shop.url("/p/1"))
    assert unknown.exit_code == 2 and "merchant 999 not found" in unknown.stderr
    nothing = await hub("products", "import", "--merchant", str(merchant))
    assert nothing.exit_code == 2 and "give product page URLs" in nothing.output
    assert shop.seen == []
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Product)) == 0
