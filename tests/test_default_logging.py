"""The ``django_hubs`` logger's default: INFO on stderr for a project without ``LOGGING`` for it.

The live proof (a new project under ``manage.py runserver`` shows ``connected <id>`` at INFO,
and nothing did before) is ``tests/test_wheel.py``'s last test. These check the rules: a
project's own configuration is left alone, and the default handler redacts tokens.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator

import pytest
from django.test import override_settings

from django_hubs.apps import DEFAULT_LOG_FORMAT, default_logging
from django_hubs.security.redaction import REDACTED, RedactTokensFilter, install

DEFAULT_LOGGING_ONLY = "logging.config.dictConfig"


@pytest.fixture
def fresh_loggers() -> Iterator[logging.Logger]:
    """The ``django_hubs`` and root loggers as a project without ``LOGGING`` has them; restored after."""
    hubs = logging.getLogger("django_hubs")
    saved = (hubs.handlers[:], hubs.level, hubs.propagate)
    hubs.handlers[:] = []
    hubs.setLevel(logging.NOTSET)
    hubs.propagate = True
    try:
        yield hubs
    finally:
        hubs.handlers[:] = saved[0]
        hubs.setLevel(saved[1])
        hubs.propagate = saved[2]


@contextlib.contextmanager
def no_root_handlers() -> Iterator[None]:
    """pytest's capture handlers sit on the root logger while a test runs; a new project has none."""
    root = logging.getLogger()
    saved, root.handlers = root.handlers, []
    try:
        yield
    finally:
        root.handlers = saved


def default(*args: object) -> logging.Handler | None:
    with no_root_handlers():
        return default_logging(*args)


@override_settings(DEBUG=True)
def test_a_project_without_logging_gets_info_on_stderr(
    fresh_loggers: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = default(DEFAULT_LOGGING_ONLY, {})
    assert isinstance(handler, logging.Handler) and fresh_loggers.handlers == [handler]
    assert fresh_loggers.getEffectiveLevel() == logging.INFO
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)  # the handler writes to sys.stderr as it is now
    logging.getLogger("django_hubs.connection").info("connected %s hub=%s", "abc", "hubs/chat")
    logging.getLogger("django_hubs.connection").debug("not shown")
    assert stream.getvalue().endswith("INFO django_hubs.connection: connected abc hub=hubs/chat\n")


@override_settings(DEBUG=True)
def test_the_default_handler_redacts(fresh_loggers: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = default(DEFAULT_LOGGING_ONLY, {})
    assert handler is not None
    install()
    assert any(isinstance(f, RedactTokensFilter) for f in handler.filters)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logging.getLogger("django_hubs.transport").info("GET %s", "/hubs/chat?access_token=secret-value")
    assert f"access_token={REDACTED}" in stream.getvalue() and "secret-value" not in stream.getvalue()


@override_settings(DEBUG=False)
def test_without_debug_only_warnings_show(fresh_loggers: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Django's console handler (and the test runner, which turns DEBUG off): INFO only while DEBUG."""
    assert default(DEFAULT_LOGGING_ONLY, {}) is not None
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logging.getLogger("django_hubs.connection").info("connected abc")
    logging.getLogger("django_hubs.connection").warning("closing abc: the client is not reading")
    assert stream.getvalue().endswith("WARNING django_hubs.connection: closing abc: the client is not reading\n")
    assert "connected abc" not in stream.getvalue()


@pytest.mark.parametrize(
    "logging_settings",
    [
        {"version": 1, "loggers": {"django_hubs": {"level": "WARNING"}}},
        {"version": 1, "loggers": {"django_hubs.connection": {"handlers": []}}},
    ],
    ids=["the app's logger", "a logger below it"],
)
def test_a_project_that_names_the_logger_keeps_its_config(
    fresh_loggers: logging.Logger, logging_settings: dict[str, object]
) -> None:
    fresh_loggers.setLevel(logging.WARNING)
    assert default(DEFAULT_LOGGING_ONLY, logging_settings) is None
    assert fresh_loggers.handlers == [] and fresh_loggers.level == logging.WARNING


def test_records_that_already_reach_a_handler_get_no_second_one(fresh_loggers: logging.Logger) -> None:
    """``daphne``'s command calls ``logging.basicConfig``: its root handler shows them already."""
    with no_root_handlers():
        logging.getLogger().addHandler(logging.NullHandler())
        assert default_logging(DEFAULT_LOGGING_ONLY, {}) is None
    assert fresh_loggers.handlers == []


def test_logging_config_none_means_the_project_configures_logging(fresh_loggers: logging.Logger) -> None:
    assert default(None, {}) is None
    assert fresh_loggers.handlers == []


def test_this_suites_own_logging_is_kept() -> None:
    """tests/settings.py configures ``django_hubs``: ``ready()`` added no handler of its own."""
    hubs = logging.getLogger("django_hubs")
    assert hubs.handlers, "tests/settings.py's console handler is missing"
    assert not [h for h in hubs.handlers if h.formatter is not None and h.formatter._fmt == DEFAULT_LOG_FORMAT]
    assert hubs.propagate is False
