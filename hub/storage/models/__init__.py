"""The hub's tables. ORM objects never leave ``hub.storage`` and never go to tasks."""

from __future__ import annotations

from hub.storage.models.attribution import (
    ROLLUP_MODELS,
    AttributionCredit,
    Conversion,
    CreditDay,
    CreditLinkDay,
    CreditLinkWeek,
    CreditProductDay,
    CreditProductWeek,
    CreditWeek,
    PlatformSecret,
)
from hub.storage.models.base import Base
from hub.storage.models.catalog import Campaign, Product
from hub.storage.models.publishing import ChannelAccount, Share, ShareTarget, ShareTargetEvent
from hub.storage.models.tenancy import ApiKey, Merchant, Storefront
from hub.storage.models.tracking import (
    BUCKET_S,
    Click,
    ClickBucket,
    ClickDay,
    ClickWeek,
    Customer,
    Link,
    LinkPreviewDay,
    Visitor,
)
from hub.storage.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ROLLUP_MODELS",
    "BUCKET_S",
    "ApiKey",
    "AttributionCredit",
    "Base",
    "Campaign",
    "ChannelAccount",
    "Click",
    "ClickBucket",
    "ClickDay",
    "ClickWeek",
    "Conversion",
    "CreditDay",
    "CreditLinkDay",
    "CreditLinkWeek",
    "CreditProductDay",
    "CreditProductWeek",
    "CreditWeek",
    "Customer",
    "Link",
    "LinkPreviewDay",
    "Merchant",
    "PlatformSecret",
    "Product",
    "Share",
    "ShareTarget",
    "ShareTargetEvent",
    "Storefront",
    "Visitor",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
