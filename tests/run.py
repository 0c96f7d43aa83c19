"""The test command: ``python3 tests/run.py`` (the whole thing) or ``python3 tests/run.py [pytest arguments]``.

Sets up the virtualenv and the npm packages of the interop tests, runs the whole suite
(live servers, official clients, the browser) on this Python and requirements.txt's Django,
then the in-process suite on every other cell of the version matrix (``noxfile.py``:
Python 3.11-3.13 x Django 5.2 and 6.0). With pytest arguments, only pytest runs, with them.
With ``CI=true`` a missing tool (node, npm, redis-server, a Python of the matrix) fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bootstrap import ROOT, ensure_npm, ensure_venv, matrix_path

CELL = "import sys, django; print(f'py{sys.version_info[0]}.{sys.version_info[1]}-django{django.VERSION[0]}.{django.VERSION[1]}')"


def main() -> int:
    python = ensure_venv()
    required = os.environ.get("CI") == "true"
    ensure_npm(ROOT / "tests" / "interop", required)
    ensure_npm(ROOT / "demo_project", required)  # the browser tests serve the demo
    if sys.argv[1:]:
        return subprocess.call([python, "-m", "pytest", *sys.argv[1:]], cwd=ROOT)
    status = subprocess.call([python, "-m", "pytest", "tests"], cwd=ROOT)
    if status != 0:
        return status
    # The cell the whole suite just ran on is not run again.
    here = subprocess.run([python, "-c", CELL], check=True, capture_output=True, text=True).stdout.strip()
    listing = subprocess.run(
        [python, "-m", "nox", "--list", "--json"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    others = [cell["session"] for cell in json.loads(listing.stdout) if cell["session"] != f"tests({here})"]
    env = {**os.environ, "PATH": matrix_path(required)}
    return subprocess.call([python, "-m", "nox", "--sessions", *others], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
