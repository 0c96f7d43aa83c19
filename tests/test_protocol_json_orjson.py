"""The JSON protocol reads and writes with orjson, and must answer exactly as the standard library.

``decode`` and ``encode`` take orjson's fast path; ``_decode_exactly`` and ``_encoder`` are the
standard library's. For any record, both readers give the same message or the same error text;
for any value, both writers give the same JSON value or both refuse it.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_hubs.protocol import json as json_protocol
from django_hubs.protocol.errors import ProtocolError
from django_hubs.protocol.json import RECORD_SEPARATOR, JsonHubProtocol
from django_hubs.protocol.messages import CompletionMessage, InvocationMessage, StreamItemMessage

JSON = JsonHubProtocol()
CHECKS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Beyond what orjson handles alike: huge integers, NaN and infinities, lone surrogates.
wide_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["\ud800", "a\udfffb", "\U0001f600"]),
)
wide_values = st.recursive(
    wide_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=16,
)


def read(reader: Any, record: bytes) -> Any:
    try:
        return ("message", reader(record))
    except ProtocolError as exc:
        return ("error", str(exc))


def write_stdlib(message: Any) -> bytes:
    obj = json_protocol.message_to_dict(message)
    return json_protocol._encoder.encode(obj).encode("utf-8") + RECORD_SEPARATOR


def write(writer: Any, message: Any) -> Any:
    try:
        return ("json", json.loads(writer(message)[:-1]))
    except (TypeError, ValueError, OverflowError) as exc:
        return ("refused", type(exc))


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (json.loads reads the NaN token back as a float)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@CHECKS
@given(wide_values)
def test_both_readers_agree_on_written_values(value: Any) -> None:
    text = json.dumps({"type": 1, "target": "Echo", "arguments": [value]}, ensure_ascii=False, allow_nan=True)
    try:
        record = text.encode("utf-8")
    except UnicodeEncodeError:
        record = text.encode("utf-8", "surrogatepass")  # not UTF-8: both must refuse it
    assert read(JSON.decode, record) == read(JSON._decode_exactly, record)


@CHECKS
@given(wide_values)
def test_both_readers_agree_on_escaped_values(value: Any) -> None:
    record = json.dumps({"type": 1, "target": "Echo", "arguments": [value]}, allow_nan=True).encode("ascii")
    assert read(JSON.decode, record) == read(JSON._decode_exactly, record)


@CHECKS
@given(st.binary(max_size=40))
def test_both_readers_agree_on_any_bytes(noise: bytes) -> None:
    record = b'{"type":1,"target":"A","arguments":[' + noise + b"]}"
    assert read(JSON.decode, record) == read(JSON._decode_exactly, record)


@CHECKS
@given(wide_values)
def test_both_writers_agree(value: Any) -> None:
    for message in (CompletionMessage.with_result("1", value), StreamItemMessage("2", value)):
        fast, exact = write(JSON.encode, message), write(write_stdlib, message)
        assert fast[0] == exact[0]
        if fast[0] == "json":
            assert same(fast[1], exact[1])


@pytest.mark.parametrize(
    "record",
    [
        b'{"type":1,"target":"A","arguments":[123456789012345678901234567890]}',
        b'{"type":1,"target":"A","arguments":[-9223372036854775809]}',
        b'{"type":1,"target":"A","arguments":[18446744073709551616]}',
    ],
)
def test_integers_beyond_64_bits_are_read_exactly(record: bytes) -> None:
    message = JSON.decode(record)
    assert isinstance(message, InvocationMessage)
    assert message.arguments == [int(record.split(b"[")[1].split(b"]")[0])]


def test_nesting_json_refuses_is_refused() -> None:
    depth = 5000
    record = b'{"type":1,"target":"A","arguments":[' + b"[" * depth + b"]" * depth + b"]}"
    assert read(JSON.decode, record) == read(JSON._decode_exactly, record)
    assert read(JSON.decode, record)[0] == "error"


def test_nan_is_refused_not_written_as_null() -> None:
    with pytest.raises(ValueError):
        JSON.encode(CompletionMessage.with_result("1", {"a": [1.0, float("nan")]}))
    assert JSON.encode(CompletionMessage.with_result("1", None)) == b'{"type":3,"invocationId":"1","result":null}\x1e'


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    when: datetime.datetime
    colour: Colour
    tags: tuple[str, ...] = ()


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2026, 1, 2, 3, 4, 5, 6),
        datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=5, seconds=7))),
        datetime.date(2026, 1, 2),
        datetime.time(1, 2, 3, 4),
        uuid.UUID(int=12345),
        decimal.Decimal("1.10"),
        b"\x00\xffbytes",
        frozenset({1}),
        Colour.RED,
        Point(1, datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC), Colour.RED, ("a",)),
        {1: "int key", None: "none key"},
        2**64,
    ],
    ids=repr,
)
def test_typed_values_are_written_as_the_standard_library_writes_them(value: Any) -> None:
    message = CompletionMessage.with_result("1", value)
    assert json.loads(JSON.encode(message)[:-1]) == json.loads(write_stdlib(message)[:-1])
