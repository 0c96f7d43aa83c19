"""Live counters: they move as connections open and invocations run; the staff-only status views."""

from __future__ import annotations

import asyncio
import sys

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient
from django.urls import include, path
from prometheus_client.parser import text_string_to_metric_families

import django_hubs.extras
from django_hubs import checks
from django_hubs.extras import status
from django_hubs.server import metrics
from django_hubs.testing import HubClient, HubInvocationError

#: This module is also the URLconf of its view tests (``@pytest.mark.urls``).
urlpatterns = [path("", include("django_hubs.urls")), path("hubs-status/", include("django_hubs.extras.status"))]


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
    assert "href='metrics'" not in html  # HUBS_PROMETHEUS is off


@pytest.mark.urls("tests.test_metrics")
@pytest.mark.django_db
def test_others_do_not(client, django_user_model):
    assert client.get("/hubs-status/json").status_code == 403
    anonymous_page = client.get("/hubs-status/")
    assert anonymous_page.status_code == 302 and "login" in anonymous_page["Location"]
    client.force_login(django_user_model.objects.create_user("carol", password="pw"))
    for url in ("/hubs-status/", "/hubs-status/json"):
        assert client.get(url).status_code == 403


# --- Prometheus, through prometheus_client ----------------------------------------------------

urlpatterns.append(path("metrics-unguarded", status.prometheus_view))


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client's own parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset({"hub": "hubs/test", **labels}.items()))]


@pytest.mark.urls("tests.test_metrics")
async def test_prometheus_values_move_as_connections_open_and_invocations_run(settings):
    settings.HUBS_PROMETHEUS = True
    http = AsyncClient()

    async def scrape() -> dict:
        response = await http.get("/metrics-unguarded")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert response["Cache-Control"] == "no-store"
        return parse(response.content.decode())

    before = await scrape()
    assert sample(before, "signalr_server_active_connections", signalr_transport="web_sockets") == 0
    assert sample(before, "signalr_server_active_connections", signalr_transport="long_polling") == 0
    assert sample(before, "django_hubs_connections_opened_total") == 0

    async with HubClient("hubs/test") as first, HubClient("hubs/test", protocol="messagepack") as second:
        await first.invoke("join", "room")
        opened = await scrape()
        assert sample(opened, "signalr_server_active_connections", signalr_transport="web_sockets") == 2
        assert sample(opened, "django_hubs_connections_opened_total") == 2
        assert sample(opened, "django_hubs_groups") == 1
        assert (
            "django_hubs_invocations_total",
            frozenset({"hub": "hubs/test", "method": "add", "outcome": "ok"}.items()),
        ) not in opened

        assert await first.invoke("add", 1, 2) == 3
        assert await second.invoke("add", 2, 2) == 4
        with pytest.raises(HubInvocationError):
            await first.invoke("fail")
        with pytest.raises(HubInvocationError):
            await second.invoke("add", "x", 1)
        busy = await scrape()
        assert sample(busy, "django_hubs_invocations_total", method="add", outcome="ok") == 2
        assert sample(busy, "django_hubs_invocations_total", method="add", outcome="rejected") == 1
        assert sample(busy, "django_hubs_invocations_total", method="fail", outcome="error") == 1
        assert sample(busy, "django_hubs_invocation_duration_seconds_count", method="add") == 2
        assert sample(busy, "django_hubs_invocation_duration_seconds_bucket", method="add", le="+Inf") == 2
        assert sample(busy, "django_hubs_messages_total", direction="in") == 5
        assert sample(busy, "django_hubs_messages_total", direction="out") == 5
        assert sample(busy, "django_hubs_bytes_total", direction="out") > sample(
            opened, "django_hubs_bytes_total", direction="out"
        )

    await until(lambda: hub("hubs/test")["connections"]["closed"] == 2)
    after = await scrape()
    assert sample(after, "signalr_server_active_connections", signalr_transport="web_sockets") == 0
    assert sample(after, "django_hubs_connections_closed_total", signalr_connection_status="normal_closure") == 2
    assert sample(after, "signalr_server_connection_duration_seconds_count") == 2
    assert sample(after, "django_hubs_groups") == 0

    openmetrics = await http.get(
        "/metrics-unguarded", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.content.decode().endswith("# EOF\n")


@pytest.mark.urls("tests.test_metrics")
@pytest.mark.django_db
def test_staff_get_prometheus_metrics_when_enabled(admin_client, client, django_user_model, settings):
    settings.HUBS_PROMETHEUS = True
    some_traffic()
    response = admin_client.get("/hubs-status/metrics")
    assert response.status_code == 200
    assert sample(parse(response.content.decode()), "django_hubs_connections_opened_total") == 1
    assert "href='metrics'" in admin_client.get("/hubs-status/").content.decode()
    assert client.get("/hubs-status/metrics").status_code == 403
    client.force_login(django_user_model.objects.create_user("carol", password="pw"))
    assert client.get("/hubs-status/metrics").status_code == 403


@pytest.mark.urls("tests.test_metrics")
@pytest.mark.django_db
def test_prometheus_is_off_unless_enabled(admin_client, client):
    some_traffic()
    assert admin_client.get("/hubs-status/metrics").status_code == 404
    assert client.get("/hubs-status/metrics").status_code == 404
    assert client.get("/metrics-unguarded").status_code == 404


@pytest.mark.urls("tests.test_metrics")
@pytest.mark.django_db
def test_enabled_without_the_library_is_an_error(admin_client, settings, monkeypatch):
    settings.HUBS_PROMETHEUS = True
    assert checks.check_prometheus() == []
    for name in [name for name in sys.modules if name.partition(".")[0] == "prometheus_client"]:
        monkeypatch.setitem(sys.modules, name, None)  # imports of it and its modules now fail
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "django_hubs.extras.prometheus", raising=False)
    monkeypatch.delattr(django_hubs.extras, "prometheus", raising=False)
    (error,) = [m for m in checks.check_settings() if m.id == "django_hubs.E007"]
    assert error.msg == "HUBS_PROMETHEUS is on but prometheus_client is not installed."
    with pytest.raises(ImproperlyConfigured, match=r'pip install "django-hubs\[prometheus\]"'):
        admin_client.get("/hubs-status/metrics")
    settings.HUBS_PROMETHEUS = "yes"
    assert [m.id for m in checks.check_settings() if m.obj == "HUBS_PROMETHEUS"] == ["django_hubs.E004"]


def test_no_metrics_on_the_default_registry_and_a_collector_for_your_own():
    import prometheus_client

    from django_hubs.extras.prometheus import HubsCollector

    names = set(prometheus_client.REGISTRY._names_to_collectors)
    assert not {name for name in names if name.startswith(("signalr_", "django_hubs_"))}
    registry = prometheus_client.CollectorRegistry()
    registry.register(HubsCollector())
    text = prometheus_client.generate_latest(registry).decode()
    assert sample(parse(text), "django_hubs_connections_opened_total") == 0
    with pytest.raises(ValueError, match="Duplicated timeseries"):  # describe() names its families
        registry.register(HubsCollector())
