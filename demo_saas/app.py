"""The reference API as an ASGI app: FastAPI routes wrapped in production behaviour
(auth, tenants, rate limit, latency, fault injection)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from demo_saas import openapi as oa
from demo_saas.entities import ENTITIES, EntitySpec
from demo_saas.faults import FaultInjector
from demo_saas.params import BadRequest, encode_cursor, parse_list_query
from demo_saas.ratelimit import RateLimiter
from demo_saas.records import value_error
from demo_saas.store import Store

API_KEYS = {"demo-acme-key": "acme", "demo-globex-key": "globex"}
OAUTH_CLIENTS = {"demo-acme-client": ("demo-acme-secret", "acme"), "demo-globex-client": ("demo-globex-secret", "globex")}
TOKEN_TTL_SECONDS = 3600
MAX_BATCH = 100
TENANT_KEY = "demo_saas.tenant"


@dataclass(frozen=True)
class Behaviour:
    """How production-like the server is."""

    seed: int = 42
    rate_limit: float = 50.0  # requests/s per tenant; 0 = unlimited
    latency_ms: int = 0
    fail_rate: float = 0.0
    request_log: str | None = None  # file getting "<unix time> <tenant> <status> <method> <path>" per /v1 request


class RequestLog:
    """Appends one line per authenticated /v1 request: when it arrived, whose, whether the rate
    limit let it through (200) or not (429), and what it asked (method, path with its query). Tests
    measure the rate clients keep, and the requests a run makes, with it."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, tenant: str, status: int, method: str = "-", path: str = "-") -> None:
        os.write(self._fd, f"{time.time():.6f} {tenant} {status} {method} {path}\n".encode())


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status, headers)


class Tokens:
    """OAuth2 access tokens issued by `POST /oauth/token`."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, tenant: str) -> str:
        token = "tok_" + secrets.token_urlsafe(24)
        self._tokens[token] = (tenant, time.monotonic() + TOKEN_TTL_SECONDS)
        return token

    def tenant(self, token: str) -> str | None:
        tenant, expires = self._tokens.get(token, (None, 0.0))
        return tenant if tenant and time.monotonic() < expires else None


class ProductionBehaviour:
    """ASGI middleware for `/v1/…`: latency, auth, rate limit, then fault injection, in that order.

    Faults are drawn after the rate limit so that a client retrying its 429s sees the same
    sequence of faults for the same seed.
    """

    def __init__(self, app: Any, behaviour: Behaviour, tokens: Tokens):
        self.app = app
        self.behaviour = behaviour
        self.tokens = tokens
        self.limiter = RateLimiter(behaviour.rate_limit) if behaviour.rate_limit > 0 else None
        self.faults = FaultInjector(behaviour.seed, behaviour.fail_rate)
        self.request_log = RequestLog(behaviour.request_log) if behaviour.request_log else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.behaviour.latency_ms:
            await asyncio.sleep(self.behaviour.latency_ms / 1000)
        if not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)

        tenant = self._tenant(scope)
        if tenant is None:
            return await error_response(
                401, "unauthorized",
                "missing or invalid credentials; send Authorization: Bearer <api key or access token>",
                {"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
        scope[TENANT_KEY] = tenant

        extra_headers: list[tuple[bytes, bytes]] = []
        decision = self.limiter.take(tenant) if self.limiter is not None else None
        if self.request_log is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            self.request_log.write(tenant, 429 if decision is not None and not decision.allowed else 200,
                                   scope["method"], scope["path"] + (f"?{query}" if query else ""))  # fmt: skip
        if decision is not None:
            extra_headers = decision.headers()
            if not decision.allowed:
                response = error_response(
                    429, "rate_limited",
                    f"rate limit of {decision.limit} requests/s exceeded; retry after {decision.retry_after} s",
                    {"Retry-After": str(decision.retry_after)},
                )
                return await response(scope, receive, _with_headers(send, extra_headers))

        fault = self.faults.draw(tenant)
        if fault == "drop" and _drop_connection(receive):
            return None
        if fault == "500" or fault == "drop":  # "drop" only falls back here on a server without a transport
            response = error_response(500, "internal_error", "internal server error (injected fault); retry")
            return await response(scope, receive, _with_headers(send, extra_headers))
        if fault == "503":
            response = error_response(
                503, "unavailable", "service temporarily unavailable (injected fault); retry", {"Retry-After": "1"}
            )
            return await response(scope, receive, _with_headers(send, extra_headers))
        return await self.app(scope, receive, _with_headers(send, extra_headers))

    def _tenant(self, scope: dict) -> str | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                credential = credential.strip()
                return API_KEYS.get(credential) or self.tokens.tenant(credential)
        return None


def _with_headers(send: Any, headers: list[tuple[bytes, bytes]]) -> Any:
    if not headers:
        return send

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return wrapped


def _drop_connection(receive: Any) -> bool:
    """Close the client's socket without answering (uvicorn's h11 protocol)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected"):
        return False
    cycle.disconnected = True  # tells uvicorn not to send its own 500
    transport.close()
    return True


def create_app(store: Store, behaviour: Behaviour | None = None) -> Any:
    """The ASGI application serving `store`."""
    behaviour = behaviour or Behaviour()
    tokens = Tokens()
    api = FastAPI(
        title="saasbridge reference SaaS API",
        version="1.0.0",
        description="A stand-in for a SaaS provider's production REST API (see docs/reference-api.md).",
    )
    models = oa.all_models()
    _register_exception_handlers(api)
    _register_auth_routes(api, tokens)
    for spec in ENTITIES.values():
        _register_entity_routes(api, store, spec, models[spec.name])
    _install_openapi(api, models)
    wrapped = ProductionBehaviour(api, behaviour, tokens)
    wrapped.fastapi = api  # type: ignore[attr-defined]
    return wrapped


def _register_exception_handlers(api: FastAPI) -> None:
    codes = {404: "not_found", 405: "method_not_allowed"}

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such route; see /openapi.json" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, codes.get(exc.status_code, "error"), message)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, "bad_request", f"{where}: {first.get('msg', 'invalid request')}")

    @api.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:  # a bug: still answer in the API's format
        return error_response(500, "internal_error", f"internal server error ({type(exc).__name__})")

    @api.exception_handler(BadRequest)
    async def bad_request(_request: Request, exc: BadRequest) -> Response:
        return error_response(400, "bad_request", str(exc))


def _register_auth_routes(api: FastAPI, tokens: Tokens) -> None:
    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @api.post(
        "/oauth/token",
        response_model=oa.Token,
        responses={400: {"model": oa.ErrorBody}, 401: {"model": oa.ErrorBody}},
        summary="OAuth2 client credentials grant",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def oauth_token(request: Request) -> Response:
        try:
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        if form.get("grant_type") != "client_credentials":
            return error_response(400, "unsupported_grant_type", "grant_type must be client_credentials")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        expected = OAUTH_CLIENTS.get(client_id or "")
        if expected is None or not secrets.compare_digest(expected[0], client_secret or ""):
            return error_response(401, "invalid_client", "unknown client_id or wrong client_secret")
        token = tokens.issue(expected[1])
        return json_response({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_SECONDS})


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("the request body must be valid JSON") from None


def _check_record(spec: EntitySpec, body: Any, *, partial: bool) -> dict:
    """Validate a written record; raise BadRequest with the first problem."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if not partial:
        missing = [n for n in spec.required_on_create if body.get(n) is None]
        if spec.one_required_on_create and all(body.get(n) is None for n in spec.one_required_on_create):
            missing.append(f"one of {', '.join(spec.one_required_on_create)}")
        if missing:
            raise BadRequest(f"missing required field(s): {', '.join(missing)}")
    writable_system = set() if partial else {"id"}
    for name, value in body.items():
        f = spec.get_field(name)
        if f is None:
            raise BadRequest(f"unknown field {name!r} for {spec.name}")
        if name in spec.system_fields and name not in writable_system:
            raise BadRequest(f"{name} is read-only")
        problem = value_error(f, value)
        if problem:
            raise BadRequest(problem)
    if "id" in body and not _valid_id(body["id"]):
        raise BadRequest("id must be 1-128 characters: letters, digits, _ - . :")
    return body


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 128 and all(c.isalnum() or c in "_-.:" for c in value)


def _register_entity_routes(api: FastAPI, store: Store, spec: EntitySpec, models: oa.EntityModels) -> None:
    base = f"/v1/{spec.name}"
    errors = {400: {"model": oa.ErrorBody}, 401: {"model": oa.ErrorBody}, 429: {"model": oa.ErrorBody}}
    tag = [spec.name]

    async def list_records(request: Request) -> Response:
        q = parse_list_query(spec, request.scope[TENANT_KEY], request.query_params.multi_items())
        records, next_key = store.list(q)
        cursor = encode_cursor(q.sort, next_key) if next_key is not None else None
        return json_response({"data": records, "next_cursor": cursor})

    api.add_api_route(
        base, list_records, methods=["GET"], response_model=models.page, responses=errors, tags=tag,
        operation_id=f"list_{spec.name}", summary=f"List {spec.name}",
        openapi_extra={"parameters": oa.list_parameters(spec)},
    )

    async def get_record(request: Request, id: str) -> Response:
        record = store.get(spec, request.scope[TENANT_KEY], id)
        if record is None:
            return error_response(404, "not_found", f"no {spec.name} record with id {id!r}")
        return json_response(record)

    api.add_api_route(
        base + "/{id}", get_record, methods=["GET"], response_model=models.record, tags=tag,
        responses={**errors, 404: {"model": oa.ErrorBody}}, operation_id=f"get_{spec.name}",
        summary=f"Get one of {spec.name}",
    )

    if models.patch is not None:
        async def patch_record(request: Request, id: str) -> Response:
            changes = _check_record(spec, await _json_body(request), partial=True)
            record = store.patch(spec, request.scope[TENANT_KEY], id, changes)
            if record is None:
                return error_response(404, "not_found", f"no {spec.name} record with id {id!r}")
            return json_response(record)

        api.add_api_route(
            base + "/{id}", patch_record, methods=["PATCH"], response_model=models.record, tags=tag,
            responses={**errors, 404: {"model": oa.ErrorBody}}, operation_id=f"update_{spec.name}",
            summary=f"Update one of {spec.name} (partial; bumps updated_at)", openapi_extra=oa.json_body(models.patch),
        )

    if spec.writable:
        _register_write_routes(api, store, spec, models, errors, tag)


def _batch_items(body: Any) -> list:
    """The records of a batch write body `{"data": [...]}` (at most MAX_BATCH)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list) or set(body) != {"data"}:
        raise BadRequest('the body must be {"data": [records…]}')
    if len(body["data"]) > MAX_BATCH:
        raise BadRequest(f"at most {MAX_BATCH} records per request, got {len(body['data'])}")
    return body["data"]


def _register_write_routes(
    api: FastAPI, store: Store, spec: EntitySpec, models: oa.EntityModels, errors: dict, tag: list[str]
) -> None:
    base = f"/v1/{spec.name}"

    async def create_records(request: Request) -> Response:
        items = _batch_items(await _json_body(request))
        write_errors: list[dict] = []
        valid: list[tuple[int, dict]] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            try:
                record = _check_record(spec, item, partial=False)
            except BadRequest as exc:
                write_errors.append({"index": i, "code": "invalid", "message": str(exc)})
                continue
            if record.get("id") is not None:
                if record["id"] in seen:
                    write_errors.append({"index": i, "code": "duplicate_id", "message": f"id {record['id']!r} repeats in this request"})
                    continue
                seen.add(record["id"])
            valid.append((i, record))
        results = store.insert_many(spec, request.scope[TENANT_KEY], [r for _, r in valid])
        created = []
        for (i, record), result in zip(valid, results, strict=True):
            if result == "duplicate_id":
                write_errors.append({"index": i, "code": "duplicate_id", "message": f"id {record['id']!r} already exists"})
            else:
                created.append(result)
        write_errors.sort(key=lambda e: e["index"])
        return json_response({"data": created, "errors": write_errors})

    api.add_api_route(
        base, create_records, methods=["POST"], response_model=models.batch_result, responses=errors, tags=tag,
        operation_id=f"create_{spec.name}", summary=f"Create {spec.name} (up to {MAX_BATCH}; per-item errors)",
        openapi_extra=oa.json_body(models.batch),
    )

    async def upsert_records(request: Request) -> Response:
        items = _batch_items(await _json_body(request))
        write_errors: list[dict] = []
        valid: list[tuple[int, str, dict]] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            try:
                record = _check_record(spec, item, partial=False)
                if record.get("id") is None:
                    raise BadRequest("id: required, a batch upsert is keyed by id")
            except BadRequest as exc:
                write_errors.append({"index": i, "code": "invalid", "message": str(exc)})
                continue
            if record["id"] in seen:
                write_errors.append({"index": i, "code": "duplicate_id", "message": f"id {record['id']!r} repeats in this request"})
                continue
            seen.add(record["id"])
            valid.append((i, record["id"], record))
        stored = store.upsert_many(spec, request.scope[TENANT_KEY], [(id_, record) for _, id_, record in valid])
        write_errors.sort(key=lambda e: e["index"])
        return json_response({"data": [record for record, _ in stored], "errors": write_errors})

    api.add_api_route(
        base, upsert_records, methods=["PUT"], response_model=models.batch_result, responses=errors, tags=tag,
        operation_id=f"upsert_many_{spec.name}",
        summary=f"Create or replace {spec.name} by id (up to {MAX_BATCH}; per-item errors)",
        openapi_extra=oa.json_body(models.batch),
    )

    async def upsert_record(request: Request, id: str) -> Response:
        if not _valid_id(id):
            raise BadRequest("id must be 1-128 characters: letters, digits, _ - . :")
        record = _check_record(spec, await _json_body(request), partial=False)
        if record.get("id") not in (None, id):
            raise BadRequest(f"the body's id {record['id']!r} differs from the path's {id!r}")
        stored, _created = store.upsert(spec, request.scope[TENANT_KEY], id, record)
        return json_response(stored)

    api.add_api_route(
        base + "/{id}", upsert_record, methods=["PUT"], response_model=models.record, responses=errors, tags=tag,
        operation_id=f"upsert_{spec.name}", summary=f"Create or replace one of {spec.name}",
        openapi_extra=oa.json_body(models.input),
    )

    async def delete_record(request: Request, id: str) -> Response:
        if not store.delete(spec, request.scope[TENANT_KEY], id):
            return error_response(404, "not_found", f"no {spec.name} record with id {id!r}")
        return Response(status_code=204)

    api.add_api_route(
        base + "/{id}", delete_record, methods=["DELETE"], status_code=204, tags=tag,
        responses={**errors, 404: {"model": oa.ErrorBody}}, operation_id=f"delete_{spec.name}",
        summary=f"Delete one of {spec.name}",
    )


def _install_openapi(api: FastAPI, models: dict[str, oa.EntityModels]) -> None:
    bodies = [m for em in models.values() for m in (em.patch, em.input, em.batch) if m is not None]

    def openapi() -> dict:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title, version=api.version, description=api.description, routes=api.routes
            )
            oa.add_component_schemas(schema, bodies)
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API key or OAuth2 access token"},
                "oauth2": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
                },
            }
            schema["security"] = [{"bearer": []}, {"oauth2": []}]
            schema["paths"]["/oauth/token"]["post"]["security"] = []
            for operations in schema["paths"].values():  # FastAPI's 422 never happens: bad input is a 400
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(name, None)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
