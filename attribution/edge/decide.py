"""``decide``: one request's facts in, exactly one outcome out. Pure: no clock, no I/O.

- unknown code → :data:`MISSING` (404 page), whoever asks;
- disabled or expired link → :data:`GONE` (410 page), whoever asks;
- live link, preview crawler → :class:`ShowCard` (200 card page) + a ``Preview`` event;
- live link, other bot → :class:`Redirect` + a ``Click`` marked as bot, no cookie;
- live link, person → :class:`Redirect` + a ``Click``; a visitor id to set as the cookie
  when the request brought no valid one;
- live link, WeChat/WeCom without cookie and referrer → :class:`ShowCard` + a ``Preview``
  + a visitor id: the card page refreshes to the link, so a person comes back with the
  cookie and gets :class:`Redirect` (see :mod:`attribution.edge.agents`).

``HEAD`` gets the same status and ``Location`` but records nothing and sets no cookie:
link checkers and unfurlers probe with it, people never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from attribution.clicks.events import Click, Preview
from attribution.edge.agents import Agent, AgentKind
from attribution.edge.entry import LinkEntry

__all__ = ["GONE", "MISSING", "Gone", "Missing", "Outcome", "Redirect", "ShowCard", "decide"]


@dataclass(frozen=True, slots=True)
class Missing:
    event: None = None


@dataclass(frozen=True, slots=True)
class Gone:
    event: None = None


# The two outcomes made per request are NamedTuples, not frozen dataclasses: one is built per
# redirect, and a frozen dataclass costs several times more to build. Tell them apart by type.
class ShowCard(NamedTuple):
    entry: LinkEntry
    event: Preview | None
    # WeChat without cookie or referrer: also set this visitor id and refresh to the link.
    new_visitor_id: str | None = None


class Redirect(NamedTuple):
    location: str
    event: Click | None
    # A visitor id to set as the cookie (a person without a valid one), else None.
    new_visitor_id: str | None


Outcome = Missing | Gone | ShowCard | Redirect
MISSING = Missing()
GONE = Gone()


def decide(
    entry: LinkEntry | None,
    agent: Agent,
    *,
    now: float,
    head: bool,
    visitor_id: str | None,
    fresh_id: str,
    click_id: str,
    ip: str | None,
    user_agent: str,
    referrer: str | None,
) -> Outcome:
    """The outcome of one request.

    ``visitor_id`` is the valid cookie value or None; ``fresh_id`` becomes the visitor id of
    a person who has none; ``click_id`` is new for this request.
    """
    if entry is None:
        return MISSING
    expires_at = entry.expires_at  # LinkEntry.live, inlined: this runs per request
    if not entry.enabled or (expires_at is not None and now >= expires_at):
        return GONE
    kind = agent.kind
    if kind is AgentKind.MAYBE_PREVIEW:
        if visitor_id is None and not referrer:
            event = None if head else Preview(entry.link_id, agent.name, now)
            return ShowCard(entry, event, None if head else fresh_id)
        kind = AgentKind.PERSON
    if kind is AgentKind.PREVIEW:
        return ShowCard(entry, None if head else Preview(entry.link_id, agent.name, now))
    location = entry.location_prefix + click_id + entry.location_suffix
    if head:
        return Redirect(location, None, None)
    if kind is AgentKind.BOT:
        click = Click(
            click_id, entry.link_id, entry.merchant_id, None, now, True, ip, user_agent, referrer
        )
        return Redirect(location, click, None)
    new_visitor = None
    if visitor_id is None:
        visitor_id = new_visitor = fresh_id
    click = Click(
        click_id,
        entry.link_id,
        entry.merchant_id,
        visitor_id,
        now,
        False,
        ip,
        user_agent,
        referrer,
    )
    return Redirect(location, click, new_visitor)
