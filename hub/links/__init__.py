"""Tracked links and campaigns: codes, destinations with UTM, the edge's resolver, QR codes.

:func:`create_link` is what publishing calls for each share target (it adds and flushes;
the caller commits).
"""

from __future__ import annotations

from hub.config import LinkSettings
from hub.links.campaigns import (
    CampaignIn,
    CampaignOut,
    DuplicateCampaign,
    create_campaign,
    get_campaign,
    list_campaigns,
)
from hub.links.codes import ALPHABET, RESERVED, InvalidSlug, code_bits, new_code, validate_slug
from hub.links.destination import OutsideStorefront, build_destination, is_safe_destination
from hub.links.qr import qr_image
from hub.links.resolve import sql_resolver
from hub.links.service import (
    LinkConflict,
    LinkOut,
    LinkPatch,
    NotFound,
    create_link,
    get_link,
    list_links,
    update_link,
)

__all__ = [
    "ALPHABET",
    "RESERVED",
    "CampaignIn",
    "CampaignOut",
    "DuplicateCampaign",
    "InvalidSlug",
    "LinkConflict",
    "LinkOut",
    "LinkPatch",
    "LinkSettings",
    "NotFound",
    "OutsideStorefront",
    "build_destination",
    "code_bits",
    "create_campaign",
    "create_link",
    "get_campaign",
    "get_link",
    "is_safe_destination",
    "list_campaigns",
    "list_links",
    "new_code",
    "qr_image",
    "sql_resolver",
    "update_link",
    "validate_slug",
]
