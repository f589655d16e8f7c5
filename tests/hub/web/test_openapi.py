"""The OpenAPI document is generated from the routes: every route is in it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from hub.web.openapi import _routes


async def test_document_lists_every_route_with_its_models(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    app = client.server.app
    assert app is not None
    served = {(path, method) for method, path, _ in _routes(app)}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented

    create = doc["paths"]["/api/v1/products"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProductIn"}
    assert {"201", "401", "409", "413", "422"} <= set(create["responses"])
    product_in = doc["components"]["schemas"]["ProductIn"]
    assert {"title", "url"} <= set(product_in["required"])
    listing = doc["paths"]["/api/v1/products"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor"}
    assert doc["paths"]["/api/v1/products/{product_id}"]["get"]["parameters"][0]["in"] == "path"
    assert "security" not in doc["paths"]["/healthz"]["get"]
