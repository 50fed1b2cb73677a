"""Request size limit: bodies over `limit` bytes get 413 before the app reads them (411 when no length is given)."""

from __future__ import annotations

import json
from typing import Any


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length of every request with a body."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is None or not length.isdigit():
            if headers.get(b"transfer-encoding"):
                await _reply(send, 411, "a request body needs a Content-Length header")
                return
            length = b"0"
        if int(length) > self.limit:
            await _reply(send, 413, f"request too large: {int(length)} bytes; this server accepts at most {self.limit} "
                                    "bytes (ketasim serve --max-upload-bytes)")
            return
        await self.app(scope, receive, send)


async def _reply(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
