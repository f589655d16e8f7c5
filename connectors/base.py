"""The connector contract. A channel is one module with one `Connector` subclass decorated with
`connectors.registry.register`; nothing else changes when a channel is added.

A subclass declares, as class data:

- `kind`: the registry key (``"telegram"``), `limits`: its `ChannelLimits`,
- `config_model`: a `ConnectorConfig` subclass (secrets as `SecretStr`),
- `errors`: its error table (``int`` HTTP status or ``str`` channel code → `ErrorKind`),
- `default_template`: the post template a merchant may override (see `connectors._template`),

and implements `render` (pure), `publish`, `delete` and `check_credentials` (async, one
`aiohttp.ClientSession` handed in by the caller). Connectors never sleep or retry; failures
are raised as `connectors.errors` exceptions.

Channels that upload the product image download it under `Connector.media` (public hosts
only by default); the hub hands its operator's `MediaPolicy` in with `with_media`.
"""

from __future__ import annotations

import copy
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors._http import ErrorTable, timeout
from connectors._media import MediaPolicy
from connectors._template import Composed, card_fields, compose, dialect_for, parse
from connectors._text import measure
from connectors.card import Card, PublishResult, RenderedPost
from connectors.limits import ChannelLimits

__all__ = ["ConfigT", "Connector", "ConnectorConfig", "config_to_dict", "secret_matching"]


class ConnectorConfig(BaseModel):
    """Settings common to every channel account. Subclasses add credentials and destination.

    `base_url` overrides the channel's production endpoint (contract servers, proxies,
    self-hosted instances). Secrets are `SecretStr`: masked in ``repr``, ``str`` and JSON dumps.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str | None = Field(default=None, pattern=r"^https?://")
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120)
    read_timeout_s: float = Field(default=60.0, gt=0, le=600)


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)


def secret_matching(value: SecretStr, pattern: re.Pattern[str], expected: str) -> SecretStr:
    """Validate a secret's shape without ever putting the secret in the error message."""
    if not pattern.fullmatch(value.get_secret_value()):
        raise ValueError(f"expected {expected}")
    return value


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(item) for item in value]
    return value


def config_to_dict(config: ConnectorConfig) -> dict[str, Any]:
    """A config as plain data *with secrets revealed*, for encrypted storage only.

    ``config_model.model_validate(config_to_dict(c)) == c`` for every connector.
    """
    return cast(dict[str, Any], _reveal(config.model_dump(mode="python")))


class Connector(ABC, Generic[ConfigT]):
    """Base class of every channel connector; instances are stateless and shared."""

    kind: ClassVar[str]
    limits: ClassVar[ChannelLimits]
    config_model: ClassVar[type[ConnectorConfig]]
    errors: ClassVar[ErrorTable]
    default_template: ClassVar[str] = "$title\n\n$description\n\n$price\n$tags\n$link"
    # How product images are downloaded; an instance's own is set by `with_media`.
    media: MediaPolicy = MediaPolicy()

    # --- to implement -------------------------------------------------------------------

    @abstractmethod
    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        """The post for `card` with the tracked `link`, within `limits`. Pure: no I/O.
        `template` overrides `default_template`; a bad template raises ValueError."""

    @abstractmethod
    async def publish(
        self,
        post: RenderedPost,
        config: ConfigT,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        """Send `post`. `idempotency_key` (stable per share target) is passed to the channel
        when `limits.has_idempotency_key`, so a resend never posts twice."""

    @abstractmethod
    async def delete(self, remote_id: str, config: ConfigT, session: aiohttp.ClientSession) -> None:
        """Retract a published post by `PublishResult.remote_id`. A post that is already
        gone counts as deleted. Raises PermanentError ``delete_unsupported`` when the
        channel cannot retract (`limits.can_delete` is false)."""

    @abstractmethod
    async def check_credentials(self, config: ConfigT, session: aiohttp.ClientSession) -> None:
        """Return when the account's credentials work; raise AuthExpired/Misconfigured/…"""

    # --- shared helpers -----------------------------------------------------------------

    def render_for(
        self, config: ConfigT, card: Card, link: str, template: str | None = None
    ) -> RenderedPost:
        """`render` for one account. A connector whose limits depend on the account (a
        Mastodon instance's own character limit) overrides it; the others render as usual."""
        return self.render(card, link, template)

    def with_media(self, media: MediaPolicy) -> Self:
        """This connector downloading product images under `media` (the hub's settings)."""
        bound = copy.copy(self)
        bound.media = media
        return bound

    def parse_config(self, data: Mapping[str, Any]) -> ConfigT:
        """Validate stored or submitted settings into this connector's config model."""
        return cast(ConfigT, self.config_model.model_validate(dict(data)))

    def base_url(self, config: ConfigT) -> str:
        return (config.base_url or self.limits.base_url).rstrip("/")

    def client_timeout(self, config: ConfigT) -> aiohttp.ClientTimeout:
        return timeout(config.connect_timeout_s, config.read_timeout_s)

    def app_key(self, config: ConfigT) -> str | None:
        """The application ``config`` posts through, when the channel counts some limits per
        application for all its accounts (X's app-wide 24-hour counter): a stable name that
        holds no secret. None when the channel has no such limits or the config names no app."""
        return None

    def check_template(self, template: str) -> None:
        """Raise ValueError when a merchant's template is not usable for this channel."""
        parse(template)

    def compose_text(
        self,
        card: Card,
        link: str,
        template: str | None,
        *,
        budget: int,
        count_marked: bool = False,
    ) -> Composed:
        """Fill the template for `card` within `budget` units of `limits.text_unit`.

        The channel counts the plain text (markup stripped) unless `count_marked`, when it
        counts the text as typed (Slack).
        """
        limits = self.limits

        def count(composed: Composed) -> int:
            text = composed.marked if count_marked else composed.plain
            return measure(text, limits.text_unit, limits.url_length)

        return compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=dialect_for(limits.markup),
            budget=budget,
            count=count,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r}>"
