"""``manage.py check``: unusable HUBS_* settings are errors, unsafe CORS settings are warnings."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest
from corsheaders.defaults import default_headers
from django.core import checks
from django.test import override_settings

from django_hubs.checks import check_security, check_settings
from tests.interop.live import ROOT

SIGNALR_HEADERS = (*default_headers, "x-signalr-user-agent")
SAFE_CORS = {
    "CORS_ALLOWED_ORIGINS": ["https://app.example.com"],
    "CORS_ALLOW_CREDENTIALS": True,
    "CORS_ALLOW_HEADERS": SIGNALR_HEADERS,
    "HUBS": {"hubs/test": "tests.testapp.hubs.TestHub"},
}


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return sorted(message.id for message in messages)


def security_ids() -> list[str]:
    return ids(check_security())


@override_settings(**SAFE_CORS)
def test_a_safe_configuration_is_quiet():
    assert security_ids() == []
    assert ids(check_settings()) == []


@override_settings(HUBS={"hubs/test": "tests.testapp.hubs.TestHub"})
def test_same_origin_only_needs_no_cors_settings():
    # No origins listed: CORS plays no part, whatever cors-headers' other settings say.
    assert security_ids() == []


@override_settings(**{**SAFE_CORS, "CORS_ALLOW_ALL_ORIGINS": True})
def test_w001_allow_all_origins():
    assert security_ids() == ["django_hubs.W001"]


@override_settings(**{**SAFE_CORS, "CORS_ALLOW_CREDENTIALS": False})
def test_w002_credentials_off():
    assert security_ids() == ["django_hubs.W002"]


@pytest.mark.parametrize("methods", [["POST", "OPTIONS"], ["get", "options"], []])
def test_w003_get_or_post_missing(methods):
    with override_settings(**SAFE_CORS, CORS_ALLOW_METHODS=methods):
        messages = check_security()
    assert ids(messages) == ["django_hubs.W003"]


@override_settings(**{**SAFE_CORS, "CORS_ALLOW_METHODS": ["get", "post"]})
def test_methods_are_compared_without_case():
    assert security_ids() == []


@override_settings(**{**SAFE_CORS, "CORS_ALLOW_HEADERS": default_headers})
def test_w004_signalr_headers_missing():
    # cors-headers' defaults lack x-signalr-user-agent, which browsers' SignalR clients send.
    messages = check_security()
    assert ids(messages) == ["django_hubs.W004"]
    assert "x-signalr-user-agent" in messages[0].msg


@override_settings(**{**SAFE_CORS, "CORS_ALLOWED_ORIGINS": [], "CORS_ALLOWED_ORIGIN_REGEXES": [r"^https://.*$"]})
def test_regexes_count_as_cross_origin():
    with override_settings(CORS_ALLOW_CREDENTIALS=False):
        assert security_ids() == ["django_hubs.W002"]


@pytest.mark.parametrize(
    "hubs_settings",
    [
        {"HUBS_DETAILED_ERRORS": True},
        {"HUBS": {"hubs/test": {"hub": "tests.testapp.hubs.TestHub", "HUBS_DETAILED_ERRORS": True}}},
        {"HUBS": {"hubs/test": {"hub": "tests.testapp.hubs.TestHub", "DETAILED_ERRORS": True}}},
    ],
)
def test_w005_detailed_errors_outside_debug(hubs_settings):
    with override_settings(**{**SAFE_CORS, **hubs_settings}, DEBUG=False):
        assert security_ids() == ["django_hubs.W005"]
    with override_settings(**{**SAFE_CORS, **hubs_settings}, DEBUG=True):
        assert security_ids() == []


@override_settings(**SAFE_CORS, HUBS_REDACTED_QUERY_PARAMS=["sig"])
def test_w006_access_token_not_redacted():
    assert security_ids() == ["django_hubs.W006"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("HUBS_DETAILED_ERRORS", "yes"),
        ("HUBS_CLOSE_ON_TOKEN_EXPIRY", 1),
        ("HUBS_STATEFUL_RECONNECT", None),
        ("HUBS_KEEP_ALIVE_INTERVAL", "15"),
        ("HUBS_CLIENT_TIMEOUT", 0),
        ("HUBS_HANDSHAKE_TIMEOUT", -1),
        ("HUBS_DISCONNECT_TIMEOUT", datetime.timedelta(0)),
        ("HUBS_LONG_POLL_TIMEOUT", True),
        ("HUBS_MAX_PARALLEL_INVOCATIONS", 0),
        ("HUBS_MAX_PARALLEL_INVOCATIONS", 1.5),
        ("HUBS_SYNC_THREADS", 0),
        ("HUBS_AUTH_THREADS", "4"),
        ("HUBS_STREAM_BUFFER_CAPACITY", "10"),
        ("HUBS_MAX_MESSAGE_SIZE", 0),
        ("HUBS_MAX_MESSAGE_SIZE", "32k"),
        ("HUBS_MAX_OUTGOING_BUFFER", -5),
        ("HUBS_TRANSPORTS", "WebSockets"),
        ("HUBS_TRANSPORTS", []),
        ("HUBS_TRANSPORTS", ["WebSocket"]),
        ("HUBS_PROTOCOLS", ["json", "protobuf"]),
        ("HUBS_REDACTED_QUERY_PARAMS", "access_token"),
        ("HUBS_REDACTED_QUERY_PARAMS", ["access_token", 3]),
    ],
)
def test_e004_invalid_setting(setting, value):
    with override_settings(**{setting: value}):
        messages = check_settings()
    assert ids(messages) == ["django_hubs.E004"]
    assert messages[0].msg.startswith(setting)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("HUBS_KEEP_ALIVE_INTERVAL", datetime.timedelta(seconds=5)),
        ("HUBS_CLIENT_TIMEOUT", 2.5),
        ("HUBS_MAX_MESSAGE_SIZE", None),
        ("HUBS_TRANSPORTS", ("LongPolling",)),
        ("HUBS_PROTOCOLS", ["messagepack"]),
        ("HUBS_REDACTED_QUERY_PARAMS", ["access_token", "sig"]),
    ],
)
def test_valid_values(setting, value):
    with override_settings(**{setting: value}):
        assert check_settings() == []


@pytest.mark.parametrize(
    ("hubs", "expected"),
    [
        ("tests.testapp.hubs.TestHub", ["django_hubs.E001"]),
        ({"": "tests.testapp.hubs.TestHub"}, ["django_hubs.E003"]),
        ({"hubs/x": "tests.testapp.hubs.Missing"}, ["django_hubs.E002"]),
        ({"hubs/x": "no.such.module.Hub"}, ["django_hubs.E002"]),
        ({"hubs/x": "tests.testapp.hubs.events"}, ["django_hubs.E002"]),
        ({"hubs/x": dict}, ["django_hubs.E002"]),
        ({"hubs/x": {"HUBS_DETAILED_ERRORS": True}}, ["django_hubs.E002"]),
        ({"hubs/x": {"hub": "tests.testapp.hubs.TestHub", "TIMEOUT": 3}}, ["django_hubs.E005"]),
        ({"hubs/x": {"hub": "tests.testapp.hubs.TestHub", "CLIENT_TIMEOUT": "3"}}, ["django_hubs.E004"]),
        ({"hubs/x": {"hub": "tests.testapp.hubs.TestHub", "HUBS_MAX_MESSAGE_SIZE": None}}, []),
    ],
)
def test_hubs_registry(hubs, expected):
    with override_settings(HUBS=hubs):
        assert ids(check_settings()) == expected


def test_a_hub_class_itself_is_accepted():
    from tests.testapp.hubs import TestHub

    with override_settings(HUBS={"hubs/x": TestHub}):
        assert check_settings() == []


def test_checks_are_registered_under_the_security_tag():
    registered = checks.registry.registry.get_checks()
    assert check_settings in registered and check_security in registered
    assert check_security in checks.registry.registry.get_checks(include_deployment_checks=False)
    assert checks.Tags.security in check_security.tags


def test_manage_py_check_reports_them():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "HUBS_TEST_CORS_ORIGINS": "https://a.example",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "django", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # The test settings list an origin without x-signalr-user-agent or credentials.
    assert "django_hubs.W002" in completed.stderr + completed.stdout
    assert "django_hubs.W004" in completed.stderr + completed.stdout
