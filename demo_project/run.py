"""The demo command: ``python3 demo_project/run.py`` serves the chat on http://127.0.0.1:8000.

It sets up ``.venv-demo`` (or ``$HUBS_DEMO_VENV``) from demo_project/requirements.txt (the
demo's packages only, pinned as in requirements.txt) and the browser client's npm package,
creates the database and the two demo users, then runs ``manage.py runserver`` (daphne).
Standard library only: it runs before anything is installed.

Options: ``--port N`` (default 8000), ``--setup-only`` (stop before starting the server).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bootstrap import ROOT, ensure_npm, ensure_venv

DEMO = ROOT / "demo_project"
#: The demo's own virtualenv: the test suite's ``.venv`` holds the whole test toolchain.
DEMO_VENV = Path(os.environ.get("HUBS_DEMO_VENV", ROOT / ".venv-demo"))
DEMO_REQUIREMENTS = DEMO / "requirements.txt"
SIGNALR_JS = DEMO / "node_modules" / "@microsoft" / "signalr" / "dist" / "browser" / "signalr.min.js"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Set up and run the django-hubs demo chat.")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    parser.add_argument("--setup-only", action="store_true", help="set everything up, but do not start the server")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    python = ensure_venv(DEMO_VENV, DEMO_REQUIREMENTS)
    if not ensure_npm(DEMO, required=os.environ.get("CI") == "true") and not SIGNALR_JS.exists():
        sys.exit(
            "The chat page needs the official SignalR browser client, which npm installs: "
            "install Node.js with npm and run this again."
        )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo_project.settings"}

    def manage(*command: str) -> None:
        subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True)

    manage("migrate", "--verbosity", "0")
    print("Demo users (username / password):", flush=True)
    manage("seed_demo")
    if args.setup_only:
        return 0
    print(
        f"\nOpen http://127.0.0.1:{args.port}/ and sign in; use a second browser or a private window "
        "to chat as the other user.\nStaff page (ada): /staff/  ·  Stop with Ctrl-C.\n",
        flush=True,
    )
    try:
        return subprocess.call([python, "manage.py", "runserver", f"127.0.0.1:{args.port}"], cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
