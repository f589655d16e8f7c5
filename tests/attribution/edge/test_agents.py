"""Who is asking, for a table of real user agents."""

from __future__ import annotations

import pytest

import attribution.edge
from attribution.edge import AgentKind, Classifier, classify

P, B, V = AgentKind.PERSON, AgentKind.BOT, AgentKind.PREVIEW
W = AgentKind.MAYBE_PREVIEW
W = AgentKind.MAYBE_PREVIEW

TABLE: list[tuple[str, AgentKind, str]] = [
    # link-preview crawlers
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", V, "facebook"),
    ("Mozilla/5.0 (compatible; Facebot/1.0)", V, "facebook"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
        "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        V,
        "facebook",
    ),
    ("Twitterbot/1.0", V, "x"),
    ("TelegramBot (like TwitterBot)", V, "telegram"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", V, "slack"),
    ("Slack-ImgProxy (+https://api.slack.com/robots)", V, "slack"),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", V, "discord"),
    ("WhatsApp/2.23.20.0 A", V, "whatsapp"),
    ("WhatsApp/2.2329.9 i", V, "whatsapp"),
    (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        V,
        "linkedin",
    ),
    ("http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/) Bot", V, "mastodon"),
    ("http.rb/4.4.1 (Mastodon/3.5.3; +https://fosstodon.org/)", V, "mastodon"),
    ("Synapse (bot; +https://github.com/matrix-org/synapse)", V, "matrix"),
    ("Mozilla/5.0 (compatible; Akkoma 3.10.4; https://akkoma.example; Bot)", V, "fediverse"),
    ("Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)", V, "bluesky"),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", V, "skype"),
    (
        "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
        V,
        "pinterest",
    ),
    ("Viber/20.5.0 CFNetwork/1408.0.4 Darwin/22.5.0", V, "viber"),
    ("Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)", V, "vk"),
    (
        "DingTalkBot-LinkService/1.0 (+https://open-doc.dingtalk.com/microapp/faquestions/ftpfeu)",
        V,
        "dingtalk",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0 Safari/537.36 DingTalkBot-LinkService/1.0",
        V,
        "dingtalk",
    ),
    # other bots
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", B, ""),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", B, ""),
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", B, ""),
    ("Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)", B, ""),
    ("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", B, ""),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", B, ""),
    ("Mozilla/5.0 (compatible; Weibo spider)", B, ""),
    ("curl/8.4.0", B, ""),
    ("python-requests/2.31.0", B, ""),
    ("Go-http-client/1.1", B, ""),
    ("", B, ""),
    ("   ", B, ""),
    # people, in browsers and in apps' own browsers
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        P,
        "",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        P,
        "",
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", P, ""),
    (
        "Mozilla/5.0 (Linux; Android 13; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
        "Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MMWEBID/2247 "
        "MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN "
        "ABI/arm64",
        W,
        "wechat",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 MicroMessenger/8.0.40(0x1800282c) NetType/WIFI Language/zh_CN",
        W,
        "wechat",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "wxwork/4.1.10 (MicroMessenger/6.2) WindowsWechat",
        W,
        "wechat",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,2;FBMD/iPhone;FBSN/iOS;FBAV/400.0.0]",
        P,
        "",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
        "Chrome/116.0 Mobile Safari/537.36 Instagram 300.0.0.29.110 Android",
        P,
        "",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 Weibo (iPhone14,2__weibo__13.6.0__iphone__os16.0)",
        P,
        "",
    ),
    (
        "Mozilla/5.0 (Linux; Android 12; wv) AppleWebKit/537.36 Chrome/107 Mobile Safari/537.36 "
        "Line/13.1.0",
        P,
        "",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 DingTalk/7.0.40",
        P,
        "",
    ),
]


@pytest.mark.parametrize(("user_agent", "kind", "name"), TABLE)
def test_real_user_agents(user_agent: str, kind: AgentKind, name: str) -> None:
    agent = classify(user_agent)
    assert (agent.kind, agent.name) == (kind, name)


def test_cached_classifier_agrees_and_stays_bounded() -> None:
    classifier = Classifier(max_entries=8)
    for user_agent, kind, _ in TABLE * 2:
        assert classifier(user_agent).kind is kind
    assert len(classifier._cache) <= 8


def test_public_names() -> None:
    for name in attribution.edge.__all__:
        assert hasattr(attribution.edge, name), name
