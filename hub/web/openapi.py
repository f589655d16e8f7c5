"""The OpenAPI 3.1 document, generated from the routes and their pydantic models.

Handlers declare what they take and give with :func:`operation`; the document is built from
the router at start-up, so it always lists every route the app serves. Routes without a
declaration still appear, with the summary taken from their docstring.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hub.web.errors import STATUS, ErrorCode

__all__ = ["Operation", "build_document", "operation"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

_ATTR = "__hub_operation__"
_PARAM = re.compile(r"\{([^}:]+)(?::([^}]*))?\}")
_REF = "#/components/schemas/{model}"
_GROUP = re.compile(r"\(\?P<(\w+)>")


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    # Other media types the route answers with, e.g. {"text/csv": "CSV export"}; an
    # "application/json" entry documents a JSON object answered without a response model.
    media: dict[str, str] = field(default_factory=dict)
    errors: tuple[ErrorCode, ...] = ()
    tags: tuple[str, ...] = ()
    public: bool = False


def operation(summary: str, **details: Any) -> Callable[[H], H]:
    """Declare a handler's request and response models for the OpenAPI document."""
    op = Operation(summary=summary, **details)

    def mark(handler: H) -> H:
        setattr(handler, _ATTR, op)
        return handler

    return mark


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


def _routes(app: web.Application) -> Iterable[tuple[str, str, Handler]]:
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            yield from _routes(sub)
            continue
        for route in resource:
            if route.method in {"HEAD", "*"}:
                continue
            yield route.method.lower(), resource.canonical, route.handler


def _group_patterns(pattern: str) -> dict[str, str]:
    """``{name: regex}`` of each named group of a route's compiled path pattern."""
    out: dict[str, str] = {}
    for group in _GROUP.finditer(pattern):
        start = end = group.end()
        depth = 1
        while depth:
            char = pattern[end]
            if char == "\\":
                end += 1
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            end += 1
        out[group.group(1)] = pattern[start : end - 1]
    return out


def _path_patterns(app: web.Application) -> dict[str, dict[str, str]]:
    """The regexes of the path parameters declared as ``{name:regex}``, by canonical path."""
    out: dict[str, dict[str, str]] = {}
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            out.update(_path_patterns(sub))
            continue
        compiled = resource.get_info().get("pattern")
        if isinstance(compiled, re.Pattern):
            groups = _group_patterns(compiled.pattern)
            custom = {k: v for k, v in groups.items() if v != web.DynamicResource.GOOD}
            if custom:
                out[resource.canonical] = custom
    return out


def _error_responses(codes: Iterable[ErrorCode]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        status = str(STATUS[code])
        entry = out.setdefault(
            status,
            {
                "description": "",
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
            },
        )
        entry["description"] = ", ".join(filter(None, [entry["description"], code.value]))
    return out


def _path_schema(regex: str) -> dict[str, Any]:
    """A path parameter: any string, or the route's own ``{name:regex}`` pattern."""
    if not regex:
        return {"type": "string"}
    return {"type": "string", "pattern": f"^(?:{regex})$"}


def build_document(app: web.Application, *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route ``app`` (and its sub-apps) serves."""
    patterns = _path_patterns(app)
    ops: list[tuple[str, str, Handler, Operation]] = []
    models: set[type[BaseModel]] = set()
    for method, path, handler in _routes(app):
        op: Operation | None = getattr(handler, _ATTR, None)
        if op is None:
            doc = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            op = Operation(summary=doc)
        ops.append((method, path, handler, op))
        models.update(m for m in (op.body, op.query, op.response) if m is not None)

    ordered = sorted(models, key=lambda m: m.__name__)
    inputs = {m for _, _, _, op in ops for m in (op.body,) if m is not None}
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation" if m in inputs else "serialization") for m in ordered
    ]
    refs, defs = models_json_schema(keys, ref_template=_REF)
    ref_of = {model: schema for (model, _mode), schema in refs.items()}
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler, op in ops:
        spec: dict[str, Any] = {
            "operationId": f"{method}_{handler.__module__.rsplit('.', 1)[-1]}_{handler.__name__}",
            "summary": op.summary,
            "tags": list(op.tags) or [path.split("/")[3] if path.startswith("/api/") else "hub"],
        }
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _path_schema(regex or patterns.get(path, {}).get(name, "")),
            }
            for name, regex in _PARAM.findall(path)
        ]
        if op.query is not None:
            query_schema = op.query.model_json_schema(ref_template=_REF)
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                params.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if params:
            spec["parameters"] = params
        if op.body is not None:
            spec["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of[op.body]}},
            }
        content: dict[str, Any] = {}
        if op.response is not None:
            content["application/json"] = {"schema": ref_of[op.response]}
        for media, description in op.media.items():
            # A JSON answer without a model (e.g. a report's rows) is still an object.
            kind = "object" if media == "application/json" else "string"
            content[media] = {"schema": {"type": kind, "description": description}}
        responses: dict[str, Any] = {str(op.status): {"description": op.summary}}
        if content:
            responses[str(op.status)]["content"] = content
        codes = set(op.errors) | {ErrorCode.INTERNAL}
        if path.startswith("/api/") and not op.public:
            codes |= {ErrorCode.UNAUTHORIZED, ErrorCode.RATE_LIMITED}
            spec["security"] = [{"apiKey": []}]
        if op.body is not None:
            codes |= {
                ErrorCode.INVALID_JSON,
                ErrorCode.VALIDATION_FAILED,
                ErrorCode.PAYLOAD_TOO_LARGE,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            }
        if op.query is not None:
            codes.add(ErrorCode.VALIDATION_FAILED)
        if params and any(p["in"] == "path" for p in params):
            codes.add(ErrorCode.NOT_FOUND)
        responses.update(
            {k: v for k, v in _error_responses(sorted(codes)).items() if k not in responses}
        )
        spec["responses"] = responses
        paths.setdefault(_PARAM.sub(r"{\1}", path), {})[method] = spec

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }
