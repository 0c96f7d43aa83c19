"""Shared fixtures of the in-process tests.

hypothesis is imported here, at collection, on purpose: when its pytest plugin first
imports it at the end of a run (a run with no hypothesis test), CPython 3.11.7 can fail
with "SystemError: AST constructor recursion depth mismatch" while rewriting it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import hypothesis  # noqa: F401
import pytest

from tests.testapp import hubs


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
