"""The dashboard in a real headless Chromium, on a seeded database.

Signs in with an API key, checks the charts carry the seeded numbers, opens a share and
downloads a CSV. The screenshot is kept in ``test-artifacts/dashboard.png``.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.storage.models import (
    AttributionCredit,
    ChannelAccount,
    Click,
    Conversion,
    Link,
    Product,
    Share,
    ShareTarget,
)
from hub.web.keys import SESSIONS
from tests.conftest import CI, REPO, MerchantFactory

CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Two days ago (UTC noon): 3 telegram clicks, 2 mastodon clicks; one order of 120.00 USD
# credited 75/45 by the linear model, 120/0 by last touch.
# Mastodon's link comes first by id, Telegram's first by revenue: the top tables sort by revenue.
CLICKS = {"mastodon": 2, "telegram": 3}
CREDITS = {"linear": {"telegram": 7500, "mastodon": 4500}, "last_touch": {"telegram": 12000}}


async def seed(client: TestClient[Any, Any], new_merchant: MerchantFactory) -> dict[str, Any]:
    made = await new_merchant(client, "Tea House", "https://shop.test/")
    app = client.server.app
    assert app is not None
    day = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=2)
    async with app[SESSIONS]() as session:
        product = Product(merchant_id=made.merchant_id, title="Longjing tea",
                          url="https://shop.test/p/tea", price_minor=16800, currency="USD")
        session.add(product)
        await session.flush()
        share = Share(merchant_id=made.merchant_id, product_id=product.id, scheduled_at=day,
                      when=day.isoformat(), state="scheduled")
        session.add(share)
        await session.flush()
        links: dict[str, Link] = {}
        for i, kind in enumerate(CLICKS):
            account = ChannelAccount(merchant_id=made.merchant_id, kind=kind, name=f"{kind} main")
            session.add(account)
            await session.flush()
            target = ShareTarget(
                share_id=share.id, merchant_id=made.merchant_id, channel_account_id=account.id,
                state="published" if kind == "telegram" else "deferred",
                reason=None if kind == "telegram" else "quiet hours until 08:00",
                due_at=day + timedelta(days=30), idempotency_key=f"key-{i}", published_at=day,
                remote_url="https://t.me/c/1/2" if kind == "telegram" else None)
            session.add(target)
            await session.flush()
            link = Link(merchant_id=made.merchant_id, code=f"code{kind}",
                        destination_url="https://shop.test/p/tea", product_id=product.id,
                        channel_account_id=account.id, share_target_id=target.id,
                        channel_kind=kind)
            session.add(link)
            await session.flush()
            links[kind] = link
            for n in range(CLICKS[kind]):
                session.add(Click(click_id=f"c-{kind}-{n}", merchant_id=made.merchant_id,
                                  link_id=link.id, visitor_id=f"v-{kind}",
                                  at=day + timedelta(minutes=n), is_unique=n == 0))
        conversion = Conversion(merchant_id=made.merchant_id, order_id="A-1", amount_minor=12000,
                                currency="USD", occurred_at=day + timedelta(hours=1))
        session.add(conversion)
        await session.flush()
        for model, split in CREDITS.items():
            for kind, minor in split.items():
                session.add(AttributionCredit(
                    merchant_id=made.merchant_id, conversion_id=conversion.id, model=model,
                    click_id=f"c-{kind}-0", link_id=links[kind].id, channel_kind=kind,
                    product_id=product.id, weight=minor / 12000, revenue_minor=float(minor),
                    occurred_at=conversion.occurred_at))
        await session.commit()
        return {"token": made.api_key.token, "share_id": share.id, "day": day.date().isoformat()}


@pytest.mark.slow
async def test_dashboard_in_chromium(
    client: TestClient[Any, Any], new_merchant: MerchantFactory, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}; ./dev test installs it"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    seeded = await seed(client, new_merchant)
    base = str(client.make_url("/dashboard/"))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1400},
                                          accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base)
            await page.fill("input[name=key]", "hub_wrong_key")
            await page.click("#sign-in-form button[type=submit]")
            await page.wait_for_selector("#sign-in-error:has-text('refused')")

            await page.fill("input[name=key]", seeded["token"])
            await page.click("#sign-in-form button[type=submit]")
            try:
                await page.wait_for_function(
                    "() => window.Chart && Chart.getChart('models-chart') "
                    "&& Chart.getChart('clicks-chart')", timeout=15_000)
            except Exception:
                raise AssertionError(f"charts not drawn: {await page.inner_text('main')} "
                                     f"{errors}") from None
            clicks = await page.evaluate(
                "() => Object.fromEntries(Chart.getChart('clicks-chart').data.datasets"
                ".map(d => [d.label, d.data.reduce((a, b) => a + b, 0)]))")
            assert clicks == CLICKS
            revenue = await page.evaluate(
                "() => Object.fromEntries(Chart.getChart('revenue-chart').data.datasets"
                ".map(d => [d.label, d.data.reduce((a, b) => a + b, 0)]))")
            assert revenue == {"telegram": 75.0, "mastodon": 45.0}
            models = await page.evaluate(
                "() => { const c = Chart.getChart('models-chart'); return Object.fromEntries("
                "c.data.datasets.map(d => [d.label, Object.fromEntries("
                "c.data.labels.map((l, i) => [l, d.data[i]]))])) }")
            assert models["linear"] == {"mastodon": 45.0, "telegram": 75.0}
            assert models["last_touch"] == {"mastodon": 0.0, "telegram": 120.0}
            totals = await page.inner_text("#totals")
            assert "5" in totals and "$120.00" in totals and "undefined" not in totals
            assert "2\nunique clicks" in totals, totals  # one visitor per channel, clicking again
            top = await page.eval_on_selector_all(
                "#link-table tbody tr", "rows => rows.map(r => r.cells[0].innerText)")
            assert top == ["codetelegram", "codemastodon"]

            await page.click(f"[data-share='{seeded['share_id']}']")
            await page.wait_for_selector("#share-detail h3")
            detail = await page.inner_text("#share-detail")
            assert "telegram main" in detail and "published" in detail
            assert "quiet hours until 08:00" in detail
            await page.click("#share-dialog button")

            async with page.expect_download() as download_info:
                await page.click("[data-csv=channel]")
            download = await download_info.value
            csv_path = tmp_path / "channel.csv"
            await download.save_as(csv_path)
            csv_text = csv_path.read_text(encoding="utf-8")
            assert csv_text.splitlines()[0].startswith("channel,")
            assert "telegram" in csv_text and "75.00" in csv_text

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
