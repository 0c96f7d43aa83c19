"""Shared fixtures of the in-process tests.

hypothesis is imported here, at collection, on purpose: when its pytest plugin first
imports it at the end of a run (a run with no hypothesis test), CPython 3.11.7 can fail
with "SystemError: AST constructor recursion depth mismatch" while rewriting it.
"""

from __future__ import annotations

import hypothesis  # noqa: F401
import pytest

from tests.testapp import hubs


@pytest.fixture(autouse=True)
def _clear_events():
    hubs.events.clear()
    yield
    hubs.events.clear()
