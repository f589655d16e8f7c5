"""Destinations: the storefront entry for the product, UTM, and never anywhere else."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from hub.links import OutsideStorefront, build_destination, is_safe_destination
from hub.links.destination import Utm, campaign_slug, utm_template

ORIGINS = ["https://shop.test", "https://www.shop.test"]


def build(**kw: object) -> str:
    args: dict[str, object] = {
        "origins": ORIGINS,
        "entry_url": "https://shop.test/",
        "product_url": None,
        "explicit_url": None,
        "utm": Utm(source="telegram", content="42"),
        "medium": "social",
        "click_id_param": "hub_cid",
    }
    args.update(kw)
    return build_destination(**args)  # type: ignore[arg-type]


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_product_url_with_utm() -> None:
    url = build(product_url="https://shop.test/p/mug?color=blue&utm_source=old&hub_cid=x#reviews")
    assert url.startswith("https://shop.test/p/mug?")
    assert url.endswith("#reviews")
    assert query(url) == {
        "color": ["blue"],
        "utm_source": ["telegram"],
        "utm_medium": ["social"],
        "utm_content": ["42"],
    }


def test_product_off_the_storefront_falls_back_to_the_entry() -> None:
    url = build(product_url="https://evil.test/p/mug")
    assert url.startswith("https://shop.test/?")


def test_campaign_template_and_name() -> None:
    url = build(utm=Utm(source="x", content="7", campaign_name="Spring Sale 2025"))
    assert query(url)["utm_campaign"] == ["spring-sale-2025"]
    template = {
        "utm_campaign": "spring",
        "utm_term": "mugs",
        "utm_medium": "paid-social",
        "utm_source": "ignored",
    }
    url = build(utm=Utm(source="x", content="7", campaign_name="S", template=template))
    q = query(url)
    assert q["utm_campaign"] == ["spring"] and q["utm_term"] == ["mugs"]
    assert q["utm_medium"] == ["paid-social"]
    assert q["utm_source"] == ["x"]  # the link's own facts win
    assert campaign_slug("  Été -- 2025! ") == "été-2025"


def test_template_validation() -> None:
    assert utm_template({"utm_campaign": " a "}) == {"utm_campaign": "a"}
    for bad in ({"campaign": "x"}, {"utm_x": ""}, {"utm_x": 3}, {"UTM_X": "y"}):
        with pytest.raises(ValueError):
            utm_template(bad)


@pytest.mark.parametrize(
    "url",
    [
        "//evil.test/",
        "https://evil.test/",
        "http://evil.test/shop.test",
        "https://shop.test.evil.test/",
        "https://shop.test@evil.test/",
        "https://user:pw@shop.test/",
        "https://evil.test\\@shop.test/",
        "https://evil.test\\.shop.test/",
        "https:\\\\evil.test",
        "https://evil.test#@shop.test",
        "https://evil.test?@shop.test",
        "https://shop.test\t.evil.test/",
        "https://shop.test\n/",
        "https://ｓhop.test/",
        "https://shop。test/",
        "https://shop.test%2f@evil.test/",
        "javascript:alert(document.domain)//https://shop.test/",
        "data:text/html,<script>alert(1)</script>",
        "ftp://shop.test/",
        "/relative/path",
        "https://shop.test:8443/",
        "http://shop.test/",
        "",
    ],
)
def test_open_redirect_attempts_are_refused(url: str) -> None:
    assert not is_safe_destination(url, ORIGINS)
    with pytest.raises(OutsideStorefront):
        build(explicit_url=url)


@pytest.mark.parametrize(
    "url", ["https://shop.test/", "https://SHOP.test/p?q=1", "https://www.shop.test:443/a"]
)
def test_storefront_urls_are_accepted(url: str) -> None:
    assert is_safe_destination(url, ORIGINS)
    assert build(explicit_url=url).startswith(
        ("https://shop.test/", "https://SHOP.test/", "https://www.shop.test:443/")
    )
