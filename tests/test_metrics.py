"""Live counters: they move as connections open and invocations run; the staff-only status views."""

from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import async_to_sync
from django.urls import include, path

from django_hubs import metrics
from django_hubs.testing import HubClient, HubInvocationError

#: This module is also the URLconf of its view tests (``@pytest.mark.urls``).
urlpatterns = [path("", include("django_hubs.urls")), path("hubs-status/", include("django_hubs.status"))]


@pytest.fixture(autouse=True)
def _fresh_counters():
    metrics.reset()
    yield
    metrics.reset()


def hub(path: str) -> dict:
    (found,) = [h for h in metrics.snapshot()["hubs"] if h["path"] == path]
    return found


async def until(predicate, timeout: float = 2.0) -> None:
    """The server finishes a disconnect after the client saw the socket close."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_counters_move_with_connections_and_invocations():
    assert hub("hubs/test")["connections"]["active"] == 0
    async with HubClient("hubs/test") as first, HubClient("hubs/test", protocol="messagepack") as second:
        now = hub("hubs/test")
        assert now["connections"]["active"] == 2
        assert now["connections"]["opened"] == 2
        assert now["connections"]["by_transport"] == {"WebSockets": 2}
        assert now["connections"]["by_protocol"] == {"json": 1, "messagepack": 1}
        assert hub("hubs/detailed")["connections"]["active"] == 0  # same hub class, another endpoint

        for i in range(3):
            assert await first.invoke("add", i, 1) == i + 1
        with pytest.raises(HubInvocationError):
            await first.invoke("fail")
        with pytest.raises(HubInvocationError):
            await first.invoke("add", "x", 1)
        with pytest.raises(HubInvocationError):
            await first.invoke("no_such_method")
        assert [i async for i in second.stream("counter", 2)] == [0, 1]
        await first.invoke("join", "room")
        await second.invoke("join", "room")
        await second.invoke("join", "other")

        now = hub("hubs/test")
        invocations = now["invocations"]
        assert invocations["add"]["calls"] == 3
        assert invocations["add"]["errors"] == 0
        assert invocations["add"]["rejected"] == 1
        assert invocations["add"]["duration"]["count"] == 3
        assert invocations["fail"] == {**invocations["fail"], "calls": 1, "errors": 1}
        assert invocations["counter"]["calls"] == 1
        assert invocations[metrics.UNKNOWN_METHOD]["rejected"] == 1
        assert "no_such_method" not in invocations
        assert now["groups"] == {"count": 2, "members": {"room": 2, "other": 1}}
        assert now["users"] == 0
        # handshakes are not hub messages: 6 + 3 join invocations in, plus the stream
        assert now["messages"]["in"] == 10
        # 6 completions + 2 stream items + 1 stream completion + 3 join completions
        assert now["messages"]["out"] == 12
        assert now["bytes"]["in"] > 0 and now["bytes"]["out"] > 0
        before = now["bytes"]["out"]
        await first.invoke("echo", "x" * 1000)
        assert hub("hubs/test")["bytes"]["out"] >= before + 1000

    await until(lambda: hub("hubs/test")["connections"]["closed"] == 2)
    after = hub("hubs/test")
    assert after["connections"]["active"] == 0
    assert after["connections"]["closed_by_status"] == {"normal_closure": 2}
    assert after["connections"]["duration"]["count"] == 2
    assert after["groups"]["count"] == 0


async def test_users_are_counted_once_per_user():
    class User:
        is_authenticated = True

        def __init__(self, pk: int) -> None:
            self.pk = pk

    async with (
        HubClient("hubs/test", user=User(1)),
        HubClient("hubs/test", user=User(1)),
        HubClient("hubs/test", user=User(2)),
    ):
        assert hub("hubs/test")["users"] == 2


async def test_prometheus_text():
    async with HubClient("hubs/test") as client:
        await client.invoke("add", 1, 2)
        text = metrics.prometheus_text()
    assert (
        '# TYPE signalr_server_active_connections gauge\nsignalr_server_active_connections{hub="hubs/test",transport="WebSockets"} 1\n'
        in text
    )
    assert 'django_hubs_invocations_total{hub="hubs/test",method="add",outcome="ok"} 1\n' in text
    assert 'django_hubs_invocation_duration_seconds_count{hub="hubs/test",method="add"} 1\n' in text
    assert 'django_hubs_invocation_duration_seconds_bucket{hub="hubs/test",method="add",le="+Inf"} 1\n' in text
    assert re.search(r'django_hubs_messages_total\{hub="hubs/test",direction="in"\} [1-9]', text)
    assert "# TYPE signalr_server_connection_duration_seconds histogram" in text
    for line in text.splitlines():  # every sample line is "name{labels} value"
        assert line.startswith("#") or re.fullmatch(r"[a-z_]+\{[^}]*\} [0-9.e+-]+", line), line


def test_histogram_buckets_are_cumulative():
    histogram = metrics.Histogram((0.1, 1.0))
    for value in (0.05, 0.5, 0.7, 5.0):
        histogram.observe(value)
    assert histogram.as_dict() == {
        "count": 4,
        "sum": 6.25,
        "max": 5.0,
        "mean": 1.5625,
        "buckets": {"0.1": 1, "1.0": 3},
    }


# --- the status views ------------------------------------------------------------------------


def some_traffic() -> None:
    async def session() -> None:
        async with HubClient("hubs/test") as client:
            await client.invoke("add", 1, 2)

    async_to_sync(session)()


@pytest.mark.urls("tests.test_metrics")
@pytest.mark.django_db
def test_staff_get_the_counters(admin_client):
    some_traffic()
    response = admin_client.get("/hubs-status/json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    (test_hub,) = [h for h in response.json()["hubs"] if h["path"] == "hubs/test"]
    assert test_hub["hub"] == "tests.testapp.hubs.TestHub"
    assert test_hub["connections"]["opened"] == 1
    assert test_hub["invocations"]["add"]["calls"] == 1

    page = admin_client.get("/hubs-status/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<code>/hubs/test</code>" in html and "<td><code>add</code></td><td>1</td>" in html

    prometheus = admin_client.get("/hubs-status/metrics")
    assert prometheus["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'django_hubs_connections_opened_total{hub="hubs/test"} 1' in prometheus.content.decode()


@pytest.mark.urls("tests.test_metrics")
@pytest.mark.django_db
def test_others_do_not(client, django_user_model):
    for url in ("/hubs-status/json", "/hubs-status/metrics"):
        assert client.get(url).status_code == 403
    anonymous_page = client.get("/hubs-status/")
    assert anonymous_page.status_code == 302 and "login" in anonymous_page["Location"]
    client.force_login(django_user_model.objects.create_user("carol", password="pw"))
    for url in ("/hubs-status/", "/hubs-status/json", "/hubs-status/metrics"):
        assert client.get(url).status_code == 403
