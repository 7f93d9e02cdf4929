"""Request limits: body bytes (before the body is parsed), texts per request, characters per text.

Each exceeded limit is a 413 whose JSON names the setting (`limit`), its value (`max`) and what
the request had (`value`), so a client knows which knob it hit without reading the server's
config. The body limit is enforced while the body streams in: a client cannot make the server
buffer more than `max_body_bytes`, whatever Content-Length it claims (or omits).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cotune.serving.errors import ApiError, limit_exceeded
from cotune.serving.schemas import error_body
from cotune.serving.settings import ServeSettings


def check_texts(texts: Sequence[str], settings: ServeSettings) -> None:
    if len(texts) > settings.max_texts:
        raise limit_exceeded("max_texts", len(texts), settings.max_texts, "texts in the request")
    for i, text in enumerate(texts):
        if len(text) > settings.max_chars:
            what = f"characters of text {i}"
            raise limit_exceeded("max_chars", len(text), settings.max_chars, what)


async def send_error(send: Send, error: ApiError) -> None:
    """Answer from inside ASGI middleware, before any route runs."""
    body = json.dumps(error_body(error.type, error.message, **error.extra)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Reads the whole body (at most `max_bytes`, within `timeout_s`), checks it is UTF-8, then
    replays it. Without the deadline a client that declares a Content-Length and stops sending
    holds its connection, and a slot of max_connections, for ever (uvicorn has no body timeout).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float | None = None) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_error(send, ApiError(400, "invalid_header", "bad Content-Length"))
                return
            if size > self.max_bytes:
                await send_error(send, self._too_big(size))
                return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            body = ApiError(
                408,
                "body_timeout",
                f"the request body did not arrive within timeout_s={self.timeout_s:g} seconds",
                limit="timeout_s",
                max=self.timeout_s,
                headers={"Connection": "close"},
            )
        if body is None:
            return  # the client went away; nobody is left to answer
        if isinstance(body, ApiError):
            await send_error(send, body)
            return
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            await send_error(
                send,
                ApiError(
                    400,
                    "invalid_encoding",
                    f"the body is not UTF-8 (bad byte at offset {e.start}): JSON must be UTF-8",
                ),
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for a disconnect, as the app expects

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | ApiError | None:
        """The body, the 413 it earned, or None if the client disconnected."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return self._too_big(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_big(self, size: int) -> ApiError:
        return limit_exceeded("max_body_bytes", size, self.max_bytes, "bytes in the request body")
