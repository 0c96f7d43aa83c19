"""The demo at 1280x800 as a newcomer sees it: nothing hidden, every refusal said in words.

Each test drives what issue #16 found in a real browser: the moderation button pushed out of
the side column, a non-staff user sent to the sign-in page without a word, the refused
moderation shown far from its button in the client's wording and never cleared, two
empty-state lines in a cleared room, and the Content Security Policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import django
from playwright.sync_api import Page, expect

from demo_project import csp
from tests.interop.live import LiveServer

from .conftest import VIEWPORT
from .test_chat import REFUSED, messages, reload_until, say, sign_in

#: Enough private messages to fill the side column's list well past its height.
PRIVATE_MESSAGES = 8


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


def assert_in_view_and_uncovered(page: Page, selector: str) -> None:
    """The element lies inside the window, and a click at its centre reaches it."""
    area = box(page, selector)
    assert area["x"] >= 0 and area["y"] >= 0, area
    assert area["x"] + area["width"] <= VIEWPORT["width"] and area["y"] + area["height"] <= VIEWPORT["height"], area
    centre = {"x": area["x"] + area["width"] / 2, "y": area["y"] + area["height"] / 2}
    hit = page.evaluate(
        "([x, y, selector]) => document.elementFromPoint(x, y)?.closest(selector) !== null",
        [centre["x"], centre["y"], selector],
    )
    assert hit, f"{selector} is covered at its centre {centre}"


def fill_the_side_column(sender: Page, recipient: Page, to: str) -> None:
    for number in range(PRIVATE_MESSAGES):
        sender.get_by_label("To").select_option(to)
        sender.locator("#private-text").fill(f"Private note {number}")
        sender.locator("#private-form").get_by_role("button", name="Send").click()
        expect(recipient.locator("#private-list li")).to_have_count(number + 1)


def test_the_moderation_button_and_the_task_stay_in_view(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    ada = sign_in(new_context(), demo, "ada")
    grace = sign_in(new_context(), demo, "grace")
    fill_the_side_column(grace, ada, "ada")
    ada.get_by_role("button", name="Start").click()
    expect(ada.get_by_role("button", name="Cancel")).to_be_visible()

    # The moderator with a task running, and a user whose click the hub refuses.
    for page, task_button in ((ada, "#task-cancel"), (grace, "#task-start")):
        assert_in_view_and_uncovered(page, "#clear-room")
        assert_in_view_and_uncovered(page, task_button)
        # The side column fits the window: its list scrolls, the column itself has nothing below the fold.
        side = page.evaluate(
            "(() => { const s = document.querySelector('.side'); return [s.scrollHeight, s.clientHeight]; })()"
        )
        assert side[0] <= side[1], f"the side column overflows: {side}"
        assert page.evaluate("document.documentElement.scrollHeight") <= VIEWPORT["height"]
    ada.get_by_role("button", name="Cancel").click()


def test_a_refused_moderation_is_said_in_words_next_to_its_button_then_clears(
    demo: LiveServer, new_context: Callable[[], Any]
) -> None:
    grace = sign_in(new_context(), demo, "grace")
    result = grace.locator("#moderation-result")
    grace.get_by_role("button", name="Clear this room").click()
    expect(result).to_have_text(REFUSED)
    expect(grace.locator("#main")).not_to_contain_text("unauthorized")
    expect(grace.locator("#main")).not_to_contain_text("Failed to invoke")

    # Right below the button, overlapping it horizontally.
    button, said = box(grace, "#clear-room"), box(grace, "#moderation-result")
    assert 0 <= said["y"] - (button["y"] + button["height"]) <= 32, (button, said)
    assert said["x"] < button["x"] + button["width"] and button["x"] < said["x"] + said["width"], (button, said)

    say(grace, "Moving on")  # the next action clears it
    expect(messages(grace)).to_contain_text("Moving on")
    expect(result).to_be_hidden()

    grace.get_by_role("button", name="Clear this room").click()
    expect(result).to_have_text(REFUSED)
    expect(result).to_be_hidden()  # by itself, after 8 seconds


def test_a_cleared_room_shows_one_line(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    ada = sign_in(new_context(), demo, "ada")
    grace = sign_in(new_context(), demo, "grace")
    ada.get_by_label("Join a room").fill("cleared")
    ada.get_by_role("button", name="Join", exact=True).click()
    grace.get_by_label("Join a room").fill("cleared")
    grace.get_by_role("button", name="Join", exact=True).click()
    expect(grace.get_by_role("heading", name="#cleared")).to_be_visible()
    say(grace, "Soon gone")
    expect(messages(ada)).to_contain_text("Soon gone")

    ada.get_by_role("button", name="Clear this room").click()
    expect(ada.locator("#moderation-result")).to_have_text("Deleted 1 message.")
    for page, line in ((grace, "ada cleared this room."), (ada, "You cleared this room.")):
        empty_lines = page.locator("#main .note:visible, #main .empty:visible")
        expect(empty_lines).to_have_count(1)
        expect(empty_lines).to_have_text(line)

    say(grace, "Fresh start")  # the first message replaces that line
    expect(messages(ada).locator(".message")).to_have_count(1)
    expect(ada.locator("#main .note:visible")).to_have_count(0)


def test_a_non_staff_user_is_told_the_staff_page_is_for_staff(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    grace = sign_in(new_context(), demo, "grace")
    staff = grace.context.new_page()
    response = staff.goto(demo.url + "/staff/")
    assert response is not None and response.status == 403
    expect(staff).to_have_url(demo.url + "/staff/")
    expect(staff.get_by_role("heading", name="Hub status is for staff only")).to_be_visible()
    expect(staff.locator("main")).to_contain_text("You are signed in as grace, who is not a staff user")
    staff.get_by_role("link", name="Back to the chat").last.click()
    expect(staff.locator("#connection-text")).to_have_text("Connected")


def test_the_pages_carry_a_content_security_policy_that_lets_the_hub_connect(
    demo: LiveServer, new_context: Callable[[], Any]
) -> None:
    """The header on Django 6.0+, a meta tag on 5.2; blocked requests fail the test (conftest)."""
    ada = sign_in(new_context(), demo, "ada")
    response = ada.reload()
    assert response is not None
    expect(ada.locator("#connection-text")).to_have_text("Connected")
    header = response.headers.get("content-security-policy")
    meta = ada.locator("meta[http-equiv=Content-Security-Policy]")
    if django.VERSION >= (6, 0):
        assert header is not None
        expect(meta).to_have_count(0)
        policy = header
    else:
        assert header is None
        policy = meta.get_attribute("content") or ""
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"].split() == csp.policy(["localhost", "127.0.0.1", "[::1]"])["connect-src"]
    assert "ws://127.0.0.1:*" in directives["connect-src"].split()

    # The page is on WebSockets: a policy refusing ws: would have left it on Server-Sent Events.
    staff = ada.context.new_page()
    staff.goto(demo.url + "/staff/")
    transports = staff.locator("[data-figure=transports]")
    reload_until(staff, lambda: re.search(r"Transports:\s+WebSockets \d+\s+·", transports.inner_text()) is not None)
