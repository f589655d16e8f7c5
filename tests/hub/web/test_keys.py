"""``/api/v1/keys``: create (token once), list without secrets, revoke; scopes; isolation."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import MerchantFactory, bearer

Client = TestClient[Any, Any]


async def test_create_list_and_revoke_keys(client: Client, new_merchant: MerchantFactory) -> None:
    made = await new_merchant(client)
    admin = bearer(made.api_key.token)
    resp = await client.post(
        "/api/v1/keys",
        headers=admin,
        json={"name": "publisher", "scopes": ["shares:write", "approve"]},
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    token = created["token"]
    assert token.startswith(created["prefix"] + "_")
    assert created["scopes"] == ["approve", "shares:write"]
    assert created["revoked_at"] is None and created["last_used_at"] is None
    resp = await client.get("/api/v1/products", headers=bearer(token))
    assert resp.status == 200
    resp = await client.get("/api/v1/keys", headers=admin)
    listed = await resp.json()
    text = await resp.text()
    assert token not in text and made.api_key.token not in text and "hash" not in text
    assert [k["name"] for k in listed["data"]] == ["publisher", "default"]
    assert set(listed["data"][0]) == {
        "id",
        "prefix",
        "name",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert listed["data"][0]["last_used_at"] is not None
    resp = await client.delete(f"/api/v1/keys/{created['id']}", headers=admin)
    assert resp.status == 200
    revoked_at = (await resp.json())["revoked_at"]
    assert revoked_at is not None
    resp = await client.get("/api/v1/products", headers=bearer(token))
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    again = await client.delete(f"/api/v1/keys/{created['id']}", headers=admin)
    assert again.status == 200  # revoking twice keeps the first time
    assert (await again.json())["revoked_at"] == revoked_at


async def test_keys_refuse_bad_input(client: Client, new_merchant: MerchantFactory) -> None:
    admin = bearer((await new_merchant(client)).api_key.token)
    for body, field in (
        ({"name": "x", "scopes": ["root"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["admin"]}, "name"),
        ({"scopes": ["admin"]}, "name"),
        ({"name": "x", "scopes": ["admin"], "token": "mine"}, "token"),
    ):
        resp = await client.post("/api/v1/keys", headers=admin, json=body)
        error = (await resp.json())["error"]
        assert resp.status == 422, error
        assert field in [f["field"] for f in error["details"]["fields"]]
    assert (await client.delete("/api/v1/keys/abc", headers=admin)).status == 404
    assert (await client.delete("/api/v1/keys/999999", headers=admin)).status == 404


async def test_keys_need_the_admin_scope(client: Client, new_merchant: MerchantFactory) -> None:
    admin = bearer((await new_merchant(client)).api_key.token)
    resp = await client.post(
        "/api/v1/keys", headers=admin, json={"name": "reports", "scopes": ["reports:read"]}
    )
    reader = bearer((await resp.json())["token"])
    for method, path, body in (
        ("POST", "/api/v1/keys", {"name": "mine", "scopes": ["admin"]}),
        ("GET", "/api/v1/keys", None),
        ("DELETE", f"/api/v1/keys/{(await resp.json())['id']}", None),
    ):
        got = await client.request(method, path, headers=reader, json=body)
        error = (await got.json())["error"]
        assert got.status == 403, (method, path)
        assert error["code"] == "forbidden" and error["details"]["missing_scope"] == "admin"
    listed = await (await client.get("/api/v1/keys", headers=admin)).json()
    assert [k["name"] for k in listed["data"]] == ["reports", "default"]
    assert all(k["revoked_at"] is None for k in listed["data"])


async def test_another_merchants_keys_are_not_found(
    client: Client, new_merchant: MerchantFactory
) -> None:
    alice = await new_merchant(client, "Alice")
    bob = await new_merchant(client, "Bob", "https://bob.test/")
    a_auth, b_auth = bearer(alice.api_key.token), bearer(bob.api_key.token)
    a_keys = (await (await client.get("/api/v1/keys", headers=a_auth)).json())["data"]
    a_key = a_keys[0]
    resp = await client.delete(f"/api/v1/keys/{a_key['id']}", headers=b_auth)
    text = await resp.text()
    assert resp.status == 404 and a_key["prefix"] not in text
    b_keys = (await (await client.get("/api/v1/keys", headers=b_auth)).json())["data"]
    assert [k["prefix"] for k in b_keys] == [bob.api_key.prefix]
    assert (await client.get("/api/v1/keys", headers=a_auth)).status == 200
