"""README's screenshots of the demo, at 1280x800: ``.venv/bin/python -m tests.browser.screenshots``.

Runs the demo under daphne on a fresh database and writes ``demo_project/screenshot.png``
(ada, a moderator: a conversation, private messages, the streamed task, "typing…") and
``demo_project/screenshot-member.png`` (grace: the hub refusing her moderation, said next to
the button). Uses Debian's chromium, like the browser tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect, sync_playwright

from tests.interop.live import PYTHON, ROOT

from .conftest import CHROMIUM_ARGS, DEMO, VIEWPORT, launch_demo


def sign_in(browser: Any, url: str, name: str) -> Page:
    page = browser.new_context(viewport=VIEWPORT, color_scheme="light").new_page()
    page.goto(url + "/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(f"{name}-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection-text")).to_have_text("Connected")
    return page


def say(page: Page, text: str, seen_by: Page) -> None:
    page.locator("#message-text").fill(text)
    page.locator("#message-form").get_by_role("button", name="Send").click()
    expect(seen_by.get_by_role("log")).to_contain_text(text)


def whisper(page: Page, to: str, text: str, seen_by: Page) -> None:
    page.get_by_label("To").select_option(to)
    page.locator("#private-text").fill(text)
    page.locator("#private-form").get_by_role("button", name="Send").click()
    expect(seen_by.locator("#private-list")).to_contain_text(text)


def take(url: str, out: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is needed: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        ada, grace = sign_in(browser, url, "ada"), sign_in(browser, url, "grace")
        say(grace, "Morning Ada! The new compiler passes are in.", ada)
        say(ada, "Great work. Are the benchmarks done?", grace)
        say(grace, "Running now, I'll post the numbers here.", ada)
        whisper(grace, "ada", "Could you review my patch today?", ada)
        whisper(grace, "ada", "No rush, tomorrow is fine too.", ada)
        ada.get_by_role("button", name="Start").click()
        expect(ada.locator("#task-status")).to_contain_text("Step 9 of 20")
        ada.locator("#message-text").fill("Sure, after lunch")
        grace.locator("#message-text").press_sequentially("Thanks")
        expect(ada.locator("#typing")).to_have_text("grace is typing…")
        ada.screenshot(path=str(out / "screenshot.png"))

        ada.get_by_role("button", name="Cancel").click()
        grace.locator("#message-text").fill("")
        grace.get_by_role("button", name="Clear this room").click()
        expect(grace.locator("#moderation-result")).to_be_visible()
        grace.screenshot(path=str(out / "screenshot-member.png"))
        browser.close()


def main() -> None:
    expect.set_options(timeout=20_000)
    work = Path(tempfile.mkdtemp(prefix="demo-screenshots-"))
    database = work / "template.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "PYTHONPATH": str(ROOT),
        "DEMO_DB": str(database),
    }
    for command in (["migrate", "-v", "0"], ["seed_demo"]):
        subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True)
    server = launch_demo(database, work, DEMO_TASK_STEP_SECONDS="0.5")
    try:
        take(server.url, DEMO)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {DEMO / 'screenshot.png'} and {DEMO / 'screenshot-member.png'}")


if __name__ == "__main__":
    main()
