"""Hub filters around invocations, connect and disconnect; the rate limiter and the invocation logger."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_hubs import Hub, HubError
from django_hubs.checks import check_settings
from django_hubs.filters import HubFilter, InvocationLoggerFilter, RateLimitFilter, ratelimit
from django_hubs.filters.ratelimit import parse_rate
from django_hubs.server import filtering
from django_hubs.server.filtering import build_filter, load_filters
from django_hubs.testing import HubClient, HubInvocationError

#: What the recording filters saw, in order.
seen: list[Any] = []


class RecordingFilter(HubFilter):
    def __init__(self, name: str = "recording") -> None:
        self.name = name

    async def invoke(self, invocation, call_next):
        seen.append((self.name, "before", invocation.method_name, invocation.target, list(invocation.arguments)))
        result = await call_next(invocation)
        seen.append((self.name, "after", invocation.method_name, result))
        return result

    async def on_connected(self, context, call_next):
        seen.append((self.name, "connected", context.hub_path))
        await call_next(context)

    async def on_disconnected(self, context, exception, call_next):
        seen.append((self.name, "disconnected", type(exception).__name__ if exception else None))
        await call_next(context, exception)


class RewritingFilter(HubFilter):
    """Doubles the numbers a method gets, and wraps what it returns."""

    async def invoke(self, invocation, call_next):
        if invocation.method_name == "add":
            invocation.arguments = [2 * a for a in invocation.arguments]
            return {"wrapped": await call_next(invocation)}
        return await call_next(invocation)


class RefusingFilter(HubFilter):
    async def invoke(self, invocation, call_next):
        if invocation.method_name == "secret_sum":
            raise HubError("Not today.")
        return await call_next(invocation)


class RefuseConnectFilter(HubFilter):
    async def on_connected(self, context, call_next):
        raise HubError("Go away.")


class TimingFilter(HubFilter):
    def __init__(self) -> None:
        self.durations: list[tuple[str, float]] = []

    async def invoke(self, invocation, call_next):
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            return await call_next(invocation)
        finally:
            self.durations.append((invocation.method_name, loop.time() - started))


class FilteredHub(Hub):
    filters = [{"filter": "tests.test_filters.RecordingFilter", "name": "hub"}]

    async def on_connected(self) -> None:
        seen.append(("hub method", "on_connected"))

    async def on_disconnected(self, exception: BaseException | None) -> None:
        seen.append(("hub method", "on_disconnected"))

    async def add(self, a: int, b: int) -> int:
        return a + b

    async def secret_sum(self, a: int) -> int:
        return a

    async def boom(self) -> None:
        raise ValueError("the secret detail")

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def slow(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds


HUB = "tests.test_filters.FilteredHub"


@pytest.fixture(autouse=True)
def _clean():
    seen.clear()
    filtering._hub_filters.clear()
    caches["default"].clear()
    yield
    seen.clear()


# --- the mechanism ---------------------------------------------------------------------------


@override_settings(
    HUBS={"hubs/f": HUB}, HUBS_FILTERS=[{"filter": "tests.test_filters.RecordingFilter", "name": "global"}]
)
async def test_filters_wrap_invocations_connect_and_disconnect_in_order():
    async with HubClient("hubs/f") as client:
        assert await client.invoke("Add", 1, 2) == 3
    # the server runs on_disconnected after the close: wait for it
    for _ in range(100):
        if ("hub method", "on_disconnected") in seen:
            break
        await asyncio.sleep(0.01)
    assert seen == [
        ("global", "connected", "hubs/f"),
        ("hub", "connected", "hubs/f"),
        ("hub method", "on_connected"),
        ("global", "before", "add", "Add", [1, 2]),
        ("hub", "before", "add", "Add", [1, 2]),
        ("hub", "after", "add", 3),
        ("global", "after", "add", 3),
        ("global", "disconnected", None),
        ("hub", "disconnected", None),
        ("hub method", "on_disconnected"),
    ]


@override_settings(
    HUBS={"hubs/f": {"hub": HUB, "FILTERS": ["tests.test_filters.RewritingFilter", RefusingFilter()]}},
    HUBS_FILTERS=["tests.test_filters.TimingFilter"],  # replaced by the hub's own FILTERS entry
)
async def test_a_filter_changes_arguments_and_results_or_refuses():
    async with HubClient("hubs/f") as client:
        assert await client.invoke("add", 1, 2) == {"wrapped": 6}
        with pytest.raises(HubInvocationError) as info:
            await client.invoke("secret_sum", 1)
        assert (
            str(info.value)
            == "An unexpected error occurred invoking 'secret_sum' on the server. HubException: Not today."
        )
    # The hub class's filter runs inside the FILTERS entry: the refused call never reached it.
    assert [entry[1] for entry in seen if entry[0] == "hub"][:3] == ["connected", "before", "after"]
    assert ("hub", "before", "secret_sum", "secret_sum", [1]) not in seen


async def test_a_filter_times_calls_and_sees_failures():
    timing = TimingFilter()
    with override_settings(HUBS={"hubs/f": HUB}, HUBS_FILTERS=[timing]):
        async with HubClient("hubs/f") as client:
            assert await client.invoke("slow", 0.05) == 0.05
            with pytest.raises(HubInvocationError):
                await client.invoke("boom")
    assert [name for name, _ in timing.durations] == ["slow", "boom"]
    assert timing.durations[0][1] >= 0.05


async def test_a_filter_can_refuse_a_connection():
    with override_settings(HUBS={"hubs/f": HUB}, HUBS_FILTERS=[RefuseConnectFilter]):
        client = HubClient("hubs/f")
        await client.connect()
        close = await client.wait_closed()
        await client.close()
    assert close is not None and close.error == "Connection closed with an error. HubException: Go away."
    assert ("hub method", "on_connected") not in seen


@override_settings(HUBS={"hubs/f": HUB}, HUBS_FILTERS=["tests.test_filters.RecordingFilter"])
async def test_a_stream_passes_through_filters():
    async with HubClient("hubs/f") as client:
        assert [i async for i in client.stream("count", 3)] == [0, 1, 2]
    before = [entry for entry in seen if entry[1] == "before"]
    assert [entry[:3] for entry in before] == [("recording", "before", "count"), ("hub", "before", "count")]


def test_filter_entries_are_built_the_django_way():
    instance = RecordingFilter("mine")
    built = load_filters(
        [
            "tests.test_filters.RecordingFilter",
            RecordingFilter,
            instance,
            {"filter": "django_hubs.filters.RateLimitFilter", "rate": "5/min", "per": "user"},
        ]
    )
    assert [type(f).__name__ for f in built] == [
        "RecordingFilter",
        "RecordingFilter",
        "RecordingFilter",
        "RateLimitFilter",
    ]
    assert built[2] is instance
    assert (built[3].limit, built[3].period, built[3].per) == (5, 60, "user")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("tests.test_filters.Nope", "cannot be imported"),
        ({"rate": "5/s"}, 'names no class: give it a "filter" key'),
        ({"filter": "django_hubs.filters.RateLimitFilter", "rate": "fast"}, 'is not "<calls>/<period>"'),
        ({"filter": "django_hubs.filters.RateLimitFilter", "per": "ip"}, 'use "connection" or "user"'),
        ({"filter": "django_hubs.filters.RateLimitFilter", "burst": 3}, "unexpected keyword argument 'burst'"),
        ({"filter": "django_hubs.filters.InvocationLoggerFilter", "level": "LOUD"}, "is not a logging level"),
        ("django_hubs.hub.fold", "has none of the methods invoke, on_connected, on_disconnected"),
    ],
)
def test_bad_filter_entries_are_refused(spec, problem):
    with pytest.raises(ImproperlyConfigured, match=re.escape(problem)):
        build_filter(spec)


def test_checks_report_bad_filters():
    class BadHub(Hub):
        filters = ["tests.test_filters.Nope"]

    with override_settings(HUBS={"hubs/x": BadHub}, HUBS_FILTERS=["django_hubs.filters.RateLimitFilter", "x.Nope"]):
        messages = check_settings()
    by_id = {m.id: m.msg for m in messages}
    assert "HUBS_FILTERS is not usable: Filter 'x.Nope' cannot be imported" in by_id["django_hubs.E004"]
    assert (
        "BadHub.filters (HUBS['hubs/x']) is not usable: Filter 'tests.test_filters.Nope'" in by_id["django_hubs.E006"]
    )
    with override_settings(HUBS={"hubs/x": {"hub": HUB, "FILTERS": "django_hubs.filters.RateLimitFilter"}}):
        assert [m.id for m in check_settings()] == ["django_hubs.E004"]
    with override_settings(HUBS={"hubs/x": HUB}, HUBS_FILTERS=[{"filter": "django_hubs.filters.RateLimitFilter"}]):
        assert check_settings() == []


# --- the rate limiter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("20/s", (20, 1)), ("600/min", (600, 60)), ("100/10m", (100, 600)), ("5 / hour", (5, 3600)), ("1/d", (1, 86400))],
)
def test_rates(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", ["20", "0/s", "20/fortnight", "x/s", 20])
def test_bad_rates(rate):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(rate)


REFUSED = re.compile(
    r"An unexpected error occurred invoking 'add' on the server\. "
    r"HubException: Rate limit exceeded \(3/min per (connection|user)\); try again in \d+ s\."
)


def limited(**options: Any) -> Any:
    return override_settings(
        HUBS={"hubs/f": HUB},
        HUBS_FILTERS=[{"filter": "django_hubs.filters.RateLimitFilter", "rate": "3/min", **options}],
    )


async def test_rate_limit_per_connection(caplog):
    with limited(), caplog.at_level(logging.WARNING, "django_hubs.filters"):
        async with HubClient("hubs/f") as first, HubClient("hubs/f") as second:
            assert [await first.invoke("add", i, 1) for i in range(3)] == [1, 2, 3]
            for _ in range(2):
                with pytest.raises(HubInvocationError) as info:
                    await first.invoke("add", 1, 1)
                assert REFUSED.fullmatch(str(info.value))
            assert await second.invoke("add", 1, 1) == 2  # its own budget
    refusals = [r for r in caplog.records if "rate limit" in r.getMessage()]
    assert len(refusals) == 1  # the first refusal of the window only
    message = refusals[0].getMessage()
    assert "rate limit 3/min per connection exceeded: hub=hubs/f method=add connection=" in message


async def test_rate_limit_per_user_spans_connections():
    alice = SimpleNamespace(pk=1, is_authenticated=True)
    bob = SimpleNamespace(pk=2, is_authenticated=True)
    with limited(per="user"):
        async with (
            HubClient("hubs/f", user=alice) as tab1,
            HubClient("hubs/f", user=alice) as tab2,
            HubClient("hubs/f", user=bob) as other,
        ):
            await tab1.invoke("add", 1, 1)
            await tab2.invoke("add", 1, 1)
            await tab1.invoke("add", 1, 1)
            with pytest.raises(HubInvocationError) as info:
                await tab2.invoke("add", 1, 1)
            assert REFUSED.fullmatch(str(info.value))
            assert await other.invoke("add", 2, 2) == 4


async def test_rate_limit_per_user_counts_anonymous_connections_apart():
    with limited(per="user"):
        async with HubClient("hubs/f") as first, HubClient("hubs/f") as second:
            for _ in range(3):
                await first.invoke("add", 1, 1)
                await second.invoke("add", 1, 1)


async def test_rate_limit_only_for_listed_methods():
    with limited(methods=["secretSum"]):
        async with HubClient("hubs/f") as client:
            for _ in range(5):
                await client.invoke("add", 1, 1)
            for _ in range(3):
                await client.invoke("secret_sum", 1)
            with pytest.raises(HubInvocationError, match="Rate limit exceeded"):
                await client.invoke("SecretSum", 1)


async def test_rate_limit_opens_again_in_the_next_window(monkeypatch):
    now = [1_000_040.0]  # 20 s into a minute
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    with limited():
        async with HubClient("hubs/f") as client:
            for _ in range(3):
                await client.invoke("add", 1, 1)
            with pytest.raises(HubInvocationError) as info:
                await client.invoke("add", 1, 1)
            assert str(info.value).endswith("try again in 40 s.")
            now[0] += 40
            assert await client.invoke("add", 1, 1) == 2


async def test_rate_limit_through_a_cache_other_processes_share(tmp_path):
    """A cache other than local memory goes through Django's async cache API."""
    shared = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}}
    with override_settings(CACHES=shared), limited():
        async with HubClient("hubs/f") as client:
            for _ in range(3):
                await client.invoke("add", 1, 1)
            with pytest.raises(HubInvocationError, match="Rate limit exceeded"):
                await client.invoke("add", 1, 1)
        assert any(tmp_path.iterdir())  # the counts are in the shared store


async def test_a_refused_send_answers_nothing():
    with limited():
        async with HubClient("hubs/f") as client:
            for _ in range(4):
                await client.send("add", 1, 1)
            with pytest.raises(HubInvocationError, match="Rate limit exceeded"):
                await client.invoke("add", 1, 1)


def test_rate_limiter_keys_are_safe_for_any_user_id():
    limiter = RateLimitFilter("1/s", per="user")
    assert re.fullmatch(r"django_hubs:rate:[0-9a-f]{24}", limiter.key_prefix)


# --- the invocation logger -----------------------------------------------------------------------


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "django_hubs.invocations"]


async def test_invocation_logger_logs_outcomes_without_arguments(caplog):
    user = SimpleNamespace(pk=42, is_authenticated=True)
    with (
        override_settings(HUBS={"hubs/f": HUB}, HUBS_FILTERS=["django_hubs.filters.InvocationLoggerFilter"]),
        caplog.at_level(logging.INFO, "django_hubs.invocations"),
    ):
        async with HubClient("hubs/f", user=user, query="access_token=eyJhbGciOi.secret.token") as client:
            assert await client.invoke("add", 12345, 67890) == 80235
            with pytest.raises(HubInvocationError):
                await client.invoke("boom")
            with pytest.raises(HubInvocationError):
                await client.invoke("add", "x", 1)
            assert [i async for i in client.stream("count", 2)] == [0, 1]
    lines = logged(caplog)
    pattern = r"invoked hubs/f\.{method} outcome={outcome} duration=\d+\.\dms connection=[\w-]+ user=42{extra}"
    assert re.fullmatch(pattern.format(method="add", outcome="ok", extra=""), lines[0])
    assert re.fullmatch(pattern.format(method="boom", outcome=r"error\(ValueError\)", extra=""), lines[1])
    assert re.fullmatch(pattern.format(method="count", outcome="ok", extra=" items=2"), lines[2])
    assert len(lines) == 3  # the call whose arguments did not bind never ran
    text = "\n".join(lines)
    for secret in ("12345", "67890", "the secret detail", "eyJhbGciOi", "token"):
        assert secret not in text


async def test_invocation_logger_arguments_on_request(caplog):
    logger_filter = InvocationLoggerFilter(
        level="DEBUG", logger="tests.invocations", arguments=True, max_argument_length=30
    )
    with (
        override_settings(HUBS={"hubs/f": HUB}, HUBS_FILTERS=[logger_filter]),
        caplog.at_level(logging.DEBUG, "tests.invocations"),
    ):
        async with HubClient("hubs/f") as client:
            await client.invoke("add", 12345, 67890)
            with pytest.raises(HubInvocationError):
                await client.invoke("slow", "x")  # not bound: never ran, never logged
    lines = [r.getMessage() for r in caplog.records if r.name == "tests.invocations"]
    assert lines[0].endswith(" arguments=[12345, 67890]")
    assert [r.levelno for r in caplog.records if r.name == "tests.invocations"] == [logging.DEBUG]


async def test_invocation_logger_sees_refusals_of_inner_filters(caplog):
    with (
        override_settings(
            HUBS={"hubs/f": HUB},
            HUBS_FILTERS=[
                "django_hubs.filters.InvocationLoggerFilter",
                {"filter": "django_hubs.filters.RateLimitFilter", "rate": "1/min"},
            ],
        ),
        caplog.at_level(logging.INFO, "django_hubs.invocations"),
    ):
        async with HubClient("hubs/f") as client:
            await client.invoke("add", 1, 1)
            with pytest.raises(HubInvocationError):
                await client.invoke("add", 1, 1)
    outcomes = [re.search(r"outcome=(\S+)", line).group(1) for line in logged(caplog)]
    assert outcomes == ["ok", "error(HubException)"]
