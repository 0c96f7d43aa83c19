"""The reliability suite shares the interop suite's live fixtures (database, log directory, the JS agent)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.conftest import agent, live_db, log_dir  # noqa: F401 - fixtures
from tests.interop.live import RedisServer


@pytest.fixture
def redis_server(log_dir) -> Iterator[RedisServer]:  # noqa: F811 - the imported fixture
    server = RedisServer(log_dir).start()
    yield server
    server.stop()
