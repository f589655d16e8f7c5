"""The web app: API, health, edge and dashboard. Only ``hub.cli`` imports it."""

from __future__ import annotations

from hub.web.app import create_app

__all__ = ["create_app"]
