"""A clean Server-Sent Events or long-polling disconnect leaves no "Not Found" warning in the log.

The tutorial's project (``DEBUG = True``, no ``LOGGING``) under daphne's command: Django's
``django`` console handler and daphne's root handler both print ``django.request``'s warnings,
so each 404 used to show as two ``Not Found: /hubs/chat`` lines. The official JS client's stop()
makes such a 404 whenever its unawaited Close message or its DELETE arrives after the
connection ended; the raw steps below make it every time, in the order the client can.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .live import ROOT, LiveServer, run_node

TUTORIAL = ROOT / "docs" / "examples" / "chat_tutorial"
RS = "\x1e"
NOT_FOUND = "Not Found: /hubs/chat"

pytestmark = pytest.mark.interop


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        "daphne",
        tmp_path,
        app="mysite.asgi:application",
        settings="mysite.settings",
        env={"PYTHONPATH": f"{TUTORIAL}:{ROOT}"},
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def request(server: LiveServer, method: str, path: str, body: str = "", **headers: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def negotiate(server: LiveServer) -> str:
    status, body = request(server, "POST", "/hubs/chat/negotiate?negotiateVersion=1")
    assert status == 200, body
    return json.loads(body)["connectionToken"]


def handshake_and_close(server: LiveServer, token: str) -> None:
    assert (
        request(server, "POST", f"/hubs/chat?id={token}", json.dumps({"protocol": "json", "version": 1}) + RS)[0] == 200
    )


def test_long_polling_delete_after_the_last_poll(server: LiveServer) -> None:
    token = negotiate(server)
    assert request(server, "GET", f"/hubs/chat?id={token}")[0] == 200  # starts the connection
    handshake_and_close(server, token)
    assert request(server, "GET", f"/hubs/chat?id={token}") == (200, b"{}" + RS.encode())
    assert request(server, "POST", f"/hubs/chat?id={token}", json.dumps({"type": 7}) + RS)[0] == 200
    # Polls take what is left (the hub's Close, if any) until the last one ends the connection with 204.
    statuses = []
    while 204 not in statuses and len(statuses) < 5:
        statuses.append(request(server, "GET", f"/hubs/chat?id={token}")[0])
    assert statuses[-1] == 204, statuses
    assert request(server, "DELETE", f"/hubs/chat?id={token}") == (404, b"No Connection with that ID")
    server.stop()
    log = server.log()
    assert "disconnected" in log and NOT_FOUND not in log, log


def test_server_sent_events_close_message_after_the_stream_ended(server: LiveServer) -> None:
    token = negotiate(server)
    stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        stream.request("GET", f"/hubs/chat?id={token}", headers={"Accept": "text/event-stream"})
        response = stream.getresponse()
        assert response.status == 200
        handshake_and_close(server, token)
        assert response.read1(100).startswith(b":")  # the opening comment, or more
        stream.close()  # the client closes its EventSource: the stream ends the connection
        # Its Close message, posted without waiting, arrives afterwards.
        status = 0
        for _ in range(50):  # bounded: until the server has seen the stream go
            status = request(server, "POST", f"/hubs/chat?id={token}", json.dumps({"type": 7}) + RS)[0]
            if status == 404:
                break
        assert status == 404
    finally:
        stream.close()
    server.stop()
    log = server.log()
    assert "disconnected" in log and NOT_FOUND not in log, log


def test_the_official_client_stops_cleanly(server: LiveServer) -> None:
    for transport in ("ServerSentEvents", "LongPolling") * 3:
        result = run_node("clean_stop.mjs", json.dumps({"url": f"{server.url}/hubs/chat", "transport": transport}))
        assert result["received"] == [["ada", "bye"]] and result["state"] == "Disconnected"
    server.stop()
    log = server.log()
    assert log.count(" disconnected ") == 6 and NOT_FOUND not in log, log
