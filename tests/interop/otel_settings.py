"""The test settings with an OpenTelemetry SDK set up in the server process (tests/interop/test_tracing_live.py)."""

import tests.interop.otel_telemetry  # noqa: F401 - sets the global providers before Django starts
from tests.settings import *  # noqa: F403
from tests.settings import HUBS as _HUBS

HUBS = {**_HUBS, "hubs/traced": "tests.testapp.traced.TracedHub"}
