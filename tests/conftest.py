"""Shared fixtures of the in-process tests.

hypothesis is imported here, at collection, on purpose: when its pytest plugin first
imports it at the end of a run (a run with no hypothesis test), CPython 3.11.7 can fail
with "SystemError: AST constructor recursion depth mismatch" while rewriting it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import hypothesis  # noqa: F401
import pytest

from tests.testapp import hubs


@pytest.fixture(autouse=True)
def _no_periodic_database_close_without_a_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Tests without database access have nothing to keep fresh, and pytest-django forbids touching it.

    The hubs' periodic ``close_old_connections()`` (``django_hubs.server.dbclose``) would otherwise
    reach a connection an earlier database test left open in asgiref's thread.
    """
    from django_hubs.server import dbclose, threads

    uses_db = request.node.get_closest_marker("django_db") is not None or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if not uses_db:
        monkeypatch.setattr(dbclose, "INTERVAL", math.inf)
        # Nor do the worker threads' calls: a thread that kept a connection from an earlier
        # database test (SQLite's in-memory test database ignores close()) would be refused.
        monkeypatch.setattr(threads, "close_old_connections", lambda: None)


@pytest.fixture(autouse=True)
def _clear_events():
    hubs.events.clear()
    yield
    hubs.events.clear()


class ErrorRecords(logging.Handler):
    """ERROR records of django_hubs (which does not propagate) and of asyncio (lost task exceptions)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unexpected(self, expected: tuple[str, ...] = ()) -> list[str]:
        """The records, formatted, but for those whose message template is in ``expected``."""
        return [self.format(r) for r in self.records if r.msg not in expected]


@pytest.fixture
def error_log() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    loggers = [logging.getLogger("django_hubs"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
