"""Where a link leads: the storefront entry for a product, with UTM parameters.

Rules (pure functions; the caller loads the rows):

- the base is the explicit ``destination_url`` when given, else the product's URL, else the
  storefront's ``entry_url``; an explicit URL outside the merchant's registered origins is
  refused (:class:`OutsideStorefront`), a product URL outside them falls back to the entry;
- UTM: the campaign's template is the base, then ``utm_medium`` (settings) unless the template
  names one, ``utm_campaign`` from the campaign's name unless the template names one, and the
  link's own facts always win: ``utm_source`` = channel kind, ``utm_content`` = share target;
- the click-id parameter is removed from the result: the edge appends a fresh one per click.

Nothing here trusts a URL it did not check with :func:`is_safe_destination` at the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hub.urls import is_within

__all__ = [
    "UTM_KEY_PATTERN",
    "OutsideStorefront",
    "Utm",
    "build_destination",
    "campaign_slug",
    "is_safe_destination",
    "utm_template",
]

UTM_KEY_PATTERN = r"^utm_[a-z_]{1,32}$"
_UTM_KEY = re.compile(UTM_KEY_PATTERN)
# Printable ASCII without space or backslash: browsers read "\\" as "/" where urlsplit does
# not, and tabs/newlines are dropped by both in different places. Hosts arrive in punycode.
_PLAIN = re.compile(r"^[!-\[\]-~]+$")


def is_safe_destination(url: str, origins: Sequence[str]) -> bool:
    """True when a browser and :func:`hub.urls.is_within` agree the URL is on ``origins``."""
    if not _PLAIN.match(url):
        return False
    parts = urlsplit(url)
    if "@" in parts.netloc or not parts.netloc:
        return False
    return is_within(url, list(origins))


class OutsideStorefront(ValueError):
    """The destination is not on one of the merchant's registered storefront origins."""


@dataclass(frozen=True, slots=True)
class Utm:
    """The link's own facts that become UTM parameters."""

    source: str | None = None
    content: str | None = None
    campaign_name: str | None = None
    template: Mapping[str, str] | None = None


def campaign_slug(name: str) -> str:
    """``"Spring Sale 2025"`` → ``"spring-sale-2025"`` (readable in analytics tools)."""
    slug = re.sub(r"[^\w]+", "-", name.strip().lower(), flags=re.UNICODE).strip("-")
    return slug[:100] or "campaign"


def utm_template(raw: Mapping[str, object]) -> dict[str, str]:
    """A campaign's UTM template, validated: ``utm_*`` keys, short non-empty string values."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not _UTM_KEY.match(key):
            raise ValueError(f"utm_template: key {key!r} must look like utm_<name>")
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise ValueError(f"utm_template.{key}: expected a string of 1-200 characters")
        out[key] = value.strip()
    return out


def _utm_params(utm: Utm, medium: str) -> dict[str, str]:
    params = dict(utm.template or {})
    params.setdefault("utm_medium", medium)
    if utm.campaign_name and "utm_campaign" not in params:
        params["utm_campaign"] = campaign_slug(utm.campaign_name)
    if utm.source:
        params["utm_source"] = utm.source
    if utm.content:
        params["utm_content"] = utm.content
    return params


def build_destination(
    *,
    origins: Sequence[str],
    entry_url: str,
    product_url: str | None,
    explicit_url: str | None,
    utm: Utm,
    medium: str,
    click_id_param: str,
) -> str:
    """The destination with UTM parameters; raises :class:`OutsideStorefront`."""
    if explicit_url is not None:
        if not is_safe_destination(explicit_url, origins):
            raise OutsideStorefront(
                f"destination {explicit_url!r} is not on one of the merchant's storefront origins"
            )
        base = explicit_url
    elif product_url is not None and is_safe_destination(product_url, origins):
        base = product_url
    else:
        base = entry_url
    parts = urlsplit(base.strip())
    params = _utm_params(utm, medium)
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in params and k != click_id_param
    ]
    query = urlencode([*kept, *sorted(params.items())])
    url = urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", query, parts.fragment))
    # The one check that matters, on exactly the string the edge will send.
    if not is_safe_destination(url, origins):
        raise OutsideStorefront(f"destination {url!r} is not on a storefront origin")
    return url
