"""A hub with typed arguments and results: binding, serialisation and TypeScript generation."""

from __future__ import annotations

import datetime
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from django_hubs import Hub, HubError


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Point:
    """A point on the board."""

    x: int
    y: int
    label: str | None = None


@dataclass
class Event:
    name: str
    at: datetime.datetime
    color: Color
    points: list[Point] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.name:
            raise HubError("An event needs a name.")


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


def what(value: Any) -> Any:
    """The Python types a hub method received, so tests can see what binding made."""
    if isinstance(value, list):
        return [what(item) for item in value]
    if isinstance(value, dict):
        return {key: what(item) for key, item in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {
            "type": type(value).__name__,
            **{name: what(getattr(value, name)) for name in value.__dataclass_fields__},
        }
    return type(value).__name__


class TypedHub(Hub):
    class Client(Protocol):
        def Notify(self, event: Event) -> None: ...

        def Tick(self, count: int, at: datetime.datetime) -> None: ...

    async def add(self, a: int, b: int) -> int:
        return a + b

    async def scale(self, factor: float, point: Point) -> Point:
        return Point(round(point.x * factor), round(point.y * factor), point.label)

    async def inspect(self, event: Event) -> dict[str, Any]:
        """What the event arrived as: its types, and its time in UTC."""
        return {
            "types": what(event),
            "color": event.color.name,
            "utc": event.at.astimezone(datetime.UTC).isoformat(),
        }

    async def next_day(self, at: datetime.datetime) -> datetime.datetime:
        return at + datetime.timedelta(days=1)

    async def pick(self, color: Color, priority: Priority) -> list[Any]:
        return [color.name, priority.name, color, priority]

    async def choose(self, mode: Literal["fast", "slow"], limit: int | None = None) -> str:
        return f"{mode}:{limit}"

    async def weigh(self, tags: list[str], weights: dict[str, float]) -> dict[str, float]:
        return {tag: weights.get(tag, 0.0) for tag in tags}

    async def movie(self, movie: Movie) -> Movie:
        return movie

    async def flag(self, on: bool) -> bool:
        return not on

    async def maybe(self, value: str | None) -> str | None:
        return value

    async def make_event(self, name: str) -> Event:
        """A dataclass result with a datetime, an enum and nested dataclasses."""
        at = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
        return Event(name, at, Color.GREEN, [Point(1, 2), Point(3, 4, "b")])

    async def points(self, count: int) -> AsyncIterator[Point]:
        for i in range(count):
            yield Point(i, i * i)

    async def total(self, numbers: AsyncIterator[int]) -> int:
        return sum([n async for n in numbers])

    async def notify_me(self, name: str) -> None:
        await self.clients.caller.send("Notify", await self.make_event(name))
        await self.clients.caller.send("Tick", 1, datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
