"""The package's public names are pinned, and connectors import nothing of the hub."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import connectors

ALLOWED_THIRD_PARTY = {
    "aiohttp",
    "pydantic",
    "regex",
    "babel",
    "aiosmtplib",  # email: the SMTP client
    "feedgen",  # rss: Atom/RSS generation
    "pyshorteners",  # _shorten: optional external shortener
    "oauthlib",  # x: OAuth 1.0a request signing
    "yarl",  # netguard, _media: aiohttp's own URL type (an aiohttp dependency)
}


def test_public_names_are_pinned() -> None:
    assert connectors.__all__ == [
        "AuthExpired",
        "Card",
        "ChannelLimits",
        "Connector",
        "ConnectorConfig",
        "ConnectorError",
        "ErrorKind",
        "FreshToken",
        "Markup",
        "MediaPolicy",
        "MemoryTokenStore",
        "Misconfigured",
        "OutcomeUnknown",
        "PermanentError",
        "PublishResult",
        "QuotaExhausted",
        "Rate",
        "RateLimited",
        "RateScope",
        "RenderedPost",
        "TextUnit",
        "TokenStore",
        "TransientError",
        "config_to_dict",
        "get",
        "kinds",
        "register",
        "shorten",
    ]
    for name in connectors.__all__:
        assert getattr(connectors, name).__module__.startswith("connectors")


def test_connectors_import_only_stdlib_aiohttp_pydantic_and_themselves() -> None:
    package = Path(connectors.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert (
                    top == "connectors"
                    or top in sys.stdlib_module_names
                    or top in ALLOWED_THIRD_PARTY
                ), f"{path.name} imports {name}"
