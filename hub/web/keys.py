"""Typed application and request state of the web app."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from attribution.edge import EDGE
from hub.config import Settings
from hub.security import Vault
from hub.storage.db import SessionFactory
from hub.tasks.dispatch import TaskQueue
from hub.tenancy import Principal

__all__ = [
    "EDGE",
    "ENGINE",
    "HTTP",
    "OPENAPI",
    "PRINCIPAL",
    "REDIS",
    "REQUEST_ID",
    "SESSIONS",
    "SETTINGS",
    "TASKS",
    "VAULT",
]

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", SessionFactory)
VAULT = web.AppKey("vault", Vault)
REDIS = web.AppKey("redis", Redis)
TASKS = web.AppKey("tasks", TaskQueue)
HTTP = web.AppKey("http", aiohttp.ClientSession)
OPENAPI = web.AppKey("openapi", dict)

PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
