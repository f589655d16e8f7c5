"""Connectors by kind. Every public module of the `connectors` package is imported on first
use, and each channel module registers its connector class with `@register`; adding a channel
is adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

__all__ = ["get", "kinds", "register"]

from connectors.base import Connector

_C = TypeVar("_C", bound=type[Connector[Any]])
_REGISTRY: dict[str, Connector[Any]] = {}
_loaded = False


def register(cls: _C) -> _C:
    """Class decorator: make `cls` (a `Connector` subclass) available as ``get(cls.kind)``."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} has no kind")
    existing = _REGISTRY.get(kind)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(f"connector kind {kind!r} is already registered")
    _REGISTRY[kind] = cls()
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    import connectors

    for info in pkgutil.iter_modules(connectors.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"connectors.{info.name}")
    _loaded = True


def get(kind: str) -> Connector[Any]:
    """The connector registered for `kind`; KeyError names the known kinds."""
    _load()
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise KeyError(f"unknown channel kind {kind!r}; known: {', '.join(kinds())}") from None


def kinds() -> tuple[str, ...]:
    """Every registered kind, sorted."""
    _load()
    return tuple(sorted(_REGISTRY))
