"""A merchant's webhook endpoints: create, read, change, delete (every call scoped).

An endpoint has a URL, the event types it wants and a signing secret (``whsec_`` + base64 of
32 bytes, shown once at creation and stored encrypted with the Vault). The URL must be http
or https without credentials, and unless ``webhooks.allow_private`` is set its host must not
be a private, loopback or otherwise non-public address; a host name is resolved and checked
again before every delivery (``hub.webhooks.transport``).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from connectors.netguard import is_disallowed_address
from hub.security import Vault, new_secret
from hub.storage.models import WebhookEndpoint
from hub.webhooks.events import EventType

__all__ = [
    "EndpointIn",
    "EndpointOut",
    "EndpointPatch",
    "InvalidEndpointUrl",
    "check_url",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_endpoints",
    "update_endpoint",
]

_LOCAL_NAMES = ("localhost", "localhost.localdomain")


class InvalidEndpointUrl(ValueError):
    """The URL is not one the hub will deliver to."""


def check_url(raw: str, *, allow_private: bool) -> str:
    """The URL as stored (fragment dropped); raises :class:`InvalidEndpointUrl`."""
    try:
        url = URL(raw.strip())
    except (ValueError, TypeError):
        raise InvalidEndpointUrl("not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise InvalidEndpointUrl("expected an absolute http:// or https:// URL")
    if url.user is not None or url.password is not None:
        raise InvalidEndpointUrl("URLs with a user name or password are not allowed")
    if not allow_private:
        host = url.raw_host.rstrip(".").lower()
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        if (address is not None and is_disallowed_address(address)) or (
            host in _LOCAL_NAMES or host.endswith(".localhost")
        ):
            raise InvalidEndpointUrl(
                "the host is a private, loopback or otherwise non-public address"
            )
    return str(url.with_fragment(None))


def _event_types(value: list[EventType]) -> list[EventType]:
    return sorted(set(value))


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(min_length=1, max_length=2048)
    event_types: list[EventType] = Field(min_length=1, max_length=len(EventType))

    _unique = field_validator("event_types")(_event_types)


def _non_null_fields(schema: dict[str, Any]) -> None:
    """The patch's schema: at least one field, none of them null (a field left out is kept)."""
    schema["minProperties"] = 1
    for prop in schema.get("properties", {}).values():
        options = prop.pop("anyOf", None)
        if options is not None:
            prop.update(*(o for o in options if o != {"type": "null"}))
        prop.pop("default", None)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_non_null_fields
    )

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[EventType] | None = Field(
        default=None, min_length=1, max_length=len(EventType)
    )
    enabled: bool | None = None

    @field_validator("url", "event_types", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null; leave the field out to keep it")
        return value

    @field_validator("event_types")
    @classmethod
    def _unique(cls, value: list[EventType] | None) -> list[EventType] | None:
        return None if value is None else _event_types(value)

    @model_validator(mode="after")
    def _something(self) -> EndpointPatch:
        if self.url is None and self.event_types is None and self.enabled is None:
            raise ValueError("expected at least one of url, event_types, enabled")
        return self


class EndpointOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=row.id,
            url=row.url,
            event_types=list(row.event_types or []),
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            consecutive_failures=row.consecutive_failures,
            failing_since=row.failing_since,
            created_at=row.created_at,
        )


async def _row(session: AsyncSession, merchant_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    return (
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.merchant_id == merchant_id
            )
        )
    ).one_or_none()


async def create_endpoint(
    session: AsyncSession, vault: Vault, merchant_id: int, body: EndpointIn, *, allow_private: bool
) -> tuple[EndpointOut, str]:
    """The new endpoint and its signing secret (the only time the secret is returned)."""
    url = check_url(body.url, allow_private=allow_private)
    secret = new_secret("whsec_")
    row = WebhookEndpoint(
        merchant_id=merchant_id,
        url=url,
        secret_encrypted=vault.encrypt(secret),
        event_types=[t.value for t in body.event_types],
        enabled=True,
        consecutive_failures=0,
    )
    session.add(row)
    await session.commit()
    return EndpointOut.of(row), secret


async def list_endpoints(
    session: AsyncSession, merchant_id: int, *, limit: int, before_id: int | None = None
) -> list[EndpointOut]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id)
    if before_id is not None:
        query = query.where(WebhookEndpoint.id < before_id)
    rows = (await session.scalars(query.order_by(WebhookEndpoint.id.desc()).limit(limit))).all()
    return [EndpointOut.of(r) for r in rows]


async def get_endpoint(
    session: AsyncSession, merchant_id: int, endpoint_id: int
) -> EndpointOut | None:
    row = await _row(session, merchant_id, endpoint_id)
    return None if row is None else EndpointOut.of(row)


async def update_endpoint(
    session: AsyncSession,
    merchant_id: int,
    endpoint_id: int,
    patch: EndpointPatch,
    *,
    allow_private: bool,
) -> EndpointOut | None:
    """Apply ``patch``; enabling an endpoint forgets its failures. None if not found."""
    row = await _row(session, merchant_id, endpoint_id)
    if row is None:
        return None
    if patch.url is not None:
        row.url = check_url(patch.url, allow_private=allow_private)
    if patch.event_types is not None:
        row.event_types = [t.value for t in patch.event_types]
    if patch.enabled is True and not row.enabled:
        row.enabled = True
        row.disabled_reason = None
        row.consecutive_failures = 0
        row.failing_since = None
    elif patch.enabled is False and row.enabled:
        row.enabled = False
        row.disabled_reason = "disabled through the API"
    await session.commit()
    return EndpointOut.of(row)


async def delete_endpoint(session: AsyncSession, merchant_id: int, endpoint_id: int) -> bool:
    """Delete the endpoint and its delivery log; False if not found."""
    result = await session.execute(
        delete(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.merchant_id == merchant_id
        )
    )
    await session.commit()
    return bool(getattr(result, "rowcount", 0))
