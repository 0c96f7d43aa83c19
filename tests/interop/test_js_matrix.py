"""The interop matrix: every hub feature, over every transport and protocol, with the official JS client.

Cells are {WebSockets, ServerSentEvents, LongPolling} x {json, messagepack}, less
ServerSentEvents with messagepack: SSE carries text only, and the client refuses that
pairing before any request (tests/interop/test_js_transports.py shows it). Each cell runs
js/matrix.mjs once per live server (daphne, then uvicorn) against the same TestHub, which
never looks at its transport or protocol; the report is cached and the tests below read it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .live import LiveServer, run_node

pytestmark = pytest.mark.interop

CELLS = [
    ("WebSockets", "json"),
    ("WebSockets", "messagepack"),
    ("ServerSentEvents", "json"),
    ("LongPolling", "json"),
    ("LongPolling", "messagepack"),
]

STREAM_FAILED = "An error occurred on the server while streaming results."
NOT_A_RESULT = "Client didn't provide a result."


@pytest.fixture(scope="module", params=CELLS, ids=[f"{t}-{p}" for t, p in CELLS])
def cell(request: pytest.FixtureRequest, server: LiveServer) -> dict[str, Any]:
    transport, protocol = request.param
    options = {
        "url": f"{server.url}/hubs/test",
        "detailedUrl": f"{server.url}/hubs/detailed",
        "transport": transport,
        "protocol": protocol,
    }
    report = run_node("matrix.mjs", json.dumps(options))
    report["cell"] = {"transport": transport, "protocol": protocol}
    return report


def items(events: list[list[Any]]) -> list[Any]:
    return [event[1] for event in events if event[0] == "next"]


# --- the cell is what it claims, and hub code is the same everywhere --------------------------


def test_the_hub_runs_over_the_cells_transport_and_protocol(cell: dict[str, Any]) -> None:
    # The client was pinned to one transport and protocol (no fallback), and the server agrees.
    assert cell["seenByHub"] == cell["cell"]


# --- invoke, send, on --------------------------------------------------------------------------


def test_invoke_returns_results(cell: dict[str, Any]) -> None:
    invoke = cell["invoke"]
    assert invoke["add"] == 3
    assert invoke["echoMatches"] is True, invoke["echo"]
    assert invoke["nothing"] is None
    assert invoke["countUsers"] == 2  # a sync hub method, in a thread, with the ORM


def test_messagepack_carries_binary(cell: dict[str, Any]) -> None:
    if cell["cell"]["protocol"] != "messagepack":
        assert "bytes" not in cell["invoke"]
        return
    assert cell["invoke"]["bytes"] == [True, [0, 1, 254, 255]]


def test_send_reaches_handlers_registered_in_any_case(cell: dict[str, Any]) -> None:
    expected = [["a", "sent by a"], ["b", "invoked by b"]]
    assert cell["send"] == {"a": expected, "b": expected}


# --- server-to-client streams --------------------------------------------------------------------


def test_stream_items_arrive_in_order_then_completion(cell: dict[str, Any]) -> None:
    stream = cell["stream"]
    assert stream["counter"] == [["next", i] for i in range(5)] + [["complete"]]
    assert stream["values"] == [
        ["next", None],
        ["next", {"a": [1, None]}],
        ["next", "é\u001e"],
        ["next", 1.5],
        ["next", True],
        ["next", ""],
        ["complete"],
    ]
    assert stream["returned"] == [["next", 0], ["next", 1], ["next", 2], ["complete"]]  # a returned async iterable


def test_stream_failing_mid_way_delivers_earlier_items_then_the_error(cell: dict[str, Any]) -> None:
    stream = cell["stream"]
    assert stream["failing"] == [["next", 0], ["next", 1], ["next", 2], ["error", STREAM_FAILED]]
    assert stream["failingHubError"] == [
        ["next", 0],
        ["next", 1],
        ["error", f"{STREAM_FAILED} HubException: stream refused"],
    ]
    assert stream["failingDetailed"] == [
        ["next", 0],
        ["next", 1],
        ["error", f"{STREAM_FAILED} ValueError: stream secret"],
    ]


def test_dispose_cancels_the_stream_and_its_finally_runs(cell: dict[str, Any]) -> None:
    dispose = cell["stream"]["dispose"]
    # Read once the generator had closed: nothing reached the subscriber after dispose().
    assert dispose["events"] == [["next", 0], ["next", 1], ["next", 2]]
    state = dispose["state"]
    assert state["closed"] is True  # its finally ran
    assert state["exit"] == "CancelledError"  # the cancel reached it at its await, not at a yield
    assert state["yielded"] >= 3


def test_invoke_and_stream_of_the_wrong_kind_of_method(cell: dict[str, Any]) -> None:
    stream = cell["stream"]
    assert stream["invokeStreaming"] == (
        "The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation."
    )
    assert stream["streamPlain"] == [
        ["error", "The client attempted to invoke the non-streaming 'Add' method with a streaming invocation."]
    ]
    assert stream["streamUploadMethod"] == [
        ["error", "The client attempted to invoke the non-streaming 'UploadSum' method with a streaming invocation."]
    ]


# --- client-to-server streams ---------------------------------------------------------------------


def test_uploads_with_subjects(cell: dict[str, Any]) -> None:
    upload = cell["upload"]
    assert upload["sum"] == 10
    assert upload["pair"] == {"sum": 6, "words": "x+y"}  # two streams in one invocation
    assert upload["doubled"] == [["next", 2], ["next", 4], ["next", 6], ["complete"]]  # a stream in, a stream out
    assert upload["send"] == {"items": ["s1", None], "end": "completed"}  # send(): no id, still consumed


def test_upload_ended_with_an_error_by_the_client(cell: dict[str, Any]) -> None:
    ended = cell["upload"]["clientError"]
    assert ended["state"] == {"items": [1], "end": "HubError: client boom"}
    assert (
        ended["error"]
        == "An unexpected error occurred invoking 'UploadRecord' on the server. HubException: client boom"
    )


def test_client_leaving_mid_upload_ends_the_hub_iterator(cell: dict[str, Any]) -> None:
    gone = cell["upload"]["disconnect"]
    assert gone["before"] == {"items": [1, 2], "end": None}
    assert gone["after"] == {"items": [1, 2], "end": "ConnectionError: The underlying connection was closed."}
    assert gone["callError"] == "Invocation canceled due to the underlying connection being closed."


# --- client results -------------------------------------------------------------------------------


def test_client_results_return_handler_values(cell: dict[str, Any]) -> None:
    results = cell["clientResults"]
    assert results["caller"] == "a answers q1"
    assert results["other"] == "a answers q2"  # asked from another connection's hub method
    assert results["asyncHandler"] == {"result": {"from": "a", "question": "q3", "list": [1, None, "x"]}}
    assert results["asyncHandlerOther"] == {"result": {"from": "a", "question": "q4", "list": [1, None, "x"]}}


def test_client_result_failures_seen_by_the_hub(cell: dict[str, Any]) -> None:
    results = cell["clientResults"]
    assert results["throws"] == {"error": "HubError: Error: client boom"}
    assert results["undefinedResult"] == {"error": f"HubError: {NOT_A_RESULT}"}
    assert results["noHandler"] == {"error": f"HubError: {NOT_A_RESULT}"}
    assert results["unknownConnection"] == {"error": "HubError: Connection 'no-such-connection' does not exist."}
    assert results["timeout"] == {
        "error": f"TimeoutError: Client '{cell['connectionId']}' did not return a result for 'AskLate' within 0.2 s."
    }
    disconnected = results["disconnected"]
    assert disconnected["seen"] == {"error": f"HubError: Connection '{disconnected['connectionId']}' disconnected."}
    # The answer that came after the timeout was dropped, and the connection carried on.
    assert results["afterLateAnswer"] == 42


def test_client_result_error_reaches_the_invoking_client(cell: dict[str, Any]) -> None:
    assert cell["clientResults"]["noHandlerRaw"] == (
        f"An unexpected error occurred invoking 'AskClient' on the server. HubException: {NOT_A_RESULT}"
    )


# --- errors and closes ----------------------------------------------------------------------------


def test_error_texts(cell: dict[str, Any]) -> None:
    assert cell["errors"] == {
        "fail": "An unexpected error occurred invoking 'Fail' on the server.",
        "refuse": "An unexpected error occurred invoking 'Refuse' on the server. HubException: Room is full",
        "unknown": "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.",
        "tooFew": "Failed to invoke 'Add' due to an error on the server.",
        "wrongType": "Failed to invoke 'Add' due to an error on the server.",
        "secret": "Failed to invoke 'Secret' because user is unauthorized",
        "stillWorks": 4,  # after sends of a failing and of a streaming method, which answer nothing
    }


def test_closes(cell: dict[str, Any]) -> None:
    close = cell["close"]
    assert close["abort"] == {
        "invokeError": "Invocation canceled due to the underlying connection being closed.",
        "closes": [None],
        "state": "Disconnected",
    }
    assert close["failConnect"] == {
        "error": "Server returned an error on close: Connection closed with an error.",
        "state": "Disconnected",
    }
    assert close["clean"]["a"] == close["clean"]["b"] == "clean"
