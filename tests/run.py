"""The test command: ``python3 tests/run.py [pytest arguments]``.

Sets up the virtualenv and the npm packages of the interop tests, then runs pytest.
With ``CI=true`` a missing tool (node, npm, redis-server) fails instead of skipping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bootstrap import ROOT, ensure_npm, ensure_venv


def main() -> int:
    python = ensure_venv()
    required = os.environ.get("CI") == "true"
    ensure_npm(ROOT / "tests" / "interop", required)
    ensure_npm(ROOT / "demo_project", required)  # the browser tests serve the demo
    args = sys.argv[1:] or ["tests"]
    return subprocess.call([python, "-m", "pytest", *args], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
