"""The test settings, with a raw connection handler beside the hubs (tests/interop/test_raw_connections.py)."""

from tests.settings import *  # noqa: F403
from tests.settings import HUBS

HUBS = {**HUBS, "raw/echo": "tests.testapp.raw.EchoHandler"}
