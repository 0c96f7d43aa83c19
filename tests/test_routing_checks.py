"""``manage.py check`` on where clients find the hubs: WebSockets (E022), negotiate (E021), HUBS typos (E002)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.routing import URLRouter
from django.core import checks
from django.test import override_settings
from django.urls import path, re_path

from django_hubs.checks import check_negotiate_routes, check_websocket_routes
from tests.channels_project.consumers import EchoConsumer
from tests.channels_project.hubs import ChatHub

ROOT = Path(__file__).resolve().parents[1]
CHAT = {"hubs/chat": "tests.channels_project.hubs.ChatHub"}
PROJECT = "tests.channels_project"


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [message.id or "" for message in messages]


def test_the_test_suites_own_application_reaches_every_hub():
    assert check_websocket_routes() == []
    assert check_negotiate_routes() == []


@override_settings(HUBS=CHAT, ASGI_APPLICATION=f"{PROJECT}.asgi.application")
def test_a_hub_routed_with_as_asgi_in_the_projects_urlrouter_passes():
    """(Its negotiate route: ``manage.py check`` on the project, below: URLconfs load once per process.)"""
    assert check_websocket_routes() == []


@override_settings(HUBS=CHAT, ASGI_APPLICATION=f"{PROJECT}.asgi_without_hub.application")
def test_a_hub_the_asgi_application_does_not_route_is_an_error_naming_the_fix():
    """The silent Server-Sent Events fallback: the tutorial's asgi.py plus the URL include."""
    (message,) = check_websocket_routes()
    assert message.id == "django_hubs.E022" and message.level == checks.ERROR
    assert "HUBS['hubs/chat'] (ChatHub) is not reachable over WebSockets" in message.msg
    assert "no route (the websocket URLRouter matches none)" in message.msg
    assert 'path("hubs/chat", ChatHub.as_asgi())' in message.hint


@override_settings(
    HUBS={"hubs/chat": {"hub": CHAT["hubs/chat"], "TRANSPORTS": ["ServerSentEvents", "LongPolling"]}},
    ASGI_APPLICATION=f"{PROJECT}.asgi_without_hub.application",
)
def test_a_hub_without_websockets_needs_no_websocket_route():
    assert check_websocket_routes() == []


#: A project route that catches the hub's path before the hub's own.
CATCH_ALL = URLRouter([re_path(r"^hubs/", EchoConsumer.as_asgi()), path("hubs/chat", ChatHub.as_asgi())])


@override_settings(HUBS=CHAT, ASGI_APPLICATION="tests.test_routing_checks.CATCH_ALL")
def test_a_hub_path_taken_by_another_consumer_is_an_error():
    (message,) = check_websocket_routes()
    assert message.id == "django_hubs.E022"
    assert "reaches the consumer EchoConsumer" in message.msg


@override_settings(HUBS={}, ASGI_APPLICATION=f"{PROJECT}.asgi.application")
def test_a_hub_routed_at_another_hubs_path_is_an_error():
    with override_settings(HUBS={"hubs/chat": "tests.testapp.hubs.TestHub"}):
        (message,) = check_websocket_routes()
    assert "reaches the hub ChatHub" in message.msg


@override_settings(HUBS=CHAT, ASGI_APPLICATION=f"{PROJECT}.asgi_without_hub.with_validator")
def test_channels_origin_validator_in_front_of_a_hub_is_a_warning():
    (message,) = check_websocket_routes()
    assert message.id == "django_hubs.W020" and message.level == checks.WARNING
    assert "refuses the .NET, Java and Python SignalR clients" in message.msg


@override_settings(HUBS=CHAT, ASGI_APPLICATION=f"{PROJECT}.asgi_without_hub.opaque")
def test_middleware_the_check_cannot_see_into_is_no_error():
    assert check_websocket_routes() == []


@override_settings(HUBS=CHAT, ASGI_APPLICATION="tests.channels_project.nowhere.application")
def test_an_asgi_application_that_does_not_import_is_an_error():
    (message,) = check_websocket_routes()
    assert message.id == "django_hubs.E020"


@override_settings(HUBS=CHAT, ROOT_URLCONF=f"{PROJECT}.urls_without_hubs")
def test_negotiate_not_routed_is_an_error_naming_the_include():
    (message,) = check_negotiate_routes()
    assert message.id == "django_hubs.E021"
    assert "/hubs/chat/negotiate reaches nothing in ROOT_URLCONF" in message.msg
    assert 'path("", include("django_hubs.urls"))' in message.hint


def test_the_routing_checks_are_registered():
    registered = checks.registry.registry.get_checks()
    assert check_websocket_routes in registered and check_negotiate_routes in registered


def manage_py_check(settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "django", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (f"{PROJECT}.settings", None),
        # A typo in HUBS with the URL include present used to crash the URL checks with a traceback.
        (f"{PROJECT}.settings_typo", "django_hubs.E002"),
        (f"{PROJECT}.settings_typo_one_line", "django_hubs.E002"),
    ],
)
def test_manage_py_check_on_the_channels_project(settings: str, expected: str | None):
    completed = manage_py_check(settings)
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output, output
    if expected is None:
        assert completed.returncode == 0, output
        assert "System check identified no issues" in output
    else:
        assert completed.returncode == 1, output
        assert expected in output
        assert "ChatHubb" in output
