"""The reliability suite shares the interop suite's live fixtures (database, log directory)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.interop.conftest import live_db, log_dir  # noqa: F401 - fixtures
from tests.interop.live import JsAgent, RedisServer


@pytest.fixture
def redis_server(log_dir) -> Iterator[RedisServer]:  # noqa: F811 - the imported fixture
    server = RedisServer(log_dir).start()
    yield server
    server.stop()


@pytest.fixture
def agent() -> Iterator[JsAgent]:
    agent = JsAgent()
    yield agent
    agent.close()


class ErrorRecords(logging.Handler):
    """ERROR records of django_hubs (which does not propagate) and of asyncio (lost task exceptions)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    loggers = [logging.getLogger("django_hubs"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
