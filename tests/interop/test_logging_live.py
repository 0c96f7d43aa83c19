"""No token in any log, under every server as users run it, with a project's own ``LOGGING``.

Each server is started the way README and daphne's documentation say, at its most verbose,
with ``tests.interop.logging_settings`` (console and file handlers of the project's own).
Real traffic carries tokens in URLs and headers: negotiate, WebSockets with ``access_token``
and ``id``, Server-Sent Events, long polling, a 404, a percent-encoded token, a JWT as an
invocation argument. Then stdout, stderr, daphne's access-log file and the project's log file
are searched for every token: none may appear, whole or by its signature.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from .live import BIN, PYTHON, ROOT, free_port, wait_for_port
from .test_security import RS, RawHub, alice_id, forged_token, token_for  # noqa: F401 - alice_id is a fixture

pytestmark = pytest.mark.interop

#: How each server is started: the commands of README and of the servers' own documentation.
COMMANDS = {
    "runserver": lambda port, _: [PYTHON, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload", "-v", "2"],
    "daphne": lambda port, access: [
        str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "--access-log", "-", "-v", "2", "tests.asgi:application"
    ],
    "daphne-access-file": lambda port, access: [
        str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "--access-log", str(access), "tests.asgi:application"
    ],
    "django_hubs.extras.daphne": lambda port, access: [
        PYTHON, "-m", "django_hubs.extras.daphne", "-b", "127.0.0.1", "-p", str(port), "--access-log", "-", "-v", "2",
        "tests.asgi:application",
    ],
    "uvicorn": lambda port, _: [
        str(BIN / "uvicorn"), "tests.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--access-log", "--log-level", "trace", "--ws", "websockets-sansio", "--lifespan", "off",
    ],
}  # fmt: skip


class Server:
    def __init__(self, kind: str, directory: Path, live_db: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.directory = directory
        self.files = {name: directory / f"{kind}-{self.port}.{name}" for name in ("stdout", "stderr", "log", "access")}
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.interop.logging_settings",
            "HUBS_TEST_LOG_FILE": str(self.files["log"]),
            "HUBS_TEST_DB": str(live_db),
            "HUBS_TEST_URLCONF": "tests.interop.security_urls",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **({"HUBS_TEST_RUNSERVER": "1"} if kind == "runserver" else {}),
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        with open(self.files["stdout"], "wb") as stdout, open(self.files["stderr"], "wb") as stderr:
            self.process = subprocess.Popen(
                COMMANDS[self.kind](self.port, self.files["access"]),
                cwd=ROOT,
                env=self.env,
                stdout=stdout,
                stderr=stderr,
            )
        wait_for_port(self.port, process=self.process)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def outputs(self) -> dict[str, str]:
        return {name: path.read_text(errors="replace") for name, path in self.files.items() if path.exists()}


def request(
    server: Server, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(method, path, body=body or None, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def negotiate(server: Server, hub: str, query: str = "", headers: dict[str, str] | None = None) -> str:
    status, body = request(server, "POST", f"/{hub}/negotiate?negotiateVersion=1{query}", headers)
    assert status == 200, body
    return json.loads(body)["connectionToken"]


HANDSHAKE = (json.dumps({"protocol": "json", "version": 1}) + RS).encode()


async def drive(server: Server, token: str, forged: str) -> list[str]:
    """Traffic with tokens everywhere a client puts them; the connection tokens it used."""
    ws = "ws" + server.url.removeprefix("http")
    bearer = {"Authorization": f"Bearer {token}"}
    used = []
    # Negotiate with the header (every client) and with the query parameter; a WebSocket with both tokens.
    used.append(negotiate(server, "hubs/private", headers=bearer))
    hub = await RawHub.open(f"{ws}/hubs/private?id={used[-1]}&access_token={token}", additional_headers=bearer)
    assert await hub.invoke("whoami") is not None
    await hub.close()
    # Invocation logging with arguments: a JWT argument, and one long enough to be shortened.
    used.append(negotiate(server, "hubs/test", headers=bearer))
    hub = await RawHub.open(f"{ws}/hubs/test?id={used[-1]}&access_token={token}")
    assert await hub.invoke("echo", token) == token
    long = f"{'x' * 150}{token}{'y' * 150}"
    assert await hub.invoke("echo", {"token": token, "long": long}) == {"token": token, "long": long}
    await hub.close()
    # Percent-encoded: the server decodes it and authenticates, so the log must not show it.
    encoded = quote(token[0]) if token[0] != "e" else "%65"
    used.append(negotiate(server, "hubs/private", headers=bearer))
    hub = await RawHub.open(f"{ws}/hubs/private?%69d={used[-1]}&access%5Ftoken={encoded}{token[1:]}")
    assert await hub.invoke("whoami") is not None
    await hub.close()
    # Server-Sent Events: the stream, the handshake sent beside it, then the end.
    used.append(negotiate(server, "hubs/private", headers=bearer))
    query = f"?id={used[-1]}&access_token={token}"
    stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    stream.request("GET", f"/hubs/private{query}", headers={"Accept": "text/event-stream"})
    response = stream.getresponse()
    assert response.status == 200
    assert request(server, "POST", f"/hubs/private{query}", bearer, HANDSHAKE)[0] == 200
    assert response.readline()  # the handshake's answer arrives on the stream
    stream.close()  # an SSE client leaves by closing its stream
    # Long polling, the token in the header as its clients send it, and in the URL.
    used.append(negotiate(server, "hubs/private", headers=bearer))
    query = f"?id={used[-1]}&access_token={token}"
    assert request(server, "POST", f"/hubs/private{query}", bearer, HANDSHAKE)[0] == 200
    assert request(server, "GET", f"/hubs/private{query}", bearer)[0] == 200
    assert request(server, "DELETE", f"/hubs/private{query}", bearer)[0] in (200, 202, 204)
    # Negotiate reads the header only: with the token in its URL it is refused, and logged.
    assert request(server, "POST", f"/hubs/private/negotiate?negotiateVersion=1&access_token={token}")[0] == 401
    # A refused token, a 404 and a 500 of the site with tokens in their URLs.
    assert request(server, "GET", f"/hubs/test?id=nope&access_token={forged}")[0] == 401
    assert request(server, "GET", f"/no/such/page/?id={used[0]}&access_token={token}", bearer)[0] == 404
    assert request(server, "GET", f"/boom/?access_token={token}")[0] == 500
    # A handshake whose protocol name tries to start a log line of its own.
    forging = await RawHub.open(f"{ws}/hubs/test", handshake=False)
    await forging.socket.send(json.dumps({"protocol": "json\nFORGED-LINE x", "version": 1}) + RS)
    assert "error" in await forging.next(include_pings=True)
    await forging.close()
    return used


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logging-live")


@pytest.mark.parametrize("kind", list(COMMANDS))
async def test_no_token_in_any_output(kind: str, live_db: Path, logs: Path, alice_id: int) -> None:  # noqa: F811
    token, forged = token_for(alice_id), forged_token(alice_id)
    with Server(kind, logs, live_db) as server:
        used = await drive(server, token, forged)
    outputs = server.outputs()
    everything = "\n".join(outputs.values())
    # The lines are there (the traffic was logged), with the values redacted...
    assert "/hubs/private" in everything and "/no/such/page/" in everything
    assert "access_token=[REDACTED]" in everything
    assert "invoked hubs/test.echo" in everything
    assert "handshake refused" in everything
    # ...and no token, whole or by its signature, in any output.
    secrets = {"token": token, "signature": token.split(".")[2], "forged": forged.split(".")[2]}
    secrets |= {f"connection token {n}": used_token for n, used_token in enumerate(used)}
    leaks = [
        (name, secret_name)
        for name, text in outputs.items()
        for secret_name, secret in secrets.items()
        if secret in text
    ]
    assert leaks == []
    assert not any(line.startswith("FORGED-LINE") for line in everything.splitlines())
