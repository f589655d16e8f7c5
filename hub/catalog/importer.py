"""Import a product from its page: fetch it safely, then read its product card.

    product = await import_product(url, session, options)

`session` is the hub's one `aiohttp.ClientSession`; `options` come from the hub's settings.
Failures are `ProductImportError`s (see `hub.catalog.errors`): `FetchRefused` before anything
is sent, `FetchFailed` when the page cannot be had within the limits, `NoProductFound` when the
page has no product on it.
"""

from __future__ import annotations

import asyncio

import aiohttp

from hub.catalog.extract import ImportedProduct, extract_product
from hub.catalog.fetch import ImportOptions, fetch_page

__all__ = ["import_product"]


async def import_product(
    url: str, session: aiohttp.ClientSession, options: ImportOptions
) -> ImportedProduct:
    """Fetch the product page at `url` and build its product card.

    Parsing runs in a worker thread so a large page does not stall the event loop.
    """
    page = await fetch_page(url, session, options)
    return await asyncio.to_thread(extract_product, page.text, page.url)
