"""The hub core driven by the official JavaScript client (@microsoft/signalr in Node).

Each Node script groups many checks on one or a few connections and prints one JSON
report; the tests here assert on it. Scripts run once per live server (daphne, then
uvicorn), so module-scoped fixtures cache each report and several tests read it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from .live import INTEROP, NODE_MODULES, PYTHON, ROOT, LiveServer, require_tool, run_node

pytestmark = pytest.mark.interop

#: Nested JSON with text that needs escaping: accents, CJK, an astral-plane emoji, the
#: record separator itself, quotes and a backslash.
ECHO_VALUE = {
    "nested": [1, "two", None, {"deep": [True, False, 1.5, -7]}],
    "text": 'é 中文 😀 \u001e "quoted" \\ end',
    "empty": {},
    "list": [],
}

GENERIC_FAIL = "An unexpected error occurred invoking 'fail' on the server."
ROOM_IS_FULL = "An unexpected error occurred invoking 'refuse' on the server. HubException: Room is full"
NO_SUCH_METHOD = "Failed to invoke 'nope' due to an error on the server. HubException: Method does not exist."
BINDING_ADD = "Failed to invoke 'add' due to an error on the server."
STREAM_AS_INVOKE = "The client attempted to invoke the streaming 'counter' method with a non-streaming invocation."
SECRET_REFUSED = "Failed to invoke 'secret' because user is unauthorized"


def node(script: str, **options: Any) -> Any:
    return run_node(script, json.dumps(options))


# --- invocations, sends and error texts --------------------------------------------------


@pytest.fixture(scope="module")
def invoked(server: LiveServer) -> dict[str, Any]:
    return node(
        "invoke.mjs",
        url=f"{server.url}/hubs/test",
        detailedUrl=f"{server.url}/hubs/detailed",
        value=ECHO_VALUE,
    )


def test_invoke_returns_results(invoked: dict[str, Any]) -> None:
    assert invoked["add"] == 3
    assert invoked["addLower"] == 42
    assert invoked["echo"] == ECHO_VALUE
    assert invoked["nothing"] is None


def test_method_names_fold_case_and_underscores(invoked: dict[str, Any]) -> None:
    assert invoked["folded"] == [invoked["connectionId"]] * 3
    # send_message, SendMessage and sendMessage all reached TestHub.send_message.
    assert invoked["messages"] == [["u", "one"], ["u", "two"], ["u", "three"]]


def test_sends_get_no_completion(invoked: dict[str, Any]) -> None:
    wire = invoked["wire"]
    assert wire["handshakeReply"] == {}
    assert wire["sendTargets"] == [
        "send_message",
        "SendMessage",
        "sendMessage",
        "echo",
        "fail",
        "nope",
        "add",
        "counter",
    ]
    # One Completion per invoke, none for the sends (even failing or unknown ones).
    assert wire["completionIds"] == wire["invokeIds"]
    assert len(wire["invokeIds"]) == len(set(wire["invokeIds"])) > 0
    assert wire["serverTargets"] == ["ReceiveMessage"] * 3
    assert wire["otherTypes"] == []
    assert wire["close"] == []
    assert invoked["stillConnected"] == 4


def test_error_texts_without_details(invoked: dict[str, Any]) -> None:
    errors = invoked["errors"]
    assert errors == {
        "fail": [GENERIC_FAIL, True],
        "refuse": [ROOM_IS_FULL, True],
        "unknown": [NO_SUCH_METHOD, True],
        "tooFew": [BINDING_ADD, True],
        "tooMany": [BINDING_ADD, True],
        "wrongType": [BINDING_ADD, True],
        "streamAsInvoke": [STREAM_AS_INVOKE, True],
        "secret": [SECRET_REFUSED, True],
    }
    assert "secret detail" not in json.dumps(errors)


def test_error_texts_with_details(invoked: dict[str, Any]) -> None:
    assert invoked["detailed"] == {
        "fail": [f"{GENERIC_FAIL} ValueError: secret detail", True],
        "refuse": [ROOM_IS_FULL, True],
        "unknown": [NO_SUCH_METHOD, True],
        "tooFew": [
            f"{BINDING_ADD} InvalidDataException: Invocation provides 1 argument(s) but target expects 2.",
            True,
        ],
        "wrongType": [
            f"{BINDING_ADD} InvalidDataException: Error binding argument 2. Make sure that the types of the "
            "provided values match the types of the hub method being invoked. Argument 'b': expected int, got str.",
            True,
        ],
        "streamAsInvoke": [STREAM_AS_INVOKE, True],
        "secret": [SECRET_REFUSED, True],
    }


# --- fan-out and groups ----------------------------------------------------------------------


def test_every_way_of_addressing_clients(server: LiveServer) -> None:
    report = node("fanout.mjs", url=f"{server.url}/hubs/test")
    assert len(set(report["ids"].values())) == 3
    assert report["received"] == {
        "a": [
            "all m0",
            "caller m2",
            "connections m4",
            "all_except m5",
            "group:g1 m6",
            "groups m7",
            "group:g1 m10",
            "group:g1 m11",
            "groups m13",
        ],
        "b": [
            "all m0",
            "others m1",
            "connections m4",
            "group:g1 m6",
            "groups m7",
            "group_except m8",
            "others_in_group m9",
        ],
        "c": ["all m0", "others m1", "client m3", "all_except m5", "groups m7"],
    }


# --- lifecycle: greeting, abort, failing OnConnected, skipNegotiation --------------------


@pytest.fixture(scope="module")
def lifecycle(server: LiveServer) -> dict[str, Any]:
    return node("lifecycle.mjs", url=f"{server.url}/hubs/test")


def test_on_connected_greeting_arrives_first(lifecycle: dict[str, Any]) -> None:
    greet = lifecycle["greet"]
    assert greet["welcomes"] == [greet["connectionId"]]
    assert greet["firstRecords"] == [{}, {"type": 1, "target": "Welcome", "arguments": [greet["connectionId"]]}]
    assert greet["add"] == 2


def test_hub_abort_closes_without_reconnect(lifecycle: dict[str, Any]) -> None:
    abort = lifecycle["abort"]
    assert abort["closeRecords"] == [{"type": 7}]
    assert abort["events"] == {"reconnecting": 0, "reconnected": 0, "closes": [None]}
    assert abort["state"] == "Disconnected"
    # The Close overtakes the Completion, so the pending invoke is cancelled by the client.
    assert abort["invokeError"] == "Invocation canceled due to the underlying connection being closed."


def test_failing_on_connected_closes_with_error_without_reconnect(lifecycle: dict[str, Any]) -> None:
    failed = lifecycle["failConnect"]
    assert failed["error"] == "Server returned an error on close: Connection closed with an error."
    assert failed["closeRecords"] == [{"type": 7, "error": "Connection closed with an error."}]
    assert failed["events"]["reconnecting"] == 0
    assert failed["events"]["reconnected"] == 0
    assert failed["state"] == "Disconnected"


def test_skip_negotiation_connects_over_websockets(lifecycle: dict[str, Any]) -> None:
    skipped = lifecycle["skipNegotiation"]
    assert skipped["connectionId"] is None
    assert skipped["add"] == 42
    assert isinstance(skipped["serverConnectionId"], str) and len(skipped["serverConnectionId"]) == 22


# --- keep-alive, and reconnect after the server restarts ---------------------------------


def run_node_around_restart(script: str, options: dict[str, Any], server: LiveServer, log: Path) -> Any:
    """Run a script that prints ``{"ready": ...}``, restart ``server`` then, return its last JSON."""
    binary = require_tool("node")
    if not (NODE_MODULES / "@microsoft" / "signalr").exists():
        pytest.fail("npm packages are missing: run `npm ci --prefix tests/interop`")
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [binary, str(INTEROP / "js" / script), json.dumps(options)],
            cwd=INTEROP,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith('{"ready"'):
                server.restart()
                break
        lines += process.stdout.readlines()
        process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)
    if process.returncode != 0:
        raise AssertionError(f"{script} failed ({process.returncode}):\n{output}\n{log.read_text()}")
    return json.loads([line for line in lines if line.strip()][-1])


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_keep_alive_then_reconnect_after_server_restart(kind: str, make_server: Any, tmp_path: Path) -> None:
    server = make_server(kind, HUBS_KEEP_ALIVE_INTERVAL="1")
    report = run_node_around_restart(
        "keepalive_reconnect.mjs",
        {"url": f"{server.url}/hubs/test", "serverTimeoutMs": 3000, "idleMs": 5000},
        server,
        tmp_path / "node.log",
    )
    idle = report["idle"]
    # Idle for longer than the client's 3 s server timeout: the server's pings kept it open.
    assert idle["serverTimeoutInMilliseconds"] == 3000
    assert idle["state"] == "Connected"
    assert idle["events"] == {"order": [], "reconnecting": [], "reconnected": [], "closes": []}
    assert idle["pingsReceived"] >= 1
    assert idle["add"] == 3

    events = report["events"]
    assert events["order"] == ["reconnecting", "reconnected"]
    assert events["reconnected"] == [report["connectionId"]]
    assert report["state"] == "Connected"
    assert report["connectionId"] != report["firstId"]
    assert report["afterReconnect"] == report["connectionId"]


# --- users, with access tokens -----------------------------------------------------------------


@pytest.fixture(scope="module")
def accounts(live_db: Path) -> dict[str, dict[str, str]]:
    """A simplejwt access token and the primary key of alice and bob, minted in a subprocess."""
    script = (
        "import json;"
        "from rest_framework_simplejwt.tokens import AccessToken;"
        "from django.contrib.auth.models import User;"
        "users = {name: User.objects.get(username=name) for name in ('alice', 'bob')};"
        "print(json.dumps({name: {'token': str(AccessToken.for_user(u)), 'id': str(u.pk)} for name, u in users.items()}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HUBS_TEST_DB": str(live_db),
        "PYTHONPATH": str(ROOT),
    }
    completed = subprocess.run(
        [PYTHON, "-m", "django", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_user_addressing_reaches_every_connection_of_a_user(
    server: LiveServer, accounts: dict[str, dict[str, str]]
) -> None:
    tokens = {name: account["token"] for name, account in accounts.items()}
    report = node("users.mjs", url=f"{server.url}/hubs/test", tokens=tokens)
    alice, bob = accounts["alice"]["id"], accounts["bob"]["id"]
    assert report["who"] == {"alice1": alice, "alice2": alice, "bob": bob}, "the access tokens were not honoured"
    assert report["received"] == {
        "alice1": ["user u1", "user u2", "users u4"],
        "alice2": ["user u1", "user u2", "users u4"],
        "bob": ["user u3", "users u4", "users u5"],
    }
    assert report["authorization"] == {
        "aliceSecret": {"value": "for members"},
        "aliceModerate": {"error": "Failed to invoke 'moderate' because user is unauthorized"},
        "bobModerate": {"value": "moderated"},
        "aliceAfter": {"value": 2},
    }


# --- a stream disposed at once, and datetimes ------------------------------------------------


@pytest.fixture(scope="module")
def disposed(server: LiveServer) -> dict[str, Any]:
    return node("dispose_dates.mjs", url=f"{server.url}/hubs/test")


def test_a_stream_disposed_at_once_is_ended_by_the_server(disposed: dict[str, Any]) -> None:
    """subscribe() then dispose() at once: the server still ends the stream with a Completion
    and holds nothing open, with either protocol (the client sends the two messages back to back)."""
    for protocol in ("json", "messagepack"):
        seen = disposed[protocol]
        assert (seen["openStreams"], seen["itemsAfterDispose"], seen["counter"]) == (0, 0, [0, 1, 2]), protocol
    wire = disposed["json"]
    assert wire["cancelSent"] is True
    completion = wire["completion"]
    assert completion is not None and "error" not in completion and "result" not in completion


def test_datetimes_reach_the_js_client_as_the_official_server_writes_them(disposed: dict[str, Any]) -> None:
    # JSON: ISO 8601 text, UTC with "Z" (System.Text.Json), not "+00:00".
    assert disposed["json"]["nextDay"] == "2000-01-02T00:00:00Z"
    assert disposed["json"]["nextDayOnTheWire"] == "2000-01-02T00:00:00Z"
    assert disposed["json"]["nextDayKind"] == "string"
    # MessagePack: the timestamp extension (-1), which the client reads as a Date, milliseconds kept.
    assert disposed["messagepack"]["nextDayKind"] == "Date"
    assert disposed["messagepack"]["nextDay"] == "2000-01-02T00:00:00.250Z"
