"""Product import: saved product pages served by a real local server, and a misbehaving shop."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import time
from decimal import Decimal
from urllib.parse import quote

import aiohttp
import pytest

import hub.catalog
from connectors import netguard
from hub.catalog import (
    TRUST_ORDER,
    FetchedPage,
    FetchFailed,
    FetchRefused,
    ImportedProduct,
    ImportOptions,
    NoProductFound,
    ProductImportError,
    decode_html,
    extract_product,
    fetch_page,
    import_product,
    is_disallowed_address,
)
from hub.catalog.price import parse_currency, parse_price

from .conftest import BIG_BYTES, ShopServer, Traced

LOCAL = ImportOptions(allow_private=True, timeout_s=5.0)
PUBLIC_ONLY = ImportOptions(allow_private=False, timeout_s=5.0)


async def _import(shop: ShopServer, session: aiohttp.ClientSession, path: str) -> ImportedProduct:
    return await import_product(shop.url(path), session, LOCAL)


# --- the public surface ---------------------------------------------------------------------


def test_public_names_are_pinned() -> None:
    assert sorted(hub.catalog.__all__) == sorted(
        [
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
    )
    for name in hub.catalog.__all__:
        assert getattr(hub.catalog, name) is not None


def test_the_order_of_trust_is_the_issues() -> None:
    # Issue 3: "Open Graph, Twitter Card, JSON-LD schema.org Product/Offer and microdata,
    # in that order of trust".
    assert TRUST_ORDER == ("opengraph", "twitter", "jsonld", "microdata")


def test_options_and_results_are_frozen_and_checked() -> None:
    options = ImportOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.allow_private = True  # type: ignore[misc]
    assert options.allow_private is False
    for bad in (
        {"max_bytes": 0},
        {"timeout_s": 0},
        {"timeout_s": float("nan")},
        {"max_redirects": -1},
        {"user_agent": "a\r\nX-Injected: 1"},
    ):
        with pytest.raises(ValueError):
            ImportOptions(**bad)
    product = extract_product('<meta property="og:title" content="T">', "https://shop.example/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        product.title = "changed"  # type: ignore[misc]


def test_error_hierarchy_and_codes() -> None:
    for cls in (FetchRefused, FetchFailed, NoProductFound):
        assert issubclass(cls, ProductImportError)
    error = FetchFailed("http_status", "The page answered HTTP 404", details={"status": 404})
    assert (error.code, error.message, error.details["status"]) == (
        "http_status",
        "The page answered HTTP 404",
        404,
    )
    assert "http_status" in str(error)
    with pytest.raises(ValueError):
        FetchRefused("timeout", "not a refusal code")
    assert "no_product" in NoProductFound.codes
    assert {"address_not_allowed", "scheme_not_allowed", "invalid_url"} <= FetchRefused.codes


# --- saved product pages ----------------------------------------------------------------------


async def test_open_graph_only(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/og_only.html")
    assert product == ImportedProduct(
        title="Trail Runner 2 & Gaiters",
        description="Light trail shoe with a grippy sole.",
        price=Decimal("89.90"),
        currency="EUR",
        image_url=shop.url("/media/trail-runner-2.jpg"),
        url="https://shop.example/p/trail-runner-2",
        tags=("Shoes", "Trail"),
        sources=("opengraph",),
    )


async def test_json_ld_graph_with_references_and_aggregate_offer(
    shop: ShopServer, traced: Traced
) -> None:
    product = await _import(shop, traced.session, "/pages/jsonld_graph.html")
    assert product.title == "Ceramic Pour-Over Set & Filters"
    assert product.description == "Hand-glazed dripper, server and 100 filters."
    # AggregateOffer found through its @id; lowPrice written as a string with a thousands comma.
    assert (product.price, product.currency) == (Decimal("1249.50"), "JPY")
    assert product.image_url == shop.url("/pages/img/pour-over-1.jpg")
    assert product.url == "https://shop.example/p/pour-over"
    assert product.tags == ("coffee", "pour-over", "ceramic")
    assert product.sources == ("jsonld",)


async def test_json_ld_product_group_with_variants(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/jsonld_product_group.html")
    assert product.title == "Merino Tee"
    assert product.description == "A soft merino T-shirt."
    # Lowest of the variants' offers (numbers, a list, a priceSpecification string).
    assert (product.price, product.currency) == (Decimal("39.5"), "USD")
    assert product.image_url == "https://cdn.example/tee-s.jpg"
    assert product.url == shop.url("/pages/jsonld_product_group.html")
    assert product.tags == ("Apparel", "Tops", "T-Shirts")


async def test_microdata(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/microdata.html")
    assert product.title == "Walnut Desk Lamp"  # not the nested Brand's name
    assert product.description == "Warm light, solid walnut base."
    assert (product.price, product.currency) == (Decimal("129.00"), "GBP")
    assert product.image_url == "https://cdn.example/shop/lamps/walnut.jpg"  # <base href>
    assert product.tags == ("lighting", "walnut")
    assert product.sources == ("microdata",)


async def test_twitter_card_only(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/twitter_only.html")
    assert product.title == "Linen Apron"
    assert product.description == "Stonewashed linen, two pockets."
    assert (product.price, product.currency) == (Decimal("24.90"), "EUR")
    assert product.image_url == "https://cdn.example/apron.jpg"
    assert product.sources == ("twitter",)


async def test_broken_markup(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/broken.html")
    assert product.title == "Broken Markup Kettle"
    assert product.description == "Control characters and a tab are in this string."
    assert (product.price, product.currency) == (Decimal("34.99"), "CAD")
    assert product.image_url == "http://cdn.example/kettle.png"  # protocol-relative
    assert product.sources == ("opengraph", "jsonld")


async def test_windows_1252_declared_only_in_meta(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/windows1252_meta.html")
    assert product.title == "Café crème — “sélection”"
    assert product.description == "Torréfié à Lyon, 250 g … dès 9,50 €"


async def test_shift_jis_declared_only_in_meta(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/shift_jis_meta.html")
    assert product.title == "有田焼の湯呑み（藍染）"
    # ① and 髙 exist only in the Windows variant of Shift_JIS, which browsers use.
    assert product.description == "手作りの磁器です。①髙橋さん作"
    assert (product.price, product.currency) == (Decimal("3300"), "JPY")


async def test_gb18030_declared_only_in_the_http_header(shop: ShopServer, traced: Traced) -> None:
    page = await fetch_page(shop.url("/pages/gb18030_header.html"), traced.session, LOCAL)
    assert page.encoding == "gb18030"
    product = extract_product(page.text, page.url)
    assert product.title == "景德镇青花瓷茶杯 \U00020000"
    assert (product.price, product.currency) == (Decimal("168.00"), "CNY")


async def test_xhtml_with_an_xml_prolog(shop: ShopServer, traced: Traced) -> None:
    product = await _import(shop, traced.session, "/pages/xhtml.xhtml")
    assert (product.title, product.price, product.currency) == ("XHTML Teapot", Decimal(20), "CHF")


@pytest.mark.parametrize("page", ["no_product_article.html", "no_product_plain.html"])
async def test_a_page_without_a_product(shop: ShopServer, traced: Traced, page: str) -> None:
    with pytest.raises(NoProductFound) as caught:
        await _import(shop, traced.session, f"/pages/{page}")
    assert caught.value.code == "no_product"


async def test_conflicting_sources_follow_the_order_of_trust(
    shop: ShopServer, traced: Traced
) -> None:
    product = await _import(shop, traced.session, "/pages/conflicting.html")
    # Open Graph wins the title over Twitter, JSON-LD and microdata.
    assert product.title == "Title from Open Graph"
    # Open Graph has no description: Twitter's, not JSON-LD's, microdata's or plain meta's.
    assert product.description == "Description from Twitter"
    # Open Graph's price 12.00 wins over JSON-LD's 15.00 EUR; its currency comes from the first
    # source with the same price (microdata, USD), never from JSON-LD's different price.
    assert (product.price, product.currency) == (Decimal("12.00"), "USD")
    # Neither Open Graph nor Twitter has an image or a URL: JSON-LD's, not microdata's.
    assert product.image_url == shop.url("/img/from-jsonld.jpg")
    assert product.url == "https://shop.example/from-jsonld"
    # Only microdata has keywords.
    assert product.tags == ("from-microdata", "second")
    assert product.sources == TRUST_ORDER


def test_each_lower_source_fills_only_what_higher_ones_lack() -> None:
    html = """<html><head>
    <meta property="og:title" content="OG">
    <meta name="twitter:title" content="TW"><meta name="twitter:image" content="/tw.jpg">
    <script type="application/ld+json">
      {"@type": "Product", "name": "LD", "image": "/ld.jpg", "description": "LD description"}
    </script>
    <link rel="canonical" href="/canonical">
    </head></html>"""
    product = extract_product(html, "https://shop.example/p?id=1")
    assert product.title == "OG"
    assert product.image_url == "https://shop.example/tw.jpg"
    assert product.description == "LD description"
    assert product.url == "https://shop.example/canonical"
    assert product.price is None and product.currency is None
    assert product.sources == ("opengraph", "twitter", "jsonld")


def test_plain_meta_fills_description_and_tags_but_never_the_title() -> None:
    html = """<html><head><meta property="og:title" content="Mug">
    <meta name="description" content="A mug."><meta name="keywords" content="mug, cup">
    <meta property="og:image" content="javascript:alert(1)"></head></html>"""
    product = extract_product(html, "https://shop.example/mug")
    assert (product.description, product.tags) == ("A mug.", ("mug", "cup"))
    assert product.image_url is None  # only http(s) URLs are kept
    assert product.sources == ("opengraph", "meta")
    with pytest.raises(NoProductFound):
        extract_product('<meta name="description" content="A mug.">', "https://shop.example/")
    with pytest.raises(NoProductFound):
        extract_product("just text, no markup", "https://shop.example/")


# --- fetching: redirects, limits, content types ----------------------------------------------


async def test_redirects_are_followed_and_counted(shop: ShopServer, traced: Traced) -> None:
    page = await fetch_page(
        shop.url("/chain/5"), traced.session, dataclasses.replace(LOCAL, max_redirects=6)
    )
    assert page.url == shop.url("/pages/og_only.html")
    assert shop.seen == [f"/chain/{n}" for n in range(5, -1, -1)] + ["/pages/og_only.html"]


async def test_too_many_redirects(shop: ShopServer, traced: Traced) -> None:
    options = dataclasses.replace(LOCAL, max_redirects=3)
    with pytest.raises(FetchFailed) as caught:
        await fetch_page(shop.url("/chain/10"), traced.session, options)
    assert caught.value.code == "too_many_redirects"
    assert len(shop.seen) == 4  # the first request and three redirects, nothing more


async def test_no_redirects_allowed(shop: ShopServer, traced: Traced) -> None:
    options = dataclasses.replace(LOCAL, max_redirects=0)
    with pytest.raises(FetchFailed) as caught:
        await fetch_page(shop.url("/chain/0"), traced.session, options)
    assert caught.value.code == "too_many_redirects"


async def test_redirect_loop(shop: ShopServer, traced: Traced) -> None:
    with pytest.raises(FetchFailed) as caught:
        await fetch_page(shop.url("/loop/a"), traced.session, LOCAL)
    assert caught.value.code == "redirect_loop"
    assert shop.seen == ["/loop/a", "/loop/b"]


async def test_redirect_without_location(shop: ShopServer, traced: Traced) -> None:
    with pytest.raises(FetchFailed) as caught:
        await fetch_page(shop.url("/no-location"), traced.session, LOCAL)
    assert caught.value.code == "bad_redirect"


@pytest.mark.parametrize("code", [404, 410, 500, 503])
async def test_http_error_status(shop: ShopServer, code: int) -> None:
    # Even a session that raises for status on its own gets a FetchFailed.
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        with pytest.raises(FetchFailed) as caught:
            await fetch_page(shop.url(f"/status/{code}"), session, LOCAL)
    assert caught.value.code == "http_status"
    assert caught.value.details["status"] == code


@pytest.mark.parametrize("path", ["/big", "/big?declared=1", "/gzip"])
async def test_too_large(shop: ShopServer, traced: Traced, path: str) -> None:
    options = dataclasses.replace(LOCAL, max_bytes=BIG_BYTES // 2)
    with pytest.raises(FetchFailed) as caught:
        await fetch_page(shop.url(path), traced.session, options)
    assert caught.value.code == "too_large"
    assert caught.value.details["max_bytes"] == BIG_BYTES // 2


async def test_a_body_within_the_limit(shop: ShopServer, traced: Traced) -> None:
    options = dataclasses.replace(LOCAL, max_bytes=BIG_BYTES * 2)
    for path in ("/big", "/gzip"):
        product = await import_product(shop.url(path), traced.session, options)
        assert product.title == "Big"


@pytest.mark.parametrize("path", ["/slow-headers", "/slow-body"])
async def test_slow_server_hits_the_time_limit(shop: ShopServer, traced: Traced, path: str) -> None:
    options = dataclasses.replace(LOCAL, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(FetchFailed) as caught:
        await fetch_page(shop.url(path), traced.session, options)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("path", ["/json", "/image"])
async def test_non_html_content_type(shop: ShopServer, traced: Traced, path: str) -> None:
    with pytest.raises(FetchFailed) as caught:
        await import_product(shop.url(path), traced.session, LOCAL)
    assert caught.value.code == "not_html"


async def test_connection_refused(traced: Traced) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchFailed) as caught:
        await fetch_page(f"http://127.0.0.1:{port}/", traced.session, LOCAL)
    assert caught.value.code == "connection_failed"


async def test_host_names_are_pinned_to_the_checked_address(
    shop: ShopServer, traced: Traced
) -> None:
    page = await fetch_page(f"http://localhost:{shop.port}/host", traced.session, LOCAL)
    # The request went to the resolved address, and the server still saw the real host name.
    assert extract_product(page.text, page.url).title == f"localhost:{shop.port}"
    assert page.url == f"http://localhost:{shop.port}/host"
    assert all("localhost" not in url for url in traced.requests)
    assert isinstance(page, FetchedPage)


# --- refusals: nothing is sent ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/product",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "https://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[2002:a00:1::]/",
        "http://localhost/",
        "http://2130706433/",
        "http://127.1/",
    ],
)
async def test_private_addresses_are_refused_before_any_request(traced: Traced, url: str) -> None:
    with pytest.raises(FetchRefused) as caught:
        await import_product(url, traced.session, PUBLIC_ONLY)
    assert caught.value.code == "address_not_allowed"
    assert "address" in caught.value.details
    assert traced.requests == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://shop.example/product", "scheme_not_allowed"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("javascript:alert(1)", "scheme_not_allowed"),
        ("/relative/path", "invalid_url"),
        ("http://shop.example:99999/", "invalid_url"),
        ("http://user:secret@shop.example/", "invalid_url"),
    ],
)
async def test_bad_urls_are_refused(traced: Traced, url: str, code: str) -> None:
    with pytest.raises(FetchRefused) as caught:
        await import_product(url, traced.session, LOCAL)
    assert caught.value.code == code
    assert traced.requests == []


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("http://10.0.0.1/product", "address_not_allowed"),
        ("http://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("http://[::1]:{port}/pages/og_only.html", "address_not_allowed"),
        ("http://[::ffff:192.168.0.1]/", "address_not_allowed"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme_not_allowed"),
    ],
)
async def test_every_redirect_hop_is_checked(
    shop: ShopServer, traced: Traced, monkeypatch: pytest.MonkeyPatch, target: str, code: str
) -> None:
    # Let the test server's own address pass as if it were public; everything else is judged
    # by the real rule. The redirect target must be refused before anything is sent to it.
    real = netguard.is_disallowed_address
    server = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(netguard, "is_disallowed_address", lambda a: a != server and real(a))
    redirect = shop.url("/to?to=" + quote(target.format(port=shop.port), safe=""))
    with pytest.raises(FetchRefused) as caught:
        await import_product(redirect, traced.session, PUBLIC_ONLY)
    assert caught.value.code == code
    assert len(traced.requests) == 1  # the redirect itself, nothing after it
    assert len(shop.seen) == 1


@pytest.mark.parametrize(
    ("address", "disallowed"),
    [
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("2606:4700:4700::1111", False),
        ("::ffff:8.8.8.8", False),
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.31.255.255", True),
        ("192.168.0.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.251", True),
        ("240.0.0.1", True),
        ("255.255.255.255", True),
        ("192.0.2.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("fec0::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:169.254.0.1", True),
        ("2002:7f00:1::", True),
        ("2001:db8::1", True),
    ],
)
def test_address_rules(address: str, disallowed: bool) -> None:
    assert is_disallowed_address(ipaddress.ip_address(address)) is disallowed


# --- charsets and prices -----------------------------------------------------------------------


def test_charset_order() -> None:
    page = '<meta charset="windows-1252"><p>caf\u00e9'
    # The HTTP header wins over the <meta>.
    assert decode_html(page.encode("utf-8"), "utf-8") == (page, "utf-8")
    # Without a header, the <meta> decides; ISO-8859-1 means windows-1252, as in browsers.
    assert decode_html(page.encode("cp1252")) == (page, "cp1252")
    latin1 = '<meta http-equiv="content-type" content="text/html;charset=ISO-8859-1">\u20ac'
    assert decode_html(latin1.encode("cp1252"))[0] == latin1
    # A byte order mark wins over everything; an unknown header label is skipped.
    assert decode_html(b"\xef\xbb\xbf<p>\xc3\xa9", "windows-1252") == ("<p>é", "utf-8-sig")
    assert decode_html("<p>é".encode(), "no-such-charset") == ("<p>é", "utf-8")


def test_charset_detector_for_undeclared_pages() -> None:
    text = (
        "<html><head><title>Чайник</title></head><body><p>Электрический чайник с подсветкой "
        "и защитой от перегрева. Быстро закипает и долго сохраняет тепло. Гарантия два года."
        "</p></body></html>"
    )
    decoded, codec = decode_html(text.encode("cp1251"))
    assert (decoded, codec) == (text, "cp1251")


@pytest.mark.parametrize(
    ("raw", "price"),
    [
        ("19.99", Decimal("19.99")),
        (19.99, Decimal("19.99")),
        (45, Decimal("45")),
        ("1,299.00", Decimal("1299.00")),
        ("1.299,00", Decimal("1299.00")),
        ("1 299,50 €", Decimal("1299.50")),
        ("19,99", Decimal("19.99")),
        ("1,299", Decimal("1299")),
        ("0", Decimal("0")),
        ("-5", None),
        ("free", None),
        (None, None),
        (True, None),
        (float("inf"), None),
    ],
)
def test_prices(raw: object, price: Decimal | None) -> None:
    assert parse_price(raw) == price


@pytest.mark.parametrize(
    ("raw", "currency"),
    [("usd", "USD"), ("€", "EUR"), ("US$ 5", "USD"), ("19.99 GBP", "GBP"), ("$", None), (3, None)],
)
def test_currencies(raw: object, currency: str | None) -> None:
    assert parse_currency(raw) == currency
