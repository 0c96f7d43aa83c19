"""Typed arguments: conversion from the wire, mismatch texts, and typed results in both protocols."""

from __future__ import annotations

import base64
import datetime
import decimal
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NewType, NotRequired, Optional, TypedDict

import pytest
from django.test import override_settings

from django_hubs.errors import HubError
from django_hubs.server.binding import BindingError, check, converter, describe, mismatch_text
from django_hubs.testing import HubClient, HubInvocationError
from tests.testapp.threads import Strict
from tests.testapp.typed import Color, Event, Point, Priority

UTC = datetime.UTC
UserId = NewType("UserId", int)


class Size(enum.Enum):
    SMALL = 1
    LARGE = 2


@dataclass
class Message:
    sent_at: datetime.datetime
    text: str
    tags: list[str] = field(default_factory=list)


@dataclass
class Tree:
    value: int
    children: list[Tree] = field(default_factory=list)


@dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


class Opaque:
    """A class binding knows nothing of: values pass through."""


# --- conversions, one hint at a time ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        (3, int, 3),
        (3.0, int, 3),
        (2, float, 2.0),
        (2.5, float, 2.5),
        (True, bool, True),
        ("x", str, "x"),
        (None, None, None),
        (None, type(None), None),
        ([1, 2.0], list[int], [1, 2]),
        ([1, 2], Sequence[int], [1, 2]),
        (["a"], list, ["a"]),
        ({"a": 1}, dict[str, float], {"a": 1.0}),
        ({"3": "x"}, dict[int, str], {3: "x"}),
        (None, Optional[int], None),  # noqa: UP045 - the spelling under test
        (4, Optional[int], 4),  # noqa: UP045
        (None, int | None, None),
        ("a", int | str, "a"),
        (True, int | bool, True),
        ("fast", Literal["fast", "slow"], "fast"),
        (1, Literal[1, 2], 1),
        ("red", Color, Color.RED),
        (2, Priority, Priority.HIGH),
        (1, Size, Size.SMALL),
        ("2024-05-01T12:00:00.000Z", datetime.datetime, datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime.datetime, datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (
            datetime.datetime(2024, 5, 1, tzinfo=UTC),  # a MessagePack timestamp arrives as a datetime
            datetime.datetime,
            datetime.datetime(2024, 5, 1, tzinfo=UTC),
        ),
        ("2024-05-01", datetime.date, datetime.date(2024, 5, 1)),
        ("12:30:00", datetime.time, datetime.time(12, 30)),
        ("12345678-1234-5678-1234-567812345678", uuid.UUID, uuid.UUID("12345678-1234-5678-1234-567812345678")),
        ("1.10", decimal.Decimal, decimal.Decimal("1.10")),
        (base64.b64encode(b"\x00\x01").decode(), bytes, b"\x00\x01"),
        (b"\x00\x01", bytes, b"\x00\x01"),
        ([1, "a"], tuple[int, str], (1, "a")),
        ([1, 2], tuple[int, ...], (1, 2)),
        ([1, 1, 2], set[int], {1, 2}),
        (5, Annotated[int, "meta"], 5),
        (7, UserId, 7),
        ({"any": ["thing"]}, Any, {"any": ["thing"]}),
        ("kept", Opaque, "kept"),
        ({"x": 1, "y": 2}, Point, Point(1, 2)),
        ({"x": 1, "y": 2, "label": "a", "unknown": True}, Point, Point(1, 2, "a")),
        ({"title": "Up", "year": 2009}, Movie, {"title": "Up", "year": 2009}),
        ({"title": "Up", "year": 2009, "rating": 8, "extra": 1}, Movie, {"title": "Up", "year": 2009, "rating": 8.0}),
    ],
)
def test_converts(value, hint, expected):
    converted = check(value, hint)
    assert converted == expected
    assert type(converted) is type(expected)


def test_dataclass_fields_match_as_method_names_do():
    """``sentAt`` (a JavaScript client's spelling) reaches ``sent_at``; nested hints are applied."""
    message = check({"sentAt": "2024-05-01T12:00:00Z", "Text": "hi", "tags": ["a"]}, Message)
    assert message == Message(datetime.datetime(2024, 5, 1, 12, tzinfo=UTC), "hi", ["a"])


def test_nested_and_recursive_dataclasses():
    tree = check({"value": 1, "children": [{"value": 2}, {"value": 3, "children": [{"value": 4}]}]}, Tree)
    assert tree == Tree(1, [Tree(2), Tree(3, [Tree(4)])])
    event = check({"name": "e", "at": "2024-01-01T00:00:00Z", "color": "green", "points": [{"x": 1, "y": 1}]}, Event)
    assert event.color is Color.GREEN and event.points == [Point(1, 1)]


@pytest.mark.parametrize(
    ("value", "hint", "problem"),
    [
        ("3", int, "expected int, got str"),
        (2.5, int, "expected int, got float"),
        (True, int, "expected int, got bool"),
        (True, float, "expected float, got bool"),
        (1, bool, "expected bool, got int"),
        (1, str, "expected str, got int"),
        (0, None, "expected None, got int"),
        (None, int, "expected int, got None"),
        ("x", list[int], "expected list[int], got str"),
        ([1, "x"], list[int], "at [1]: expected int, got str"),
        ({"a": "x"}, dict[str, int], "at ['a']: expected int, got str"),
        ({"x": "1"}, dict[int, str], "at ['x']: expected an int key, got str that is not a number"),
        (1.5, int | str, "expected int | str, got float"),
        ("x", Optional[int], "expected int, got str"),  # noqa: UP045
        ("medium", Literal["fast", "slow"], "expected one of 'fast', 'slow', got str"),
        (True, Literal[1], "expected one of 1, got bool"),
        ("blue", Color, "expected Color (one of 'red', 'green'), got str"),
        (3, Priority, "expected Priority (one of 1, 2), got int"),
        ("yesterday", datetime.datetime, "expected datetime (ISO 8601 text), got str that is not ISO 8601"),
        (1714564800, datetime.datetime, "expected datetime (ISO 8601 text), got int"),
        (datetime.datetime(2024, 1, 1), datetime.date, "expected date (ISO 8601 text), got datetime"),
        ("not-a-uuid", uuid.UUID, "expected UUID, got str that is not one"),
        ("***", bytes, "expected bytes (base64 text), got str that is not base64"),
        ([1], tuple[int, str], "expected tuple[int, str] (2 items), got list"),
        ([1, 2], Point, "expected Point (an object), got list"),
        ({"x": 1}, Point, "missing required field 'y' of Point"),
        ({"x": 1, "y": "2"}, Point, "at .y: expected int, got str"),
        ({"value": 1, "children": [{"value": "x"}]}, Tree, "at .children[0].value: expected int, got str"),
        ({"n": -1}, Positive, "Positive refused the value (n must be positive)"),
        ({"kind": "key"}, Strict, "Strict refused the value ('key refused on purpose')"),
        ({"kind": "validation"}, Strict, "Strict refused the value (['validation refused on purpose'])"),
        ({"kind": "runtime"}, Strict, "Strict refused the value (runtime refused on purpose)"),
        ([{"kind": "key"}], list[Strict], "at [0]: Strict refused the value ('key refused on purpose')"),
        ({"title": "Up"}, Movie, "missing required key 'year' of Movie"),
        ({"title": "Up", "year": 2009, "rating": "good"}, Movie, "at .rating: expected float, got str"),
    ],
)
def test_refuses_with_a_precise_problem(value, hint, problem):
    with pytest.raises(BindingError) as info:
        check(value, hint)
    assert str(info.value) == problem


def test_hub_error_from_post_init_passes_through():
    with pytest.raises(HubError, match=r"An event needs a name\."):
        check({"name": "", "at": "2024-01-01T00:00:00Z", "color": "red"}, Event)


def test_converters_are_built_once_per_hint():
    assert converter(list[int]) is converter(list[int])
    assert converter(Point) is converter(Point)


def test_describe_and_mismatch_text():
    assert describe(dict[str, list[int | None]]) == "dict[str, list[int | None]]"
    error = BindingError("expected int, got str").at(".x").at("[2]")
    assert mismatch_text(3, "points", error) == (
        "Error binding argument 3. Make sure that the types of the provided values match the types of the hub "
        "method being invoked. Argument 'points' at [2].x: expected int, got str."
    )


# --- through a hub, both protocols -------------------------------------------------------------------

GENERIC_HUBS = {
    "hubs/typed": {"hub": "tests.testapp.typed.TypedHub", "DETAILED_ERRORS": True},
    "hubs/typed-generic": "tests.testapp.typed.TypedHub",
}


@pytest.fixture(params=["json", "messagepack"])
def protocol(request):
    return request.param


async def test_arguments_arrive_converted(protocol):
    event = {
        "name": "launch",
        "at": "2024-05-01T14:00:00+02:00",
        "color": "red",
        "points": [{"x": 1, "y": 2}, {"X": 3, "Y": 4, "label": "b"}],
    }
    async with HubClient("hubs/typed", protocol=protocol) as client:
        assert await client.invoke("inspect", event) == {
            "types": {
                "type": "Event",
                "name": "str",
                "at": "datetime",
                "color": "Color",
                "points": [
                    {"type": "Point", "x": "int", "y": "int", "label": "NoneType"},
                    {"type": "Point", "x": "int", "y": "int", "label": "str"},
                ],
            },
            "color": "RED",
            "utc": "2024-05-01T12:00:00+00:00",
        }
        assert await client.invoke("scale", 2, {"x": 1, "y": 2}) == {"x": 2, "y": 4, "label": None}
        assert await client.invoke("choose", "slow") == "slow:None"
        assert await client.invoke("choose", "fast", 3.0) == "fast:3"
        assert await client.invoke("weigh", ["a", "b"], {"a": 1}) == {"a": 1.0, "b": 0.0}
        assert await client.invoke("movie", {"title": "Up", "year": 2009, "extra": 1}) == {"title": "Up", "year": 2009}
        assert await client.invoke("flag", False) is True
        assert await client.invoke("maybe", None) is None


async def test_messagepack_timestamps_bind_to_datetime():
    at = datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)
    async with HubClient("hubs/typed", protocol="messagepack") as client:
        assert await client.invoke("next_day", at) == at + datetime.timedelta(days=1)
        report = await client.invoke("inspect", {"name": "n", "at": at, "color": "green"})
        assert report["types"]["at"] == "datetime"
        assert report["utc"] == "2024-05-01T12:00:00+00:00"


async def test_results_are_serialised_per_protocol(protocol):
    async with HubClient("hubs/typed", protocol=protocol) as client:
        event = await client.invoke("make_event", "launch")
        points = [p async for p in client.stream("points", 3)]
        picked = await client.invoke("pick", "green", 1)
        next_day = await client.invoke("next_day", "2024-05-01T12:00:00Z")
    expected_at = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    if protocol == "json":  # ISO 8601 text
        assert event["at"] == "2024-05-01T12:30:00Z"  # UTC as System.Text.Json writes it
        assert next_day == "2024-05-02T12:00:00Z"
    else:  # the MessagePack timestamp extension, read back as a datetime
        assert event["at"] == expected_at
        assert next_day == datetime.datetime(2024, 5, 2, 12, tzinfo=UTC)
    assert event["name"] == "launch"
    assert event["color"] == "green"  # enums as their values
    assert event["points"] == [{"x": 1, "y": 2, "label": None}, {"x": 3, "y": 4, "label": "b"}]
    assert points == [{"x": 0, "y": 0, "label": None}, {"x": 1, "y": 1, "label": None}, {"x": 2, "y": 4, "label": None}]
    assert picked == ["GREEN", "LOW", "green", 1]


PREFIX = "Error binding argument {n}. Make sure that the types of the provided values match the types of the hub method being invoked."


@pytest.mark.parametrize(
    ("target", "args", "detail"),
    [
        ("add", [1, "2"], PREFIX.format(n=2) + " Argument 'b': expected int, got str."),
        ("scale", [2, {"x": 1, "y": "2"}], PREFIX.format(n=2) + " Argument 'point' at .y: expected int, got str."),
        ("scale", [2, {"x": 1}], PREFIX.format(n=2) + " Argument 'point': missing required field 'y' of Point."),
        (
            "pick",
            ["blue", 1],
            PREFIX.format(n=1) + " Argument 'color': expected Color (one of 'red', 'green'), got str.",
        ),
        ("choose", ["medium"], PREFIX.format(n=1) + " Argument 'mode': expected one of 'fast', 'slow', got str."),
        ("weigh", [["a"], {"a": "x"}], PREFIX.format(n=2) + " Argument 'weights' at ['a']: expected float, got str."),
        ("movie", [{"title": "Up"}], PREFIX.format(n=1) + " Argument 'movie': missing required key 'year' of Movie."),
        (
            "next_day",
            ["tomorrow"],
            PREFIX.format(n=1) + " Argument 'at': expected datetime (ISO 8601 text), got str that is not ISO 8601.",
        ),
        ("flag", [1], PREFIX.format(n=1) + " Argument 'on': expected bool, got int."),
    ],
)
async def test_mismatch_says_which_argument_only_with_detailed_errors(protocol, target, args, detail):
    generic = f"Failed to invoke '{target}' due to an error on the server."
    with override_settings(HUBS=GENERIC_HUBS):
        async with HubClient("hubs/typed", protocol=protocol) as client:
            with pytest.raises(HubInvocationError) as detailed:
                await client.invoke(target, *args)
        async with HubClient("hubs/typed-generic", protocol=protocol) as client:
            with pytest.raises(HubInvocationError) as plain:
                await client.invoke(target, *args)
            assert await client.invoke("add", 1, 2) == 3  # the connection carries on
    assert str(detailed.value) == f"{generic} InvalidDataException: {detail}"
    assert str(plain.value) == generic


async def test_a_hub_error_from_validation_always_reaches_the_client(protocol):
    with override_settings(HUBS=GENERIC_HUBS):
        async with HubClient("hubs/typed-generic", protocol=protocol) as client:
            with pytest.raises(HubInvocationError) as info:
                await client.invoke("inspect", {"name": "", "at": "2024-01-01T00:00:00Z", "color": "red"})
    assert (
        str(info.value)
        == "Failed to invoke 'inspect' due to an error on the server. HubException: An event needs a name."
    )


async def test_untyped_parameters_pass_through(protocol):
    async with HubClient("hubs/test", protocol=protocol) as client:
        value = {"a": [1, 2.5, None, "x", True]}
        assert await client.invoke("echo", value) == value
