"""Security over real sockets (spec section 9): tokens, origins, CORS, logs, limits.

Every server here is a subprocess (daphne through ``python -m django_hubs.extras.daphne``,
uvicorn, and daphne's ``manage.py runserver``) with its own settings; clients are the
official JS client, and a raw ``websockets`` client where exact frames matter.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .live import NODE_MODULES, PYTHON, LiveServer, require_tool, run_node

pytestmark = pytest.mark.interop

RS = "\x1e"
TRUSTED = "http://trusted.example"
CLOSE_ERROR = "Connection closed with an error."


class SecureServer(LiveServer):
    """daphne with its access log redacted, uvicorn, or daphne's ``runserver``."""

    def command(self) -> list[str]:
        if self.kind == "daphne":
            return [PYTHON, "-m", "django_hubs.extras.daphne", "-b", "127.0.0.1", "-p", str(self.port), self.app]
        if self.kind == "runserver":
            return [PYTHON, "-m", "django", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        return super().command()

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


def start(kind: str, live_db: Path, log_dir: Path, **env: str) -> SecureServer:
    base = {
        "HUBS_TEST_DB": str(live_db),
        "HUBS_TEST_CORS_ORIGINS": TRUSTED,
        "HUBS_TEST_URLCONF": "tests.interop.security_urls",
        "HUBS_TEST_DEBUG": "1",  # so that Django prints its 500 tracebacks (which must be redacted too)
    }
    if kind == "runserver":
        base["HUBS_TEST_RUNSERVER"] = "1"
    server = SecureServer(kind, log_dir, env={**base, **env})
    return server.start()  # type: ignore[return-value]


class Page(ThreadingHTTPServer):
    """A web page on its own origin, with the official browser client, that reports back."""

    def __init__(self, host: str = "localhost", script: str = "") -> None:
        super().__init__(("127.0.0.1", 0), PageHandler)
        self.origin = f"http://{host}:{self.server_address[1]}"  # another port than the hub's, by default another host
        self.script = script or PAGE_SCRIPT
        self.config: dict[str, Any] = {}
        self.reports: list[dict[str, Any]] = []
        self.reported = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()


PAGE_SCRIPT = """
const config = JSON.parse(document.getElementById("config").textContent);
async function attempt({ hub, token, skipNegotiation }) {
  const options = {};
  if (token) options.accessTokenFactory = () => config.token;
  if (skipNegotiation) Object.assign(options, { skipNegotiation, transport: signalR.HttpTransportType.WebSockets });
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(config.hubBase + hub, options)
    .configureLogging(signalR.LogLevel.None)
    .build();
  try {
    await connection.start();
    const result = await connection.invoke("whoami");
    await connection.stop();
    return { connected: true, result };
  } catch (error) {
    return { connected: false, error: error.message };
  }
}
(async () => {
  const report = {
    // Negotiate (Authorization header, CORS with credentials), then the WebSocket (access_token).
    negotiated: await attempt({ hub: "/hubs/private", token: true }),
    // Straight to a WebSocket, no token, on a hub anonymous users may use: only the origin check decides.
    direct: await attempt({ hub: "/hubs/test", token: false, skipNegotiation: true }),
  };
  await fetch("/report", { method: "POST", body: JSON.stringify(report) });
})();
"""


class PageHandler(BaseHTTPRequestHandler):
    server: Page

    def do_GET(self) -> None:
        if self.path == "/signalr.js":
            body = (NODE_MODULES / "@microsoft" / "signalr" / "dist" / "browser" / "signalr.js").read_bytes()
            self.answer(body, "text/javascript")
        else:
            config = json.dumps(self.server.config)
            page = (
                f'<!doctype html><script id="config" type="application/json">{config}</script>'
                f'<script src="/signalr.js"></script><script>{self.server.script}</script>'
            )
            self.answer(page.encode(), "text/html")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.server.reports.append(json.loads(self.rfile.read(length)))
        self.server.reported.set()
        self.answer(b"", "text/plain")

    def answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, Page]]:
    """Two origins: one the hub server lists in CORS_ALLOWED_ORIGINS, one it does not."""
    made = {"trusted": Page(), "untrusted": Page()}
    yield made
    for page in made.values():
        page.shutdown()
        page.server_close()


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(
    request: pytest.FixtureRequest, live_db: Path, log_dir: Path, pages: dict[str, Page]
) -> Iterator[SecureServer]:
    live = start(request.param, live_db, log_dir, HUBS_TEST_CORS_ORIGINS=f"{TRUSTED},{pages['trusted'].origin}")
    yield live
    live.stop()


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def limited(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[SecureServer]:
    """A server with every limit small enough to cross in a test."""
    live = start(
        request.param,
        live_db,
        log_dir,
        HUBS_MAX_MESSAGE_SIZE="4096",
        HUBS_HANDSHAKE_TIMEOUT="1",
        HUBS_CLIENT_TIMEOUT="1.5",
        HUBS_KEEP_ALIVE_INTERVAL="0.5",
        HUBS_MAX_PARALLEL_INVOCATIONS="1",
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def alice_id(live_db: Path) -> int:
    with sqlite3.connect(live_db) as db:
        return db.execute("SELECT id FROM auth_user WHERE username = 'alice'").fetchone()[0]


def token_for(user_id: int, lifetime: timedelta | None = None) -> str:
    """Signed with the test settings' key, as the live servers' simplejwt expects."""
    token = AccessToken()
    token["user_id"] = user_id
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def forged_token(user_id: int) -> str:
    """A real token's header and claims with another signature."""
    header, claims, _ = token_for(user_id).split(".")
    return f"{header}.{claims}.Zm9yZ2VkLXNpZ25hdHVyZS1vZi0zMi1ieXRlcy14eHh4eHg"


# --- plain HTTP --------------------------------------------------------------------------------


def http(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None):
    """``(status, headers, body)``; error statuses are answers too."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def negotiate(server: SecureServer, hub: str = "hubs/test", token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = http("POST", f"{server.url}/{hub}/negotiate?negotiateVersion=1", headers, b"")
    return status, (json.loads(body) if status == 200 else {})


# --- a raw hub client ----------------------------------------------------------------------------


class RawHub:
    """Exact SignalR JSON frames over a ``websockets`` connection."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.pending: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, *, handshake: bool = True, **kwargs: Any) -> RawHub:
        socket = await ws_connect(url, ping_interval=None, compression=None, open_timeout=10, **kwargs)
        hub = cls(socket)
        if handshake:
            await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
            assert await hub.next(include_pings=True) == {}
        return hub

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message) + RS)

    async def next(self, timeout: float = 10, include_pings: bool = False) -> dict[str, Any]:
        """The next message, leaving out pings and the test hub's broadcasts ("Left")."""
        while True:
            while self.pending:
                message = self.pending.pop(0)
                if message.get("type") == 6 and not include_pings:
                    continue
                if message.get("type") == 1 and "invocationId" not in message:
                    continue
                return message
            frame = await asyncio.wait_for(self.socket.recv(), timeout)
            self.pending += [json.loads(record) for record in str(frame).split(RS) if record]

    async def invoke(self, target: str, *args: Any, invocation_id: str = "1") -> Any:
        await self.send({"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(args)})
        completion = await self.next()
        assert completion.get("type") == 3 and "error" not in completion, completion
        return completion.get("result")

    async def closed(self) -> bool:
        """The server closes the socket after its Close message."""
        try:
            await asyncio.wait_for(self.socket.recv(), 10)
        except ConnectionClosed:
            return True
        return False

    async def close(self) -> None:
        await self.socket.close()


async def refused_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await ws_connect(url, open_timeout=10, **kwargs)
    return refused.value.response.status_code


def refusal(server: SecureServer, status: int) -> int:
    """daphne cannot send an HTTP status from a WebSocket app: it refuses every upgrade with 403."""
    return 403 if server.kind == "daphne" else status


# --- tokens --------------------------------------------------------------------------------------


async def test_query_token_on_the_websocket_header_token_on_negotiate(server, alice_id):
    token = token_for(alice_id)
    assert negotiate(server, "hubs/private")[0] == 401
    status, body = negotiate(server, "hubs/private", token)
    assert status == 200
    # What browsers do: the header on negotiate, the query parameter on the upgrade.
    hub = await RawHub.open(f"{server.ws_url}/hubs/private?id={body['connectionToken']}&access_token={token}")
    assert await hub.invoke("whoami") == str(alice_id)
    await hub.close()


async def test_invalid_tokens_are_refused_not_downgraded(server, alice_id):
    forged = forged_token(alice_id)
    expired = token_for(alice_id, timedelta(seconds=-30))
    for bad in (forged, expired):
        assert negotiate(server, "hubs/test", bad)[0] == 401
        assert await refused_status(f"{server.ws_url}/hubs/test?access_token={bad}") == refusal(server, 401)
        headers = {"Authorization": f"Bearer {bad}"}
        assert await refused_status(f"{server.ws_url}/hubs/test", additional_headers=headers) == refusal(server, 401)
    log = server.log()
    assert "invalid access token (Token is invalid)" in log
    assert forged not in log and expired not in log


def test_js_client_token_header_refusal_and_expiry(server, alice_id):
    # The server closes the connection when its 4 s token expires ({"type":7,"allowReconnect":true});
    # the client reconnects on its own, with the fresh token its factory now returns.
    result = run_node(
        "security_auth.mjs",
        json.dumps(
            {
                "url": f"{server.url}/hubs/private",
                "shortToken": token_for(alice_id, timedelta(seconds=4)),
                "longToken": token_for(alice_id),
                "badToken": forged_token(alice_id),
            }
        ),
    )
    assert result["before"] == result["after"] == str(alice_id)
    assert result["reconnectingError"] is None  # a Close without error: expiry, not failure
    assert result["newConnection"] is True
    assert "Status code '401'" in result["refusedError"]
    assert "its access token expired" in server.log()


async def test_the_connection_id_is_not_the_connection_token(server):
    status, body = negotiate(server)
    assert status == 200 and body["connectionId"] != body["connectionToken"]
    connection_id, token = body["connectionId"], body["connectionToken"]
    # The public id opens nothing.
    assert await refused_status(f"{server.ws_url}/hubs/test?id={connection_id}") == refusal(server, 404)
    assert http("POST", f"{server.url}/hubs/test?id={connection_id}", body=b"{}")[0] == 404
    # The token does, and it is the only way in.
    hub = await RawHub.open(f"{server.ws_url}/hubs/test?id={token}")
    assert await hub.invoke("get_connection_id") == connection_id
    await hub.close()
    assert token not in server.log()


# --- origins and CORS ----------------------------------------------------------------------------


async def test_websocket_origin_check(server):
    url = f"{server.ws_url}/hubs/test"
    assert await refused_status(url, origin="http://evil.example") == 403
    for allowed in (TRUSTED, server.url, None):  # listed, same origin, not a browser
        hub = await RawHub.open(url, origin=allowed)
        assert await hub.invoke("add", 1, 2) == 3
        await hub.close()
    assert "origin 'http://evil.example' not allowed" in server.log()


def test_cors_preflight_and_response(server):
    request_headers = "x-requested-with,x-signalr-user-agent,authorization,content-type"
    for path in ("hubs/test/negotiate", "hubs/test"):
        status, headers, _ = http(
            "OPTIONS",
            f"{server.url}/{path}",
            {
                "Origin": TRUSTED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": request_headers,
            },
        )
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == TRUSTED
        assert headers["Access-Control-Allow-Credentials"] == "true"
        assert set(request_headers.split(",")) <= {
            h.strip() for h in headers["Access-Control-Allow-Headers"].split(",")
        }
        status, headers, _ = http(
            "OPTIONS",
            f"{server.url}/{path}",
            {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = http("POST", f"{server.url}/hubs/test/negotiate?negotiateVersion=1", {"Origin": TRUSTED}, b"")
    assert status == 200
    assert (headers["Access-Control-Allow-Origin"], headers["Access-Control-Allow-Credentials"]) == (TRUSTED, "true")


def open_in_browser(page: Page, tmp_path: Path) -> dict[str, Any]:
    chromium = require_tool("chromium")
    page.reported.clear()
    page.reports.clear()
    flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    flags += " --disable-component-update --disable-sync"
    command = [chromium, *flags.split(), f"--user-data-dir={tmp_path / 'chromium'}", page.origin + "/"]
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert page.reported.wait(60), "the page never reported"
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()
    return page.reports[0]


def test_browser_cross_origin(server, pages, alice_id, tmp_path):
    # A real browser: CORS preflights with credentials, Origin on the upgrade, the token in the URL.
    token = token_for(alice_id)
    for page in pages.values():
        page.config = {"hubBase": server.url, "token": token}
    trusted = open_in_browser(pages["trusted"], tmp_path)
    assert trusted["negotiated"] == {"connected": True, "result": str(alice_id)}
    assert trusted["direct"] == {"connected": True, "result": None}
    untrusted = open_in_browser(pages["untrusted"], tmp_path)
    assert untrusted["negotiated"]["connected"] is False  # CORS: the browser may not read negotiate
    assert "Failed to complete negotiation" in untrusted["negotiated"]["error"]
    assert untrusted["direct"]["connected"] is False  # the origin check: no socket for a foreign page
    assert "WebSocket failed to connect" in untrusted["direct"]["error"]
    log = wait_for_log(server, f"origin '{pages['untrusted'].origin}' not allowed")
    assert f"origin '{pages['untrusted'].origin}' not allowed" in log
    assert token not in log


# --- logs ----------------------------------------------------------------------------------------


def wait_for_log(server: SecureServer, *needles: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = server.log()
        if all(needle in log for needle in needles) or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn", "runserver"])
async def test_tokens_never_reach_the_logs(kind, live_db, log_dir, alice_id):
    server = start(kind, live_db, log_dir)
    try:
        token = token_for(alice_id)
        forged = forged_token(alice_id)
        # Negotiate with the header, the WebSocket with the query parameter (a browser).
        status, body = negotiate(server, "hubs/private", token)
        assert status == 200
        connection_token = body["connectionToken"]
        hub = await RawHub.open(f"{server.ws_url}/hubs/private?id={connection_token}&access_token={token}")
        assert await hub.invoke("whoami") == str(alice_id)
        await hub.close()
        # An SSE-style GET with the token in its URL (answered 4xx: no such connection),
        # a refused token (401), and a server error whose message holds the URL.
        sse = http("GET", f"{server.url}/hubs/test?id=nope&access_token={token}", {"Accept": "text/event-stream"})
        assert 400 <= sse[0] < 500
        assert http("GET", f"{server.url}/hubs/test?id=nope&access_token={forged}")[0] == 401
        assert http("GET", f"{server.url}/boom/?access_token={token}")[0] == 500
        log = wait_for_log(server, "/boom/", "boom at /boom/?access_token=[REDACTED]")
    finally:
        server.stop()
    log = server.log()
    # Request lines are still there, with the values redacted...
    assert "/hubs/private/negotiate" in log
    assert "/boom/" in log
    assert "access_token=[REDACTED]" in log
    assert "RuntimeError: boom at /boom/?access_token=[REDACTED]" in log
    # ...and no token, whole or in part, anywhere in stdout or stderr.
    for secret in (token, forged, token.split(".")[2], forged.split(".")[2], connection_token):
        assert secret not in log


# --- limits (spec 8.2 and 10) --------------------------------------------------------------------


async def test_max_message_size(limited):
    other = await RawHub.open(f"{limited.ws_url}/hubs/test")
    for hub_path, expected in (
        ("hubs/test", CLOSE_ERROR),
        (
            "hubs/detailed",
            f"{CLOSE_ERROR} InvalidDataException: The maximum message size of 4096B was exceeded. "
            "The message size can be configured with HUBS_MAX_MESSAGE_SIZE.",
        ),
    ):
        hub = await RawHub.open(f"{limited.ws_url}/{hub_path}")
        await hub.send({"type": 1, "invocationId": "1", "target": "echo", "arguments": ["x" * 5000]})
        assert await hub.next() == {"type": 7, "error": expected, "allowReconnect": True}
        assert await hub.closed()
    assert await other.invoke("add", 1, 2) == 3
    await other.close()


def test_max_message_size_with_the_js_client(limited):
    result = run_node("security_limits.mjs", json.dumps({"url": f"{limited.url}/hubs/test", "size": 5000}))
    expected = f"Server returned an error on close: {CLOSE_ERROR}"
    assert result == {"invokeError": expected, "closeError": expected, "otherResult": 3}


async def test_handshake_timeout(limited):
    other = await RawHub.open(f"{limited.ws_url}/hubs/test")
    silent = await RawHub.open(f"{limited.ws_url}/hubs/test", handshake=False)
    # Nothing sent: after HUBS_HANDSHAKE_TIMEOUT the server answers the handshake itself and leaves.
    assert await silent.next(include_pings=True) == {"error": "Handshake was canceled."}
    assert await silent.closed()
    assert await other.invoke("add", 1, 2) == 3
    await other.close()


async def test_client_timeout(limited):
    other = await RawHub.open(f"{limited.ws_url}/hubs/test")

    async def keep_pinging() -> None:
        while True:
            await other.send({"type": 6})
            await asyncio.sleep(0.3)

    pinger = asyncio.create_task(keep_pinging())
    try:
        for hub_path, expected in (("hubs/test", CLOSE_ERROR), ("hubs/detailed", f"{CLOSE_ERROR} ")):
            quiet = await RawHub.open(f"{limited.ws_url}/{hub_path}")
            await quiet.send({"type": 6})  # the timeout is enforced once a client has pinged
            close = await quiet.next()
            assert close["type"] == 7 and close["allowReconnect"] is True
            assert close["error"].startswith(expected)
            if hub_path == "hubs/detailed":
                assert "HUBS_CLIENT_TIMEOUT" in close["error"]
            assert await quiet.closed()
        assert await other.invoke("add", 1, 2) == 3  # pinging all along: still connected
    finally:
        pinger.cancel()
        await other.close()


async def test_max_parallel_invocations(limited):
    busy = await RawHub.open(f"{limited.ws_url}/hubs/test")
    other = await RawHub.open(f"{limited.ws_url}/hubs/test")
    # With HUBS_MAX_PARALLEL_INVOCATIONS=1 the quick call waits for the slow one...
    await busy.send({"type": 1, "invocationId": "slow", "target": "sleep", "arguments": [0.8]})
    await busy.send({"type": 1, "invocationId": "quick", "target": "add", "arguments": [1, 2]})
    # ...while another connection is served at once, before the slow call is done.
    assert await other.invoke("add", 2, 2) == 4
    with pytest.raises(TimeoutError):
        await busy.next(timeout=0.01)
    first, second = await busy.next(), await busy.next()
    assert [first["invocationId"], second["invocationId"]] == ["slow", "quick"]
    assert second["result"] == 3
    await busy.close()
    await other.close()


# --- CORS_ALLOW_ALL_ORIGINS: any origin, never with the visitor's cookies -------------------------

FOREIGN = "http://foreign.example"


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def session_cookie(answer: Any) -> str:
    from http.cookies import SimpleCookie

    cookies: SimpleCookie = SimpleCookie()
    for value in answer.get_all("Set-Cookie") or ():
        cookies.load(value)
    return cookies["sessionid"].value


def log_in(server: SecureServer, username: str = "alice") -> str:
    """Log in as a browser does (a form POST); the session cookie it sets."""
    body = f"username={username}&password={username}-pw".encode()
    status, answer, _ = http("POST", f"{server.url}/login/", FORM, body)
    assert status == 200
    return session_cookie(answer)


@pytest.fixture(scope="module", params=["daphne", "uvicorn", "runserver"])
def allow_all(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[SecureServer]:
    """``CORS_ALLOW_ALL_ORIGINS = True`` on a site with session logins (runserver needs E008 silenced)."""
    live = start(request.param, live_db, log_dir, HUBS_TEST_CORS_ALL="1", HUBS_TEST_SILENCE_E008="1")
    yield live
    live.stop()


async def test_allow_all_refuses_a_cross_site_upgrade_with_only_the_session_cookie(allow_all, alice_id):
    cookie = {"Cookie": f"sessionid={log_in(allow_all)}"}
    url = f"{allow_all.ws_url}/hubs/private"
    # The site's own page: the cookie is the visitor's login.
    hub = await RawHub.open(url, origin=allow_all.url, additional_headers=cookie)
    assert await hub.invoke("whoami") == str(alice_id)
    await hub.close()
    # A foreign page whose only credential is the cookie the browser added: refused before any hub code.
    assert await refused_status(url, origin=FOREIGN, additional_headers=cookie) == 403
    assert await refused_status(f"{allow_all.ws_url}/hubs/test", origin=FOREIGN, additional_headers=cookie) == 403
    log = wait_for_log(allow_all, f"origin '{FOREIGN}' not allowed (CORS_ALLOW_ALL_ORIGINS trusts no origin")
    assert f"origin '{FOREIGN}' not allowed (CORS_ALLOW_ALL_ORIGINS trusts no origin" in log


async def test_allow_all_accepts_a_foreign_upgrade_with_a_token(allow_all, alice_id, bob_id):
    # Browsers never add a token on their own: the page had it, so the origin does not matter.
    # The cookie sent along is not used: the connection is the token's user, never the session's.
    cookie = {"Cookie": f"sessionid={log_in(allow_all, 'bob')}"}
    token = token_for(alice_id)
    hub = await RawHub.open(
        f"{allow_all.ws_url}/hubs/private?access_token={token}", origin=FOREIGN, additional_headers=cookie
    )
    assert await hub.invoke("whoami") == str(alice_id) != str(bob_id)
    await hub.close()
    # Without cookie or token a foreign page connects anonymously, where the hub allows it.
    anonymous = await RawHub.open(f"{allow_all.ws_url}/hubs/test", origin=FOREIGN)
    assert await anonymous.invoke("whoami") is None
    await anonymous.close()


def test_allow_all_cors_answers(allow_all, alice_id):
    def grant(headers: Any) -> tuple[str | None, str | None]:
        return headers.get("Access-Control-Allow-Origin"), headers.get("Access-Control-Allow-Credentials")

    negotiate_url = f"{allow_all.url}/hubs/test/negotiate?negotiateVersion=1"
    signalr_headers = "x-requested-with,x-signalr-user-agent"
    preflight = {"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
    # What a cookie-only client asks: "*", no credentials; the browser keeps the answer from the page.
    status, headers, _ = http(
        "OPTIONS", negotiate_url, {**preflight, "Access-Control-Request-Headers": signalr_headers}
    )
    assert status == 200 and grant(headers) == ("*", None)
    cookie = f"sessionid={log_in(allow_all)}"
    status, headers, _ = http("POST", negotiate_url, {"Origin": FOREIGN, "Cookie": cookie}, b"")
    assert status == 200 and grant(headers) == ("*", None)
    # A token client: the origin with credentials (the JS client sends them by default).
    asks = {**preflight, "Access-Control-Request-Headers": f"{signalr_headers},authorization"}
    status, headers, _ = http("OPTIONS", negotiate_url, asks)
    assert status == 200 and grant(headers) == (FOREIGN, "true")
    bearer = {"Origin": FOREIGN, "Cookie": cookie, "Authorization": f"Bearer {token_for(alice_id)}"}
    status, headers, _ = http("POST", negotiate_url, bearer, b"")
    assert status == 200 and grant(headers) == (FOREIGN, "true")


def test_allow_all_in_a_real_browser(allow_all, pages, alice_id, tmp_path):
    # The official browser client on a foreign page, with its default withCredentials: the
    # token's preflight and negotiate get the origin with credentials, so it connects; the
    # direct socket carries no token and (no login on that page) no session cookie: anonymous.
    page = pages["untrusted"]
    page.config = {"hubBase": allow_all.url, "token": token_for(alice_id)}
    report = open_in_browser(page, tmp_path)
    assert report["negotiated"] == {"connected": True, "result": str(alice_id)}
    assert report["direct"] == {"connected": True, "result": None}


HIJACK_SCRIPT = """
const config = JSON.parse(document.getElementById("config").textContent);
(async () => {
  // The visitor logs in on the hub's site (here from this page: a same-site request, so
  // the browser keeps the session cookie, which is not bound to a port)...
  await fetch(config.hubBase + "/login/", {
    method: "POST", mode: "no-cors", credentials: "include",
    body: new URLSearchParams({ username: "alice", password: "alice-pw" }),
  });
  // ...and this other origin opens a socket with no token: the browser adds that cookie.
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(config.hubBase + "/hubs/private", { skipNegotiation: true, transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.None)
    .build();
  let report;
  try {
    await connection.start();
    report = { connected: true, result: await connection.invoke("whoami") };
    await connection.stop();
  } catch (error) {
    report = { connected: false, error: error.message };
  }
  await fetch("/report", { method: "POST", body: JSON.stringify(report) });
})();
"""


def test_allow_all_stops_a_real_browser_hijack_from_another_origin_of_the_site(allow_all, alice_id, tmp_path):
    # A page on the same host, another port: the same site, so SameSite=Lax does not keep the
    # cookie off its upgrade; only the origin check can.
    page = Page(host="127.0.0.1", script=HIJACK_SCRIPT)
    try:
        page.config = {"hubBase": allow_all.url}
        report = open_in_browser(page, tmp_path)
    finally:
        page.shutdown()
        page.server_close()
    assert report["connected"] is False, report
    assert "WebSocket failed to connect" in report["error"]
    log = wait_for_log(allow_all, f"origin '{page.origin}' not allowed (CORS_ALLOW_ALL_ORIGINS trusts no origin")
    assert f"origin '{page.origin}' not allowed (CORS_ALLOW_ALL_ORIGINS" in log


@pytest.fixture(scope="module")
def bob_id(live_db: Path) -> int:
    with sqlite3.connect(live_db) as db:
        return db.execute("SELECT id FROM auth_user WHERE username = 'bob'").fetchone()[0]


# --- a site on an IPv6 literal -------------------------------------------------------------------


class Ipv6Server(SecureServer):
    """Bound on ``[::1]`` only: the site's own origin is ``http://[::1]:PORT``."""

    def command(self) -> list[str]:
        if self.kind == "daphne":
            return [PYTHON, "-m", "django_hubs.extras.daphne", "-b", "::1", "-p", str(self.port), self.app]
        if self.kind == "runserver":
            return [PYTHON, "-m", "django", "runserver", f"[::1]:{self.port}", "--noreload"]
        return [str(part) if part != "127.0.0.1" else "::1" for part in super().command()]

    @property
    def url(self) -> str:
        return f"http://[::1]:{self.port}"

    def start(self) -> Ipv6Server:
        import socket

        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open by the child
        self.process = subprocess.Popen(
            self.command(), cwd=self.env["PYTHONPATH"], env=self.env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"the server exited:\n{self.log()}"
            with socket.socket(socket.AF_INET6) as probe:
                if probe.connect_ex(("::1", self.port)) == 0:
                    return self
            assert time.monotonic() < deadline, f"nothing listens on [::1]:{self.port}"
            time.sleep(0.05)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn", "runserver"])
async def test_a_site_on_an_ipv6_literal_accepts_its_own_pages(kind, live_db, log_dir):
    env = {"HUBS_TEST_DB": str(live_db), "HUBS_TEST_URLCONF": "tests.interop.security_urls"}
    if kind == "runserver":
        env["HUBS_TEST_RUNSERVER"] = "1"
    server = Ipv6Server(kind, log_dir, env=env).start()
    try:
        url = f"{server.ws_url}/hubs/test"
        hub = await RawHub.open(url, origin=server.url)  # Host: [::1]:PORT, Origin: http://[::1]:PORT
        assert await hub.invoke("add", 1, 2) == 3
        await hub.close()
        # An Origin without the port names port 80: another origin, as browsers define it.
        assert await refused_status(url, origin="http://[::1]") == 403
        assert await refused_status(url, origin=f"http://[::2]:{server.port}") == 403
    finally:
        server.stop()


# --- a logout ends the session's hub connections -------------------------------------------------


async def test_logout_in_another_request_closes_the_sessions_hub_connection(server, alice_id):
    cookie = {"Cookie": f"sessionid={log_in(server)}"}
    url = f"{server.ws_url}/hubs/private"
    hub = await RawHub.open(url, origin=server.url, additional_headers=cookie)
    assert await hub.invoke("whoami") == str(alice_id)
    # The browser logs out in another tab: a request of its own, to a Django view.
    assert http("POST", f"{server.url}/logout/", cookie, b"")[0] == 200
    assert await hub.next() == {"type": 7}  # no error, no allowReconnect: onclose, no silent reconnect
    assert await hub.closed()
    # The cookie logs no one in any more: the hub that needs a user refuses it.
    assert await refused_status(url, origin=server.url, additional_headers=cookie) == refusal(server, 401)
    log = wait_for_log(server, "its session ended (the user logged out)")
    assert "its session ended (the user logged out)" in log
    assert cookie["Cookie"].split("=")[1] not in log


def test_logout_ends_a_server_sent_events_stream(server, alice_id):
    # Sends and polls are checked against the user on every request; an SSE stream is one
    # request that would go on delivering to the logged-out browser.
    from http.client import HTTPConnection

    cookie = {"Cookie": f"sessionid={log_in(server)}"}
    status, _, body = http("POST", f"{server.url}/hubs/private/negotiate?negotiateVersion=1", cookie, b"")
    assert status == 200
    path = f"/hubs/private?id={json.loads(body)['connectionToken']}"
    stream = HTTPConnection("127.0.0.1", server.port, timeout=10)
    stream.request("GET", path, headers={**cookie, "Accept": "text/event-stream"})
    response = stream.getresponse()
    assert response.status == 200

    def events() -> Iterator[Any]:
        for line in iter(response.readline, b""):
            if line.startswith(b"data: "):
                yield from (json.loads(r) for r in line[len(b"data: ") :].decode().rstrip("\r\n").split(RS) if r)

    received = events()
    handshake = json.dumps({"protocol": "json", "version": 1}) + RS
    assert http("POST", f"{server.url}{path}", cookie, handshake.encode())[0] == 200
    assert next(received) == {}
    invocation = json.dumps({"type": 1, "invocationId": "1", "target": "whoami", "arguments": []}) + RS
    assert http("POST", f"{server.url}{path}", cookie, invocation.encode())[0] == 200
    assert next(received) == {"type": 3, "invocationId": "1", "result": str(alice_id)}
    assert http("POST", f"{server.url}/logout/", cookie, b"")[0] == 200
    assert next(received) == {"type": 7}
    assert list(received) == []  # and the stream ends
    stream.close()


async def test_a_password_change_closes_the_connections_of_the_sessions_it_ended(server, alice_id):
    url = f"{server.ws_url}/hubs/private"
    mine, other = {"Cookie": f"sessionid={log_in(server)}"}, {"Cookie": f"sessionid={log_in(server)}"}
    hubs = [await RawHub.open(url, origin=server.url, additional_headers=cookie) for cookie in (mine, other)]
    for hub in hubs:
        assert await hub.invoke("whoami") == str(alice_id)
    # The same password again: a new salt, so a new session auth hash, as with any change.
    status, answer, _ = http("POST", f"{server.url}/password/", {**mine, **FORM}, b"password=alice-pw")
    assert status == 200
    for hub in hubs:
        assert await hub.next() == {"type": 7, "allowReconnect": True}
        assert await hub.closed()
    # The browser that changed it got a new cookie and stays logged in; the other one is out.
    again = await RawHub.open(
        url, origin=server.url, additional_headers={"Cookie": f"sessionid={session_cookie(answer)}"}
    )
    assert await again.invoke("whoami") == str(alice_id)
    await again.close()
    assert await refused_status(url, origin=server.url, additional_headers=other) == refusal(server, 401)
    assert "the user's password changed" in wait_for_log(server, "the user's password changed")


async def test_logout_and_password_change_reach_connections_held_by_another_process(live_db, log_dir, alice_id):
    from .live import RedisServer

    redis = RedisServer(log_dir).start()
    servers = [start(kind, live_db, log_dir, HUBS_TEST_REDIS_URL=redis.url) for kind in ("daphne", "uvicorn")]
    try:
        views, hubs = servers
        cookie = {"Cookie": f"sessionid={log_in(views)}"}
        hub = await RawHub.open(f"{hubs.ws_url}/hubs/private", origin=hubs.url, additional_headers=cookie)
        assert await hub.invoke("whoami") == str(alice_id)
        # The logout view runs in one process; the socket is held by the other.
        assert http("POST", f"{views.url}/logout/", cookie, b"")[0] == 200
        assert await hub.next() == {"type": 7}
        assert await hub.closed()
        # Likewise a password change.
        cookie = {"Cookie": f"sessionid={log_in(views)}"}
        hub = await RawHub.open(f"{hubs.ws_url}/hubs/private", origin=hubs.url, additional_headers=cookie)
        assert await hub.invoke("whoami") == str(alice_id)
        assert http("POST", f"{views.url}/password/", {**cookie, **FORM}, b"password=alice-pw")[0] == 200
        assert await hub.next() == {"type": 7, "allowReconnect": True}
        assert await hub.closed()
    finally:
        for live in servers:
            live.stop()
        redis.stop()
