"""Who is asking: a link-preview crawler, another bot, or a person.

Three tables, checked in this order, the answer cached per user-agent string:

1. :data:`PREVIEW_BOTS` — the fetchers that draw link cards in chats and feeds (Facebook, X,
   Telegram, Slack, Discord, WhatsApp, LinkedIn, Mastodon and other fediverse servers,
   Matrix/Synapse, WeChat, Weibo...). They get the card page and count as previews.
2. :data:`MAYBE_PREVIEW` — WeChat and WeCom (``MicroMessenger``, ``wxwork``): their card
   fetcher and their in-app browser send the same user agent. Without a visitor cookie and
   without a ``Referer`` the edge answers with the card page, a cookie and an immediate
   refresh to the same link: a fetcher reads the card (a preview), a person's browser comes
   back with the cookie and is redirected (a click). With either, it is a person.
3. :data:`IN_APP_BROWSERS` — people inside an app's own browser (Facebook's FBAN, Instagram,
   Line, Weibo, DingTalk...): people, whatever else matches.
4. :data:`EXTRA_BOTS` and the maintained data set of the ``crawler-user-agents`` package
   (one of the most used crawler lists, updated every few weeks): any match is another bot.

Anything else is a person. An empty user agent is a bot. The cache is bounded; a flood of
unique user agents only costs the miss (about 50 µs) per new string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import crawleruseragents

__all__ = [
    "EXTRA_BOTS",
    "IN_APP_BROWSERS",
    "MAYBE_PREVIEW",
    "PREVIEW_BOTS",
    "Agent",
    "AgentKind",
    "Classifier",
    "classify",
]


class AgentKind(Enum):
    PERSON = "person"
    BOT = "bot"
    PREVIEW = "preview"
    # WeChat/WeCom: its card fetcher and its in-app browser send the same user agent.
    MAYBE_PREVIEW = "maybe_preview"


@dataclass(frozen=True, slots=True)
class Agent:
    kind: AgentKind
    # The crawler's short name for previews ("facebook", "mastodon"...); "" otherwise.
    name: str = ""


# (name, pattern) — the first match names the crawler. Patterns are case-insensitive.
PREVIEW_BOTS: tuple[tuple[str, str], ...] = (
    # Apple's iMessage announces itself as all three; it previews.
    ("facebook", r"facebookexternalhit|facebookcatalog|\bFacebot\b|meta-externalagent"),
    # Before X: Telegram says "(like TwitterBot)".
    ("telegram", r"\bTelegramBot\b"),
    ("x", r"\bTwitterbot\b"),
    ("slack", r"Slackbot-LinkExpanding|Slack-ImgProxy|Slackbot 1\.0"),
    ("discord", r"\bDiscordbot\b"),
    ("whatsapp", r"^WhatsApp/"),
    ("linkedin", r"\bLinkedInBot\b"),
    ("mastodon", r"\bMastodon/\d"),
    ("fediverse", r"\b(?:Pleroma|Akkoma|Misskey|Sharkey|Friendica|GoToSocial|Pixelfed)\b"),
    ("bluesky", r"\bCardyb\b"),
    ("matrix", r"\bSynapse\b.*matrix-org|^Synapse/|matrix-media-repo"),
    ("skype", r"SkypeUriPreview"),
    ("teams", r"MicrosoftPreview|TeamsBot"),
    ("google-chat", r"Google-PageRenderer|GoogleDocs|Google-Read-Aloud"),
    ("pinterest", r"Pinterest(?:bot)?/"),
    ("reddit", r"\bredditbot\b"),
    ("snapchat", r"Snap URL Preview Service|Snapchat/\S+ \(preview\)"),
    ("vk", r"\bvkShare\b"),
    ("viber", r"^Viber/"),
    ("line", r"\bLine-?Bot\b|\bLINE-?Parts\b|^LINE\s*\("),
    ("kakaotalk", r"\bkakaotalk-scrap\b"),
    ("embedly", r"\bEmbedly\b"),
    ("iframely", r"\bIframely\b"),
    ("zalo", r"\bZalo(?:Bot|PC)?\b.*preview|zalo-preview"),
    ("nextcloud", r"Nextcloud Server Crawler"),
    ("wechat", r"\bWeChat-?(?:Bot|Spider)\b|\bwxbot\b|Weixin-?(?:Bot|Spider)"),
    ("qq", r"\bQQ-?(?:URL-?Manager|Bot)\b|\bTencentTraveler\b.*preview"),
    # DingTalkBot-LinkService/1.0 (+https://open-doc.dingtalk.com/...), also inside Chrome UAs.
    ("dingtalk", r"DingTalkBot|DingTalk-?LinkService"),
    ("feishu", r"\bLark-?(?:Bot|LinkPreview)\b|Feishu-?(?:Bot|LinkPreview)"),
)

# WeChat and WeCom: a person in the in-app browser, or the chat's card fetcher (same UA).
MAYBE_PREVIEW = r"MicroMessenger|\bwxwork/"

# Bots the data set lacks (Weibo's spider: /work/notes/china-crawlers.md, not a card fetcher).
EXTRA_BOTS = r"Weibo ?spider|SinaWeiboBot|\bWeiboBot\b"

IN_APP_BROWSERS: tuple[str, ...] = (
    r"\[FB(?:AN|AV)/|\bFBAN/|\bFB_IAB/",  # Facebook, Messenger
    r"\bInstagram \d",
    r"\bLine/\d",
    r"__weibo__",
    r"\bDingTalk/",
    r"\bLinkedInApp\b",
    r"Twitter for (?:iPhone|Android)",
    r"\bQQ/\d|\bMQQBrowser/",
    r"\bTelegram-Android/|\bTelegram/\d",
    r"\bSnapchat/\d+\S* \((?!preview)",
    r"\bBytedanceWebview\b|\bmusical_ly\b|\bTikTok\b",
    r"\bLark/\d|\bFeishu/\d",
    r"\bPinterest for (?:iOS|Android)",
)

_PREVIEW = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in PREVIEW_BOTS]
_IN_APP = re.compile("|".join(IN_APP_BROWSERS))
_MAYBE = re.compile(MAYBE_PREVIEW, re.IGNORECASE)
_EXTRA_BOTS = re.compile(EXTRA_BOTS, re.IGNORECASE)
_BOT = Agent(AgentKind.BOT)
_PERSON = Agent(AgentKind.PERSON)
_WECHAT = Agent(AgentKind.MAYBE_PREVIEW, "wechat")


def classify(user_agent: str) -> Agent:
    """Uncached: which of preview crawler, other bot or person sent ``user_agent``."""
    if not user_agent.strip():
        return _BOT
    for name, pattern in _PREVIEW:
        if pattern.search(user_agent):
            return Agent(AgentKind.PREVIEW, name)
    if _MAYBE.search(user_agent):
        return _WECHAT
    if _IN_APP.search(user_agent):
        return _PERSON
    if _EXTRA_BOTS.search(user_agent) or crawleruseragents.is_crawler(user_agent):
        return _BOT
    return _PERSON


class Classifier:
    """:func:`classify` behind a bounded dict: a hit is one dict lookup."""

    __slots__ = ("_cache", "_max")

    def __init__(self, max_entries: int = 20_000) -> None:
        self._cache: dict[str, Agent] = {}
        self._max = max_entries

    def __call__(self, user_agent: str) -> Agent:
        agent = self._cache.get(user_agent)
        if agent is None:
            agent = classify(user_agent[:1024])
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[user_agent] = agent
        return agent
