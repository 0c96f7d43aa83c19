"""Shared fixtures of the in-process tests."""

from __future__ import annotations

import pytest

from tests.testapp import hubs


@pytest.fixture(autouse=True)
def _clear_events():
    hubs.events.clear()
    yield
    hubs.events.clear()
