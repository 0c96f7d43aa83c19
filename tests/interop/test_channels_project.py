"""A Channels-tutorial project with a hub routed in its own ``URLRouter``, live.

``tests/channels_project`` keeps its own ``asgi.py`` (``AuthMiddlewareStack`` around its
own middleware and ``URLRouter``), its own consumer beside ``ChatHub.as_asgi()``, and
``include("django_hubs.urls")`` for negotiate. Served by ``manage.py runserver`` (daphne)
and by uvicorn; the official JS client is forced onto WebSockets, so a hub that silently
fell back to Server-Sent Events would fail here.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from .live import PYTHON, LiveServer, run_node
from .pyclients import mint_access_token

pytestmark = pytest.mark.interop

SETTINGS = "tests.channels_project.settings"
APP = "tests.channels_project.asgi:application"
RS = "\x1e"


class ProjectServer(LiveServer):
    def command(self) -> list[str]:
        if self.kind == "runserver":
            return [PYTHON, "-m", "django", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        return super().command()

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@pytest.fixture(scope="module", params=["runserver", "uvicorn"])
def project(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[ProjectServer]:
    server = ProjectServer(request.param, log_dir, env={"HUBS_TEST_DB": str(live_db)}, app=APP, settings=SETTINGS)
    server.start()
    yield server
    server.stop()


def session_cookie(server: ProjectServer, username: str, password: str) -> str:
    """Log in through the project's own view: the session cookie Channels' AuthMiddlewareStack reads."""
    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{server.url}/login", data=body), timeout=10) as response:
        assert response.status == 204
        cookies = response.headers.get_all("Set-Cookie")
    (session,) = [c.split(";", 1)[0] for c in cookies if c.startswith("sessionid=")]
    return session


def run_client(server: ProjectServer, **options: object) -> dict:
    return run_node("channels_project.mjs", json.dumps({"url": f"{server.url}/hubs/chat", **options}))


@pytest.mark.parametrize("skip_negotiation", [False, True])
def test_official_client_over_websockets_invokes_and_gets_group_messages(project, skip_negotiation):
    result = run_client(project, skipNegotiation=skip_negotiation)
    assert result["transport"] == "WebSocketTransport"
    assert result["who"] is None
    assert result["project"] == "tutorial"  # the project's middleware ran, and the hub sees its key
    assert result["received"] == [[result["sender"], "hello"]]


@pytest.mark.parametrize("transport", ["ServerSentEvents", "LongPolling"])
def test_the_http_transports_come_from_the_url_include(project, transport):
    cookie = session_cookie(project, "alice", "alice-pw")
    result = run_client(project, transport=transport, headers={"Cookie": cookie})
    assert result["transport"] == f"{transport}Transport"  # the JS client's class names
    assert result["who"] == "alice"
    assert result["project"] is None  # HTTP transports do not pass through the WebSocket middleware
    assert result["received"] == [[result["sender"], "hello"]]


@pytest.mark.parametrize("skip_negotiation", [False, True])
def test_session_login_through_auth_middleware_stack(project, skip_negotiation):
    cookie = session_cookie(project, "alice", "alice-pw")
    result = run_client(project, skipNegotiation=skip_negotiation, headers={"Cookie": cookie})
    assert result["who"] == "alice"


def test_the_projects_own_middleware_sets_the_user(project):
    """A WebSocket-only auth middleware of the project (negotiate would not know the user: skip it)."""
    result = run_client(project, skipNegotiation=True, headers={"X-Project-User": "bob"})
    assert result["who"] == "bob"


@pytest.mark.parametrize("skip_negotiation", [False, True])
def test_simplejwt_access_tokens(project, live_db, skip_negotiation):
    token = mint_access_token(live_db, "bob")
    result = run_client(project, skipNegotiation=skip_negotiation, accessToken=token)
    assert result["who"] == "bob"


def test_the_projects_own_consumer_still_works(project):
    async def scenario() -> dict:
        async with ws_connect(f"{project.ws_url}/ws/echo/", additional_headers={"X-Project-User": "alice"}) as ws:
            await ws.send("ping")
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    assert asyncio.run(scenario()) == {"echo": "ping", "user": "alice", "project": "tutorial"}


def test_a_foreign_origin_is_refused_even_with_the_visitors_cookie(project):
    cookie = session_cookie(project, "alice", "alice-pw")

    async def attempt(origin: str) -> int | str:
        headers = {"Cookie": cookie, "Origin": origin}
        try:
            async with ws_connect(f"{project.ws_url}/hubs/chat", additional_headers=headers) as ws:
                await ws.send(json.dumps({"protocol": "json", "version": 1}) + RS)
                assert await asyncio.wait_for(ws.recv(), 10) == "{}" + RS
                invocation = {"type": 1, "invocationId": "1", "target": "whoami", "arguments": []}
                await ws.send(json.dumps(invocation) + RS)
                while True:
                    message = json.loads((await asyncio.wait_for(ws.recv(), 10)).split(RS)[0])
                    if message.get("type") == 3:
                        return message["result"]
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt("https://evil.example")) == 403
    assert asyncio.run(attempt(project.url)) == "alice"  # the site's own pages keep working


def test_an_invalid_token_is_refused(project):
    async def attempt() -> int:
        try:
            async with ws_connect(f"{project.ws_url}/hubs/chat?access_token=forged"):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt()) in (401, 403)  # daphne cannot send a status: it refuses with 403
    assert "invalid access token" in project.log()
