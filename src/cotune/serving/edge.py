"""The HTTP edge: one JSON error answer for every failure a client can cause, and HEAD.

Each handler answers {"error": {"type", "message", ...}} with the message naming the field or
header at fault and the fix. When API keys are on, a request without a valid key learns nothing
about its body: its 401 comes before any 415 or 422.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cotune.serving.auth import HEADER, ApiKeys
from cotune.serving.errors import ApiError
from cotune.serving.schemas import error_body

log = logging.getLogger("cotune.serving")

EXAMPLE = '{"text": "..."} or {"texts": ["...", "..."]}'
ENDPOINTS = (
    "GET /v1/models, GET /v1/models/{name}, POST /v1/models/{name}/predict, "
    "GET /healthz, /readyz, /metrics (GET /docs describes them)"
)


def answer(e: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(e.type, e.message, **e.extra), status_code=e.status, headers=e.headers
    )


def is_json(content_type: str | None) -> bool:
    """What FastAPI parses as JSON: application/json or application/*+json."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _json_kind(value: object) -> str:
    kinds = {list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def install_error_handlers(app: FastAPI, keys: ApiKeys | None) -> None:
    def unauthorized(request: Request) -> JSONResponse | None:
        if keys is None:
            return None
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        try:
            keys.require(request.headers.get(HEADER), token if scheme.lower() == "bearer" else None)
        except ApiError as e:
            return answer(e)
        return None

    @app.exception_handler(ApiError)
    async def api_error(_: Request, e: ApiError) -> JSONResponse:
        return answer(e)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        errors = list(e.errors())
        first = errors[0] if errors else {}
        at_body = tuple(first.get("loc", ())) == ("body",)
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error", "")
            where = first.get("loc", ("", "?"))[-1]
            return answer(
                ApiError(
                    422,
                    "invalid_json",
                    f"the body is not valid JSON: {reason} (at character {where})",
                )
            )
        if at_body and first.get("type") == "missing":
            message = f"the body is empty or null: send a JSON object such as {EXAMPLE}"
            return answer(ApiError(422, "invalid_request", message))
        content_type = request.headers.get("content-type")
        if not is_json(content_type):  # FastAPI left the body unparsed, as bytes
            given = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
            message = f"the body must be JSON, sent with Content-Type: application/json ({given})"
            return answer(ApiError(415, "unsupported_media_type", message))
        details = [
            {
                "loc": [str(x) for x in err.get("loc", ())],
                "msg": str(err.get("msg", "")).removeprefix("Value error, "),
            }
            for err in errors
        ]
        if at_body and first.get("type") in ("model_attributes_type", "dict_type"):
            kind = _json_kind(first.get("input"))
            details[0]["msg"] = f"expected a JSON object such as {EXAMPLE}, got {kind}"

        summary = "; ".join(f"{'.'.join(d['loc'][1:]) or 'body'}: {d['msg']}" for d in details[:3])
        return JSONResponse(
            error_body("invalid_request", summary, details=details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        method, path = request.method, request.url.path
        if e.status_code == 400 and e.__cause__ is not None:  # FastAPI could not parse the body
            if (refused := unauthorized(request)) is not None:
                return refused
            cause = e.__cause__
            reason = (
                "it is nested too deeply"
                if isinstance(cause, RecursionError)
                else str(cause).split(";")[0]
            )
            message = f"the body is not usable JSON: {reason}; send a JSON object such as {EXAMPLE}"
            return answer(ApiError(422, "invalid_json", message))
        headers = getattr(e, "headers", None)
        if e.status_code == 405:
            allowed = (headers or {}).get("Allow", "")
            type_, message = "method_not_allowed", f"{method} {path} is not allowed: use {allowed}"
        elif e.status_code == 404 and e.detail == "Not Found":
            type_, message = "not_found", f"no route {method} {path}; the routes: {ENDPOINTS}"
        else:
            kinds = {400: "bad_request", 404: "not_found"}
            type_, message = kinds.get(e.status_code, f"http_{e.status_code}"), str(e.detail)
        return JSONResponse(error_body(type_, message), status_code=e.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def crashed(_: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body("internal_error", "the server failed; its log has details"),
            status_code=500,
        )


class HeadMiddleware:
    """HEAD on any GET route answers as GET would, without the body (RFC 9110 section 9.3.2):
    FastAPI routes list GET only, so monitors probing /healthz with HEAD got 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
