"""Tenant isolation: another merchant's ids get 404 on every route, and nothing of it leaks.

Two merchants, ``alphaqx`` and ``bravoqx``, each get one of every kind of resource through the
API (product, campaign, channel account, draft share with its target and link, tracked link,
webhook endpoint with a delivery, API keys of every scope) and a click and an attributed
conversion through the hooks. The sweep takes the routes from the app's own OpenAPI document
(pinned to the router by ``test_openapi``), so a route added later is swept too: a path
parameter the setup has no value for, or a body route without a valid body below, fails the
test until it is added here.

For every route with an id in its path, every method, every key of bravo and every mix of
alpha's and bravo's ids in the path, the answer must be the one for an id that exists
nowhere (404 ``not_found`` for the admin key, 405 for a method the route does not serve),
show none of alpha's strings, and change no row of the database. The same calls with bravo's
own ids then must get past the lookup, which proves the bodies valid and the paths right.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from attribution.jobs import attribute_conversion
from attribution.reports import DIMENSIONS
from hub.storage.models import AttributionCredit, Base, Conversion, WebhookDelivery
from hub.tenancy import Scope
from hub.webhooks import emit
from tests.attribution.conversions._seed import (
    Channel,
    add_click,
    context_of,
    sessions_of,
    signed,
)
from tests.conftest import ClientFactory, MerchantFactory, bearer, make_settings
from tests.hub.webhooks.test_delivery import PUBLISHED

Client = TestClient[Any, Any]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"\{(\w+)\}")

# Routes whose path parameter is by nature not a merchant's row id.
NOT_PER_MERCHANT = {
    # The edge's tracked redirect: a short code is a public address, followed by anyone.
    "/{code}",
    # The name of a report's dimension (channel, campaign, ...); swept with the lists below.
    "/api/v1/reports/{dimension}",
}
# Path parameters that are not ids: the same value for both merchants.
FIXED = {"fmt": "svg"}
# An id and a code that exist for no merchant: the answer alpha's ids must get.
MISSING = {"code": "nosuchcode7"}
MISSING_ID = "987654321"

# A valid body for every route with a path id that takes one, so that the lookup is what
# answers (an invalid body would be refused with 422 before it).
VALID_BODIES: dict[str, dict[str, Any]] = {
    "PATCH /api/v1/channels/{channel_id}": {"name": "renamed account"},
    "PATCH /api/v1/links/{code}": {"enabled": False},
    "PATCH /api/v1/shares/{share_id}": {"at": "2099-02-01T09:00:00Z"},
    "PATCH /api/v1/webhooks/{endpoint_id}": {"enabled": True},
    "POST /api/v1/shares/{share_id}/targets/{target_id}/confirm": {"published": False},
}
# Query parameters of the lists that name a row, with the path parameter holding that row.
ID_QUERY = {
    "product": "product_id",
    "product_id": "product_id",
    "channel": "channel_id",
    "series": "share_id",
    "share_target_id": "target_id",
}
# The other query parameters of the lists (paging, periods, formats): not references.
NOT_ID_QUERY = {
    "limit",
    "cursor",
    "state",
    "from",
    "to",
    "format",
    "sort",
    "model",
    "models",
    "dimension",
    "currency",
}
# Values for the path parameters of the lists that are not ids.
ENUMERATED = {"dimension": [*DIMENSIONS, *(f"{d}.csv" for d in DIMENSIONS)]}


@dataclass
class World:
    """One merchant with one of everything; ``marks`` are the strings that identify it."""

    tag: str
    merchant: Any
    admin: dict[str, str]
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)
    marks: set[str] = field(default_factory=set)
    click_id: str = ""


@dataclass
class Reply:
    status: int
    text: str
    json: Any


async def call(
    client: Client, method: str, url: str, auth: dict[str, str], body: Any = None
) -> Reply:
    kw: dict[str, Any] = {"headers": auth}
    if body is not None:
        kw["json"] = body
    async with client.request(method, url, **kw) as resp:
        raw = await resp.read()
        text = raw.decode("utf-8", "replace")
        data = await resp.json() if resp.content_type == "application/json" else None
        return Reply(resp.status, text, data)


async def ok(client: Client, method: str, url: str, auth: dict[str, str], body: Any = None) -> Any:
    reply = await call(client, method, url, auth, body)
    assert 200 <= reply.status < 300, (method, url, reply.status, reply.text)
    return reply.json


def assert_no_leak(reply: Reply, world: World, what: str) -> None:
    lowered = reply.text.lower()
    shown = sorted(m for m in world.marks if m.lower() in lowered)
    assert not shown, f"{what}: the answer shows {shown} of {world.tag}: {reply.text[:400]}"


def assert_error(reply: Reply, status: int, what: str) -> None:
    assert reply.status == status, (what, reply.status, reply.text)
    assert isinstance(reply.json, dict) and set(reply.json) == {"error"}, (what, reply.text)
    error = reply.json["error"]
    assert set(error) == {"code", "message", "details"}, (what, reply.text)
    expected = {404: "not_found", 405: "method_not_allowed"}.get(status)
    if expected is not None:
        assert error["code"] == expected, (what, reply.text)


def without(world: World, *echoed: str) -> World:
    """``world`` without strings the caller sent itself: an echo of them is no leak."""
    return World(world.tag, world.merchant, world.admin, marks=world.marks - set(echoed))


def fill(path: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: values[m.group(1)], path)


async def build_world(
    client: Client, new_merchant: MerchantFactory, tag: str, amount: str
) -> World:
    made = await new_merchant(
        client, name=f"{tag} Ceramics", storefront=f"https://{tag}-shop.test/"
    )
    admin = bearer(made.api_key.token)
    world = World(tag, made, admin)
    world.marks |= {tag, made.api_key.token, made.api_key.prefix, made.webhook_secret, amount}
    api = "/api/v1"
    product = await ok(
        client,
        "POST",
        f"{api}/products",
        admin,
        {
            "title": f"{tag} teapot",
            "description": f"Stoneware teapot by {tag}",
            "url": f"https://{tag}-shop.test/p/teapot",
            "price": "12.50",
            "currency": "EUR",
            "external_id": f"{tag}-sku-1",
            "tags": [f"{tag}-tag"],
        },
    )
    campaign = await ok(
        client,
        "POST",
        f"{api}/campaigns",
        admin,
        {
            "name": f"{tag} spring sale",
            "utm_template": {"utm_content": f"{tag}-content"},
        },
    )
    channel = await ok(
        client,
        "POST",
        f"{api}/channels",
        admin,
        {
            "kind": "discord",
            "name": f"{tag} discord",
            "config": {
                "webhook_url": f"https://discord.com/api/webhooks/42/{tag}-webhook-token",
                "username": f"{tag}-bot",
                # Nothing listens there: a credentials check fails at once, without the Internet.
                "base_url": "http://127.0.0.1:9",
            },
        },
    )
    share = await ok(
        client,
        "POST",
        f"{api}/shares",
        admin,
        {
            "product_id": product["id"],
            "channel_ids": [channel["id"]],
            "at": "2099-01-01T09:00:00Z",
            "campaign_id": campaign["id"],
            "text": {"discord": f"{tag} offer: $link"},
            "draft": True,
        },
    )
    (target,) = share["targets"]
    world.marks.add(target["link"].rsplit("/", 1)[-1])
    link = await ok(
        client,
        "POST",
        f"{api}/links",
        admin,
        {
            "product_id": product["id"],
            "campaign_id": campaign["id"],
            "channel_account_id": channel["id"],
            "slug": f"{tag}-teapot",
        },
    )
    endpoint = await ok(
        client,
        "POST",
        f"{api}/webhooks",
        admin,
        {
            "url": f"http://127.0.0.1:9/{tag}-hook",
            "event_types": ["share.published"],
        },
    )
    world.marks.add(endpoint["secret"])
    sessions = sessions_of(client)
    async with sessions() as session:
        event_id = await emit(
            session,
            made.merchant_id,
            "share.published",
            {**PUBLISHED, "remote_url": f"https://{tag}.example/posts/42"},
        )
        await session.commit()
        delivery_id = await session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint["id"])
        )
        # Settled, so that no scan touches it while the test runs.
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(state="failed", next_attempt_at=None)
        )
        await session.commit()
    world.marks.add(event_id)
    for scope in Scope:
        key = await ok(
            client,
            "POST",
            f"{api}/keys",
            admin,
            {
                "name": f"{tag} {scope.value} key",
                "scopes": [scope.value],
            },
        )
        world.keys[scope.value] = bearer(key["token"])
        world.marks |= {key["token"], key["prefix"]}
    spare = await ok(
        client,
        "POST",
        f"{api}/keys",
        admin,
        {
            "name": f"{tag} spare key",
            "scopes": ["reports:read"],
        },
    )
    world.marks |= {spare["token"], spare["prefix"]}

    now = datetime.now(UTC)
    world.click_id = await add_click(
        sessions,
        made.merchant_id,
        Channel(channel["id"], "discord", link["id"]),
        now - timedelta(hours=1),
        visitor_id=f"{tag}-visitor",
    )
    world.marks.add(world.click_id)
    body, headers = signed(
        made.webhook_secret,
        {
            "order_id": f"{tag}-order-1",
            "amount": amount,
            "currency": "USD",
            "occurred_at": (now - timedelta(minutes=30)).isoformat(),
            "click_id": world.click_id,
            "customer_id": f"{tag}-buyer@{tag}-shop.test",
        },
    )
    resp = await client.post(
        f"/hooks/v1/conversions?merchant={made.merchant_id}", data=body, headers=headers
    )
    assert resp.status == 201, await resp.text()
    await attribute_conversion(context_of(client), (await resp.json())["conversion_id"])

    world.path = {
        "product_id": str(product["id"]),
        "campaign_id": str(campaign["id"]),
        "channel_id": str(channel["id"]),
        "share_id": str(share["id"]),
        "target_id": str(target["id"]),
        "code": link["code"],
        "endpoint_id": str(endpoint["id"]),
        "delivery_id": str(delivery_id),
        "key_id": str(spare["id"]),
        **FIXED,
    }
    return world


@dataclass
class Hub:
    client: Client
    doc: dict[str, Any]
    alpha: World
    bravo: World


@pytest.fixture
async def hub(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: MerchantFactory
) -> Hub:
    # `backend` first: the app closes before the database is emptied.
    settings = make_settings(
        tmp_path,
        database_url=backend,
        api={"requests_per_minute": 0},
        webhooks={"allow_private": True},
    )
    client = await client_for(settings)
    alpha = await build_world(client, new_merchant, "alphaqx", "4321.09")
    bravo = await build_world(client, new_merchant, "bravoqx", "17.00")
    doc = await ok(client, "GET", "/api/v1/openapi.json", {})
    return Hub(client, doc, alpha, bravo)


async def db_rows(client: Client) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (a key's ``last_used_at`` aside: using a key sets it)."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with sessions_of(client)() as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [
                {k: v for k, v in row._mapping.items() if k != "last_used_at"} for row in rows
            ]
    return out


def _strip(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k != "last_used_at"}
    if isinstance(data, list):
        return [_strip(v) for v in data]
    return data


async def read_all(hub: Hub, world: World) -> dict[str, Any]:
    """Every GET of the API with ``world``'s own key and ids: how it sees its resources."""
    seen: dict[str, Any] = {}
    for path, ops in hub.doc["paths"].items():
        names = _PARAM.findall(path)
        if "get" not in ops or not path.startswith("/api/v1/") or path in NOT_PER_MERCHANT:
            continue
        url = fill(path, world.path) if names else path
        reply = await call(hub.client, "GET", url, world.admin)
        assert reply.status == 200, (url, reply.status, reply.text)
        seen[url] = _strip(reply.json) if reply.json is not None else reply.text
    return seen


def id_routes(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The documented routes with a merchant's id in the path, by path."""
    return {
        path: ops
        for path, ops in doc["paths"].items()
        if path not in NOT_PER_MERCHANT and set(_PARAM.findall(path)) - set(FIXED)
    }


def test_the_allow_lists_name_documented_routes(tmp_path: Path) -> None:
    """An allow-list entry for a route that is gone would silently sweep nothing."""
    from hub.web import create_app
    from hub.web.openapi import build_document

    doc = build_document(create_app(make_settings(tmp_path)), title="hub", version="test")
    assert NOT_PER_MERCHANT <= set(doc["paths"])
    for label in VALID_BODIES:
        method, path = label.split(" ", 1)
        assert "requestBody" in doc["paths"][path][method.lower()], label


async def test_every_route_with_another_merchants_ids_answers_404_and_changes_nothing(
    hub: Hub,
) -> None:
    client, alpha, bravo = hub.client, hub.alpha, hub.bravo
    routes = id_routes(hub.doc)
    needed = {n for path in routes for n in _PARAM.findall(path)}
    assert needed <= set(alpha.path), (
        f"no resource in the setup for the path parameters {sorted(needed - set(alpha.path))}"
    )
    with_body = {
        f"{method.upper()} {path}"
        for path, ops in routes.items()
        for method, op in ops.items()
        if "requestBody" in op
    }
    assert with_body == set(VALID_BODIES), "give VALID_BODIES one valid body per route"

    before_rows = await db_rows(client)
    before_api = await read_all(hub, alpha)
    keys = {"admin": bravo.admin, **bravo.keys}
    exercised: set[str] = set()
    for path, ops in routes.items():
        ids = [n for n in _PARAM.findall(path) if n not in FIXED]
        for method in METHODS:
            op = ops.get(method.lower())
            label = f"{method} {path}"
            body = VALID_BODIES.get(label)
            for count in range(1, len(ids) + 1):
                for theirs in itertools.combinations(ids, count):
                    foreign = {**bravo.path, **{n: alpha.path[n] for n in theirs}}
                    missing = {**bravo.path, **{n: MISSING.get(n, MISSING_ID) for n in theirs}}
                    # Every key of bravo for a served method; the admin key for the others.
                    for key_name, auth in keys.items() if op else [("admin", bravo.admin)]:
                        what = f"{label} with alpha's {theirs} and bravo's {key_name} key"
                        got = await call(client, method, fill(path, foreign), auth, body)
                        assert_no_leak(got, alpha, what)
                        assert got.status < 500 and not 200 <= got.status < 300, (what, got.text)
                        if key_name == "admin":
                            assert_error(got, 404 if op else 405, what)
                        same = await call(client, method, fill(path, missing), auth, body)
                        assert (got.status, got.json) == (same.status, same.json), (
                            f"{what}: answered unlike an id that does not exist",
                            got.text,
                            same.text,
                        )
            if op:
                exercised.add(label)
    served = {f"{m.upper()} {p}" for p, ops in routes.items() for m in ops}
    assert exercised == served

    assert await db_rows(client) == before_rows
    assert await read_all(hub, alpha) == before_api

    # The same calls on bravo's own ids get past the lookup (and past body validation).
    # Deletions last: they take away what the others use.
    for label in sorted(served, key=lambda s: (s.startswith("DELETE"), s)):
        method, path = label.split(" ", 1)
        got = await call(
            client, method, fill(path, bravo.path), bravo.admin, VALID_BODIES.get(label)
        )
        assert got.status < 500 and got.status not in {400, 404, 405, 415, 422}, (
            label,
            got.status,
            got.text,
        )


async def test_lists_and_id_filters_show_none_of_another_merchants_rows(hub: Hub) -> None:
    client, alpha, bravo = hub.client, hub.alpha, hub.bravo
    lists = {
        path: ops["get"]
        for path, ops in hub.doc["paths"].items()
        if "get" in ops
        and path.startswith("/api/v1/")
        and path != "/api/v1/openapi.json"  # the hub's public document, the same for all
        and set(_PARAM.findall(path)) <= set(ENUMERATED)
    }
    assert "/api/v1/products" in lists and "/api/v1/reports/{dimension}" in lists
    unclassified = {
        (path, p["name"])
        for path, op in lists.items()
        for p in op.get("parameters", [])
        if p["in"] == "query" and p["name"] not in ID_QUERY and p["name"] not in NOT_ID_QUERY
    }
    assert not unclassified, f"say in ID_QUERY or NOT_ID_QUERY what these are: {unclassified}"

    for path, op in lists.items():
        names = _PARAM.findall(path)
        urls = [
            fill(path, dict(zip(names, values, strict=True)))
            for values in itertools.product(*(ENUMERATED[n] for n in names))
        ]
        for url in urls:
            own = await call(client, "GET", url, bravo.admin)
            assert own.status == 200, (url, own.text)
            assert_no_leak(own, alpha, f"GET {url}")
            if isinstance(own.json, dict) and "data" in own.json:
                assert own.json["data"], f"GET {url}: bravo's own rows are missing"
            for param in op.get("parameters", []):
                if param["in"] != "query" or param["name"] not in ID_QUERY:
                    continue
                value = alpha.path[ID_QUERY[param["name"]]]
                sep = "&" if "?" in url else "?"
                filtered = await call(
                    client, "GET", f"{url}{sep}{param['name']}={value}", bravo.admin
                )
                what = f"GET {url} ?{param['name']}= alpha's id"
                assert_no_leak(filtered, alpha, what)
                assert filtered.status in {200, 404, 422}, (what, filtered.text)
                if filtered.status == 200:
                    assert filtered.json["data"] == [], (what, filtered.text)
        # alpha's own lists do show its rows: the marks are the right ones to look for.
        for url in urls[:1]:
            mine = await call(client, "GET", url, alpha.admin)
            assert mine.status == 200
    shown = await call(client, "GET", "/api/v1/reports/link?model=last_touch", alpha.admin)
    assert "alphaqx-teapot" in shown.text and "4321.09" in shown.text, shown.text


async def test_ids_in_bodies_do_not_reach_another_merchant(hub: Hub) -> None:
    client, alpha, bravo = hub.client, hub.alpha, hub.bravo
    a = {k: int(v) for k, v in alpha.path.items() if v.isdigit()}
    b = {k: int(v) for k, v in bravo.path.items() if v.isdigit()}
    share: dict[str, Any] = {
        "product_id": b["product_id"],
        "channel_ids": [b["channel_id"]],
        "draft": True,
    }
    shares: list[dict[str, Any]] = [
        {**share, "product_id": a["product_id"]},
        {**share, "channel_ids": [a["channel_id"]]},
        {**share, "channel_ids": [b["channel_id"], a["channel_id"]]},
        {**share, "campaign_id": a["campaign_id"]},
    ]
    links: list[dict[str, Any]] = [
        {"product_id": a["product_id"]},
        {"product_id": b["product_id"], "campaign_id": a["campaign_id"]},
        {"product_id": b["product_id"], "channel_account_id": a["channel_id"]},
        {"share_target_id": a["target_id"]},
    ]
    before = await db_rows(client)
    for body in shares:
        got = await call(client, "POST", "/api/v1/shares", bravo.admin, body)
        assert_no_leak(got, alpha, f"POST /shares {body}")
        assert_error(got, 404, f"POST /shares {body}")
        payload, headers = signed(bravo.merchant.webhook_secret, body)
        resp = await client.post(
            f"/hooks/v1/shares?merchant={bravo.merchant.merchant_id}", data=payload, headers=headers
        )
        hook = Reply(resp.status, await resp.text(), await resp.json())
        assert_no_leak(hook, alpha, f"hook shares {body}")
        assert_error(hook, 404, f"hook shares {body}")
    for body in links:
        got = await call(client, "POST", "/api/v1/links", bravo.admin, body)
        assert_no_leak(got, alpha, f"POST /links {body}")
        assert_error(got, 422, f"POST /links {body}")
        assert got.json["error"]["details"]["fields"][0]["type"] == "not_found"
    # A share's text keyed by a channel id must name one of the share's own channels.
    got = await call(
        client,
        "POST",
        "/api/v1/shares",
        bravo.admin,
        {**share, "text": {str(a["channel_id"]): "x $link"}},
    )
    assert_no_leak(got, alpha, "POST /shares text by alpha's channel id")
    assert_error(got, 422, "POST /shares text by alpha's channel id")
    payload, headers = signed(
        bravo.merchant.webhook_secret, {"customer_id": "bravoqx-buyer", "click_id": alpha.click_id}
    )
    resp = await client.post(
        f"/hooks/v1/identify?merchant={bravo.merchant.merchant_id}", data=payload, headers=headers
    )
    identify = Reply(resp.status, await resp.text(), await resp.json())
    assert_no_leak(identify, without(alpha, alpha.click_id), "identify alpha's click")
    assert_error(identify, 404, "identify alpha's click")
    # A hook naming alpha but signed with bravo's secret: refused like one naming nobody.
    answers = []
    for merchant_id in (alpha.merchant.merchant_id, MISSING_ID):
        payload, headers = signed(bravo.merchant.webhook_secret, share)
        resp = await client.post(
            f"/hooks/v1/shares?merchant={merchant_id}", data=payload, headers=headers
        )
        answers.append(Reply(resp.status, await resp.text(), await resp.json()))
        assert_no_leak(answers[-1], alpha, f"hook shares signed by bravo for {merchant_id}")
        assert_error(answers[-1], 401, f"hook shares signed by bravo for {merchant_id}")
    assert answers[0].json == answers[1].json
    assert await db_rows(client) == before

    # Names and external ids are per merchant: alpha's taken ones tell bravo nothing.
    taken: list[tuple[str, dict[str, Any]]] = [
        (
            "/products",
            {"title": "t", "url": "https://bravoqx-shop.test/p/2", "external_id": "alphaqx-sku-1"},
        ),
        ("/campaigns", {"name": "alphaqx spring sale"}),
        (
            "/channels",
            {
                "kind": "discord",
                "name": "alphaqx discord",
                "config": {"webhook_url": "https://discord.com/api/webhooks/7/bravoqx-token"},
            },
        ),
    ]
    for path, body in taken:
        got = await call(client, "POST", f"/api/v1{path}", bravo.admin, body)
        assert got.status == 201, (path, got.text)


async def test_a_conversion_naming_another_merchants_click_credits_nothing(hub: Hub) -> None:
    client, alpha, bravo = hub.client, hub.alpha, hub.bravo
    before = await read_all(hub, alpha)
    payload, headers = signed(
        bravo.merchant.webhook_secret,
        {
            "order_id": "bravoqx-order-2",
            "amount": "55.00",
            "currency": "USD",
            "occurred_at": datetime.now(UTC).isoformat(),
            "click_id": alpha.click_id,
            "visitor_id": "bravoqx-visitor",  # bravo's own click: a journey to credit
            "line_items": [
                {"product_id": int(alpha.path["product_id"]), "amount": "30.00"},
                {"external_id": "alphaqx-sku-1", "amount": "25.00"},
            ],
        },
    )
    resp = await client.post(
        f"/hooks/v1/conversions?merchant={bravo.merchant.merchant_id}",
        data=payload,
        headers=headers,
    )
    answer = Reply(resp.status, await resp.text(), await resp.json())
    assert answer.status == 201, answer.text
    assert_no_leak(answer, without(alpha, alpha.click_id), "conversion naming alpha's click")
    conversion_id = answer.json["conversion_id"]
    await attribute_conversion(context_of(client), conversion_id)
    async with sessions_of(client)() as session:
        credited = (
            await session.execute(
                select(AttributionCredit.click_id, AttributionCredit.product_id).where(
                    AttributionCredit.conversion_id == conversion_id
                )
            )
        ).all()
        assert credited and alpha.click_id not in {click for click, _ in credited}
        assert int(alpha.path["product_id"]) not in {product for _, product in credited}
        found = await session.get(Conversion, conversion_id)
        assert found is not None and found.merchant_id == bravo.merchant.merchant_id
    for dimension in DIMENSIONS:
        got = await call(client, "GET", f"/api/v1/reports/{dimension}?model=linear", bravo.admin)
        assert got.status == 200
        assert_no_leak(got, without(alpha, alpha.click_id), f"bravo's {dimension} report")
    assert await read_all(hub, alpha) == before
