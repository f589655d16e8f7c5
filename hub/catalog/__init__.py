"""The catalog: importing a product card from a product page.

(`hub.catalog.products`, the merchant's stored products, is imported by its full name.)
"""

from __future__ import annotations

from hub.catalog.charset import decode_html
from hub.catalog.errors import FetchFailed, FetchRefused, NoProductFound, ProductImportError
from hub.catalog.extract import TRUST_ORDER, ImportedProduct, extract_product
from hub.catalog.fetch import FetchedPage, ImportOptions, fetch_page, is_disallowed_address
from hub.catalog.importer import import_product

__all__ = [
    "TRUST_ORDER",
    "FetchFailed",
    "FetchRefused",
    "FetchedPage",
    "ImportOptions",
    "ImportedProduct",
    "NoProductFound",
    "ProductImportError",
    "decode_html",
    "extract_product",
    "fetch_page",
    "import_product",
    "is_disallowed_address",
]
