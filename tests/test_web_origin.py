"""The explorer answers only its own pages: foreign Host, cross-origin state changes and missing tokens get 403."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ketasim.apps.web.origin import SameOrigin, is_local, split_host


async def ok(request):
    return PlainTextResponse("ok")


def client(host: str = "127.0.0.1", token: str | None = None, base: str = "http://127.0.0.1:8765") -> TestClient:
    app = Starlette(routes=[Route("/api/runs", ok, methods=["GET", "POST"]), Route("/", ok)])
    app.add_middleware(SameOrigin, host=host, token=token)
    return TestClient(app, base_url=base)


def test_host_parsing():
    assert split_host("[::1]:8000") == ("::1", 8000)
    assert split_host("LocalHost") == ("localhost", None)
    assert split_host("evil.example:80") == ("evil.example", 80)
    assert split_host("a:b") == ("", None)
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1") and not is_local("0.0.0.0")


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765"])
def test_own_names_are_answered(host):
    assert client().get("/api/runs", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", ""])
def test_foreign_host_is_refused_with_one_line(host):
    r = client().get("/api/runs", headers={"Host": host})
    assert r.status_code == 403
    assert "is not this server" in r.json()["detail"] and "\n" not in r.json()["detail"]


def test_the_named_host_is_answered_too():
    assert client(host="lab-box.local").get("/", headers={"Host": "lab-box.local:8765"}).status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:9999", "https://127.0.0.1:8765", "null",
                                    "http://localhost.evil.example:8765"])
def test_cross_origin_post_is_refused(origin):
    r = client().post("/api/runs", headers={"Origin": origin}, content=b"x")
    assert r.status_code == 403 and "cross-origin request" in r.json()["detail"]


def test_foreign_referer_without_origin_is_refused():
    r = client().post("/api/runs", headers={"Referer": "http://evil.example/page.html"}, content=b"x")
    assert r.status_code == 403


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8765", None])
def test_own_origin_and_plain_clients_may_post(origin):
    headers = {"Origin": origin} if origin else {}
    assert client().post("/api/runs", headers=headers, content=b"x").status_code == 200


def test_cross_origin_get_is_not_a_state_change():
    assert client().get("/api/runs", headers={"Origin": "http://evil.example"}).status_code == 200


def test_token_required_when_named():
    c = client(host="0.0.0.0", token="s3cret", base="http://10.1.2.3:8765")
    assert c.get("/api/runs").status_code == 403
    assert c.get("/api/runs", headers={"X-Ketasim-Token": "wrong"}).status_code == 403
    assert c.get("/api/runs", headers={"X-Ketasim-Token": "s3cret"}).status_code == 200
    first = c.get("/?token=s3cret")
    assert first.status_code == 200 and "ketasim_token=s3cret" in first.headers["set-cookie"]
    assert c.get("/api/runs").status_code == 200  # the cookie from the first visit
