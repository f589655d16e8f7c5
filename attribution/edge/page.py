"""The HTML the edge answers with: the card page for preview crawlers, and 404 / 410 pages.

Every value from a merchant goes through :func:`html.escape` (quotes included) before it
lands in an attribute or text; nothing else is interpolated.
"""

from __future__ import annotations

from html import escape

from attribution.edge.entry import LinkEntry

__all__ = ["GONE_PAGE", "NOT_FOUND_PAGE", "UNAVAILABLE_PAGE", "card_page"]


def _plain(title: str, message: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex">'
        f"<title>{title}</title></head><body><h1>{title}</h1><p>{message}</p></body></html>"
    )


NOT_FOUND_PAGE = _plain("Link not found", "No link has this address. Check it for typos.")
GONE_PAGE = _plain("Link no longer available", "This link has expired or was turned off.")
UNAVAILABLE_PAGE = _plain("Try again shortly", "This link cannot be opened right now.")


def _meta(attr: str, name: str, value: str | None) -> str:
    if not value:
        return ""
    return f'<meta {attr}="{escape(name)}" content="{escape(value)}">'


def card_page(entry: LinkEntry, refresh_to: str | None = None) -> str:
    """Open Graph, Twitter Card, schema.org and product price tags of the link's card.

    ``refresh_to``: a URL to go to at once (meta refresh), for fetchers that may be people.
    """
    card = entry.card
    url = entry.destination_url
    title = card.title if card is not None else url
    description = card.description if card is not None else ""
    image = card.image_url if card is not None else None
    tags = [
        _meta("property", "og:type", "product" if card and card.price else "website"),
        _meta("property", "og:title", title),
        _meta("property", "og:description", description),
        _meta("property", "og:url", url),
        _meta("property", "og:image", image),
        _meta("property", "og:site_name", card.site_name if card is not None else None),
        _meta("name", "twitter:card", "summary_large_image" if image else "summary"),
        _meta("name", "twitter:title", title),
        _meta("name", "twitter:description", description),
        _meta("name", "twitter:image", image),
        _meta("name", "description", description),
        _meta("itemprop", "name", title),
        _meta("itemprop", "description", description),
        _meta("itemprop", "image", image),
    ]
    if card is not None and card.price and card.currency:
        tags += [
            _meta("property", "product:price:amount", card.price),
            _meta("property", "product:price:currency", card.currency),
            _meta("property", "og:price:amount", card.price),
            _meta("property", "og:price:currency", card.currency),
        ]
    if refresh_to is not None:
        tags.append(f'<meta http-equiv="refresh" content="0;url={escape(refresh_to)}">')
    head = "".join(t for t in tags if t)
    # The first <img> of the body is the product's: older WeChat fetchers take it.
    img = f'<img src="{escape(image)}" alt="">' if image else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{head}"
        f'<link rel="canonical" href="{escape(url)}"></head>'
        f"<body>{img}<h1>{escape(title)}</h1><p>{escape(description)}</p>"
        f'<p><a href="{escape(url)}">{escape(url)}</a></p></body></html>'
    )
