"""Only this server's own pages may drive it: a Host allow-list, a same-origin rule for state changes,
and a token when the server is reachable beyond this machine.

- Host: every request's Host header must name this server (localhost, 127.0.0.1, [::1] or the
  `--host` the user gave); a DNS-rebinding page, whose requests carry its own name, gets 403.
- Origin: a request that changes state (POST, PUT, PATCH, DELETE) from a browser carries an Origin
  (or at least a Referer); it must be this server's own scheme, host and port. A plain HTML form
  on another site (no preflight) gets 403. Clients that send neither (curl, scripts) are not
  browsers driven by a foreign page and pass.
- Token: with `--host` beyond localhost, every request needs the token printed at start-up, as a
  `?token=` query (a page visit with it sets a cookie, as Jupyter does), the `X-Ketasim-Token`
  header or that cookie.
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: names of this machine that a local server always answers to
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_COOKIE = "ketasim_token"
TOKEN_HEADER = b"x-ketasim-token"


def split_host(value: str) -> tuple[str, int | None]:
    """'[::1]:8000' -> ('::1', 8000); 'Example.org' -> ('example.org', None); a bad port -> ('', None)."""
    value = value.strip()
    if value.count(":") > 1 and not value.startswith("["):  # a bare IPv6 address, as --host takes it
        return value.lower(), None
    parts = urlsplit(f"//{value}")
    try:
        port = parts.port
    except ValueError:
        return "", None
    return (parts.hostname or "").lower(), port


def is_local(host: str) -> bool:
    """Whether `--host` keeps the server on this machine."""
    return split_host(host)[0] in LOCAL_HOSTS


class SameOrigin:
    """Pure ASGI middleware: refuses foreign Host values, cross-origin state changes and missing tokens."""

    def __init__(self, app: Any, host: str = "127.0.0.1", token: str | None = None) -> None:
        self.app = app
        named = split_host(host)[0]
        self.hosts = LOCAL_HOSTS | ({named} if named and named not in ("0.0.0.0", "::") else set())
        self.open_to_all = named in ("0.0.0.0", "::")  # every interface: the Host names are the user's own
        self.token = token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        reason = self.refusal(scope, headers)
        if reason:
            await _forbid(send, reason)
            return
        if self.token and self._query_token(scope) and scope.get("method") == "GET":
            await self.app(scope, receive, _with_cookie(send, self.token))
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: dict, headers: dict[bytes, str]) -> str:
        """Why this request is refused (one line), or '' if it may go on."""
        host, port = split_host(headers.get(b"host", ""))
        if not self.open_to_all and host not in self.hosts:
            return (f"Host {headers.get(b'host', '')!r} is not this server; it answers to "
                    f"{', '.join(sorted(self.hosts))} only")
        if self.token and not self._has_token(scope, headers):
            return "this server needs its token (printed by `ketasim serve` at start-up): open the URL it printed"
        if scope.get("method") in STATE_CHANGING:
            origin = headers.get(b"origin") or headers.get(b"referer")
            if origin is not None and not self._same_origin(origin, scope, host, port):
                return f"cross-origin request from {origin!r} refused: only this server's own pages may change state"
        return ""

    def _same_origin(self, origin: str, scope: dict, host: str, port: int | None) -> bool:
        parts = urlsplit(origin)
        try:
            origin_port = parts.port
        except ValueError:
            return False
        scheme = scope.get("scheme", "http")
        default = 443 if scheme in ("https", "wss") else 80
        return (parts.scheme in ("http", "https") and parts.scheme == scheme.replace("ws", "http")
                and (parts.hostname or "").lower() == host and (origin_port or default) == (port or default))

    def _query_token(self, scope: dict) -> bool:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        return any(hmac.compare_digest(v, self.token or "") for v in values)

    def _has_token(self, scope: dict, headers: dict[bytes, str]) -> bool:
        token = self.token or ""
        if hmac.compare_digest(headers.get(TOKEN_HEADER, ""), token) or self._query_token(scope):
            return True
        for part in headers.get(b"cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE and hmac.compare_digest(value, token):
                return True
        return False


def _with_cookie(send: Any, token: str) -> Any:
    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start":
            cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode()
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)
    return sending


async def _forbid(send: Any, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
