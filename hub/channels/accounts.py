"""Channel accounts of a merchant: where its cards are posted, with their credentials at rest.

A submitted ``config`` is validated by the connector's own ``config_model``. Its secret fields
(``SecretStr``) are split off and encrypted with the `Vault` into
``channel_accounts.credentials_encrypted``; the other fields go to ``settings`` (returned by
the API) together with the account's policy overrides under the reserved key ``policy``.
Credentials never leave this module except as a connector config handed to a connector, and
they are never logged or echoed: the API shows only the *names* of the secret fields.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import connectors
from connectors import (
    Connector,
    ConnectorConfig,
    ConnectorError,
    MediaPolicy,
    TokenStore,
    config_to_dict,
)
from hub.channels.tokens import bind_token_store
from hub.config import PolicyRules
from hub.security import Vault
from hub.storage.models import ChannelAccount

__all__ = [
    "AccountConfig",
    "ChannelIn",
    "ChannelOut",
    "ChannelPatch",
    "CheckOut",
    "DuplicateChannel",
    "InvalidChannel",
    "account_config",
    "check_account",
    "create_account",
    "delete_account",
    "get_account",
    "list_accounts",
    "update_account",
]

log = structlog.get_logger("hub.channels")

POLICY_KEY = "policy"
_MASK = str(SecretStr("x"))  # how pydantic shows a secret in a dump
_NAME = Field(min_length=1, max_length=200)


class InvalidChannel(ValueError):
    """The kind is unknown or the config or policy does not validate; `fields` says where."""

    def __init__(self, message: str, fields: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or []


class DuplicateChannel(ValueError):
    """The merchant already has an account of this kind with this name."""


def _kinds_enum(schema: dict[str, Any]) -> None:
    """``kind`` in the schema: one of the registered connectors, read when it is generated."""
    schema["enum"] = list(connectors.kinds())


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # An unknown kind is refused with 422 by `create_account` (the field ``kind``).
    kind: str = Field(min_length=1, max_length=40, json_schema_extra=_kinds_enum)
    name: str = _NAME
    config: dict[str, Any]
    policy: dict[str, Any] = Field(default_factory=dict)


class ChannelPatch(BaseModel):
    """Partial update: `config` keys replace stored ones (a secret left out is kept)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    status: str | None = Field(default=None, pattern=r"^(active|disabled)$")


class ChannelOut(BaseModel):
    id: int
    kind: str
    name: str
    settings: dict[str, Any]
    policy: dict[str, Any]
    secret_fields: list[str]
    status: str
    status_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: ChannelAccount, secret_fields: list[str]) -> ChannelOut:
        stored = dict(row.settings or {})
        policy = stored.pop(POLICY_KEY, None) or {}
        return cls(
            id=row.id,
            kind=row.kind,
            name=row.name,
            settings=stored,
            policy=policy,
            secret_fields=secret_fields,
            status=row.status,
            status_reason=row.status_reason,
            created_at=row.created_at,
        )


class CheckOut(BaseModel):
    ok: bool
    status: str
    error: str | None = None
    message: str | None = None


class AccountConfig(BaseModel):
    """An account ready to publish: its connector, parsed config and policy overrides."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    account_id: int
    merchant_id: int
    kind: str
    connector: Connector[Any]
    config: ConnectorConfig
    policy: dict[str, Any]

    def __repr__(self) -> str:  # the config masks its secrets; say so explicitly anyway
        return f"AccountConfig(account_id={self.account_id}, kind={self.kind!r})"


def _connector(kind: str) -> Connector[Any]:
    try:
        return connectors.get(kind)
    except KeyError:
        raise InvalidChannel(
            f"unknown channel kind {kind!r}",
            [
                {
                    "field": "kind",
                    "message": f"one of {', '.join(connectors.kinds())}",
                    "type": "enum",
                }
            ],
        ) from None


def _parse(connector: Connector[Any], data: dict[str, Any]) -> ConnectorConfig:
    if POLICY_KEY in data:
        raise InvalidChannel("config: 'policy' is set beside config, not inside it")
    try:
        config: ConnectorConfig = connector.parse_config(data)
        return config
    except ValidationError as exc:
        fields = [
            {
                "field": "config." + ".".join(str(p) for p in e["loc"]),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise InvalidChannel("config is invalid for this channel kind", fields) from None


def _check_policy(kind: str, policy: dict[str, Any]) -> dict[str, Any]:
    try:
        PolicyRules.model_validate(policy)
    except ValidationError as exc:
        fields = [
            {
                "field": "policy." + ".".join(str(p) for p in e["loc"]),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise InvalidChannel("policy is invalid", fields) from None
    return dict(policy)


def _split(config: ConnectorConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(non-secret settings as JSON data, secret fields revealed)."""
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    dumped = config.model_dump(mode="json")
    revealed = config_to_dict(config)
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            secret[name] = value.get_secret_value()
        elif _MASK in json.dumps(dumped[name]):  # a structure holding secrets: all of it
            secret[name] = revealed[name]
        else:
            public[name] = dumped[name]
    return public, secret


def _secret_names(vault: Vault, row: ChannelAccount) -> list[str]:
    return (
        sorted(vault.decrypt_json(row.credentials_encrypted)) if row.credentials_encrypted else []
    )


async def create_account(
    session: AsyncSession, vault: Vault, merchant_id: int, data: ChannelIn
) -> ChannelOut:
    connector = _connector(data.kind)
    config = _parse(connector, data.config)
    policy = _check_policy(data.kind, data.policy)
    public, secret = _split(config)
    row = ChannelAccount(
        merchant_id=merchant_id,
        kind=data.kind,
        name=data.name,
        settings={**public, POLICY_KEY: policy} if policy else public,
        credentials_encrypted=vault.encrypt_json(secret) if secret else "",
        status="active",
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise DuplicateChannel(f"a {data.kind} account named {data.name!r} exists") from None
    log.info("channel_created", channel_account_id=row.id, kind=row.kind)
    return ChannelOut.of(row, sorted(secret))


async def _row(session: AsyncSession, merchant_id: int, account_id: int) -> ChannelAccount | None:
    return await session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.id == account_id, ChannelAccount.merchant_id == merchant_id
        )
    )


async def get_account(
    session: AsyncSession, vault: Vault, merchant_id: int, account_id: int
) -> ChannelOut | None:
    row = await _row(session, merchant_id, account_id)
    return ChannelOut.of(row, _secret_names(vault, row)) if row is not None else None


async def list_accounts(
    session: AsyncSession, vault: Vault, merchant_id: int, *, limit: int, before_id: int | None
) -> list[ChannelOut]:
    query = select(ChannelAccount).where(ChannelAccount.merchant_id == merchant_id)
    if before_id is not None:
        query = query.where(ChannelAccount.id < before_id)
    rows = await session.scalars(query.order_by(ChannelAccount.id.desc()).limit(limit))
    return [ChannelOut.of(r, _secret_names(vault, r)) for r in rows]


async def update_account(
    session: AsyncSession, vault: Vault, merchant_id: int, account_id: int, data: ChannelPatch
) -> ChannelOut | None:
    row = await _row(session, merchant_id, account_id)
    if row is None:
        return None
    stored = dict(row.settings or {})
    policy = stored.pop(POLICY_KEY, None) or {}
    if data.config is not None:
        current = {**stored, **vault.decrypt_json(row.credentials_encrypted)}
        config = _parse(_connector(row.kind), {**current, **data.config})
        stored, secret = _split(config)
        row.credentials_encrypted = vault.encrypt_json(secret) if secret else ""
        if row.status == "needs_reauth":
            row.status_reason = "credentials changed; run the check to resume"
    if data.policy is not None:
        policy = _check_policy(row.kind, data.policy)
    row.settings = {**stored, POLICY_KEY: policy} if policy else stored
    if data.name is not None:
        row.name = data.name
    if data.status is not None:
        row.status = data.status
        row.status_reason = None
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise DuplicateChannel(f"a {row.kind} account named {data.name!r} exists") from None
    return ChannelOut.of(row, _secret_names(vault, row))


async def delete_account(session: AsyncSession, merchant_id: int, account_id: int) -> bool:
    row = await _row(session, merchant_id, account_id)
    if row is None:
        return False
    await session.delete(row)
    await session.commit()
    log.info("channel_deleted", channel_account_id=account_id)
    return True


def account_config(
    vault: Vault,
    row: ChannelAccount,
    *,
    media: MediaPolicy | None = None,
    tokens: TokenStore | None = None,
) -> AccountConfig:
    """The connector and its config (secrets decrypted) for a stored account.

    `media` is the hub's rule for downloading product images (the connector's safe default
    when ``None``); `tokens` is the store of access tokens shared by every worker, handed to
    connectors that keep tokens (each process keeps its own when ``None``).
    """
    connector = connectors.get(row.kind)
    if media is not None:
        connector = connector.with_media(media)
    if tokens is not None:
        connector = bind_token_store(connector, tokens)
    stored = dict(row.settings or {})
    policy = stored.pop(POLICY_KEY, None) or {}
    config = connector.parse_config({**stored, **vault.decrypt_json(row.credentials_encrypted)})
    return AccountConfig(
        account_id=row.id,
        merchant_id=row.merchant_id,
        kind=row.kind,
        connector=connector,
        config=config,
        policy=dict(policy),
    )


async def check_account(
    session: AsyncSession,
    vault: Vault,
    http: aiohttp.ClientSession,
    merchant_id: int,
    account_id: int,
) -> CheckOut | None:
    """Ask the channel whether the credentials work; record the account's status."""
    row = await _row(session, merchant_id, account_id)
    if row is None:
        return None
    account = account_config(vault, row)
    try:
        await account.connector.check_credentials(account.config, http)
    except connectors.AuthExpired as exc:
        row.status, row.status_reason = "needs_reauth", exc.message or "credentials refused"
        error: ConnectorError | None = exc
    except connectors.Misconfigured as exc:
        row.status, row.status_reason = "disabled", f"{exc.code}: {exc.message}"
        error = exc
    except ConnectorError as exc:  # transient, rate limited, unknown: say so, keep the status
        error = exc
    else:
        row.status, row.status_reason = "active", None
        error = None
    await session.commit()
    log.info("channel_checked", channel_account_id=row.id, ok=error is None, status=row.status)
    if error is None:
        return CheckOut(ok=True, status=row.status)
    return CheckOut(ok=False, status=row.status, error=type(error).__name__, message=error.message)
