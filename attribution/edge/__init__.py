"""The attribution edge: ``GET /{code}`` → resolve → classify → decide → sink → respond."""

from __future__ import annotations

from attribution.edge.agents import Agent, AgentKind, Classifier, classify
from attribution.edge.cache import LinkCache, redis_key
from attribution.edge.decide import (
    GONE,
    MISSING,
    Gone,
    Missing,
    Outcome,
    Redirect,
    ShowCard,
    decide,
)
from attribution.edge.entry import Card, LinkEntry, Resolver, make_entry
from attribution.edge.http import (
    CODE_PATTERN,
    EDGE,
    ClickSink,
    Edge,
    add_edge_routes,
    edge_first,
    outside_edge,
)
from attribution.edge.ids import IpMasker, new_id, read_cookie
from attribution.edge.page import card_page

__all__ = [
    "CODE_PATTERN",
    "EDGE",
    "GONE",
    "MISSING",
    "Agent",
    "AgentKind",
    "Card",
    "Classifier",
    "ClickSink",
    "Edge",
    "Gone",
    "LinkCache",
    "LinkEntry",
    "Missing",
    "Outcome",
    "Redirect",
    "Resolver",
    "ShowCard",
    "IpMasker",
    "add_edge_routes",
    "card_page",
    "edge_first",
    "classify",
    "decide",
    "make_entry",
    "new_id",
    "outside_edge",
    "read_cookie",
    "redis_key",
]
