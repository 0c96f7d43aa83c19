"""People using the demo chat in Chromium: two users, each in a browser context of their own.

The pages load the official ``@microsoft/signalr`` browser client and connect with a JWT
from /api/token/, exactly as a newcomer running ``python3 demo_project/run.py`` would.
The module's server is restarted by the last test, so that test stays last.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.interop.live import LiveServer

from .conftest import ARTIFACTS

#: What a user without ``chat.moderate`` reads next to the button (the hub says "unauthorized").
REFUSED = "Only moderators can clear a room: you need the chat.moderate permission."


def sign_in(context: Any, server: LiveServer, name: str) -> Page:
    """Open the chat, land on the sign-in page, sign in and wait for the hub connection."""
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(f"{name}-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection-text")).to_have_text("Connected")
    expect(page.get_by_role("heading", name="#lobby")).to_be_visible()
    return page


def send_button(page: Page) -> Any:
    return page.locator("#message-form").get_by_role("button", name="Send")


def say(page: Page, text: str) -> None:
    page.locator("#message-text").fill(text)
    send_button(page).click()


def reload_until(page: Page, condition: Callable[[], bool], timeout: float = 10) -> None:
    """Reload a server-rendered page until ``condition`` holds (the server may still be closing old sockets)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the page never showed the expected state"
        time.sleep(0.2)
        page.reload()


def messages(page: Page) -> Any:
    return page.get_by_role("log")


def test_a_wrong_password_is_refused_on_the_page(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    page = new_context().new_page()
    page.goto(demo.url + "/login/")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Your username and password didn't match. Please try again.")
    expect(page).to_have_url(demo.url + "/login/")


def test_two_people_chat_with_presence_typing_and_history(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    ada = sign_in(new_context(), demo, "ada")
    grace = sign_in(new_context(), demo, "grace")

    expect(ada.locator("#online-list")).to_contain_text("grace")
    expect(grace.locator("#online-list")).to_contain_text("ada")
    expect(ada.locator("#room-count")).to_have_text("2 online")

    grace.locator("#message-text").press_sequentially("Hello Ada")
    expect(ada.locator("#typing")).to_have_text("grace is typing…")
    send_button(grace).click()
    expect(messages(ada)).to_contain_text("Hello Ada")
    expect(ada.locator("#typing")).to_have_text("")  # her message ends the "typing…"

    say(ada, "Hi Grace! How is the compiler going?")
    expect(messages(grace)).to_contain_text("How is the compiler going?")
    expect(messages(ada).locator(".message.mine")).to_have_count(1)

    ARTIFACTS.mkdir(exist_ok=True)
    ada.screenshot(path=str(ARTIFACTS / "chat.png"))

    # A reload starts a new connection: the room's history comes back from the database.
    grace.reload()
    expect(grace.locator("#connection-text")).to_have_text("Connected")
    expect(messages(grace).locator(".message")).to_have_count(2)
    expect(messages(grace)).to_contain_text("Hello Ada")
    expect(messages(grace)).to_contain_text("How is the compiler going?")

    # Another room: grace's presence there, ada's list of it unchanged.
    grace.get_by_label("Join a room").fill("python")
    grace.get_by_role("button", name="Join", exact=True).click()
    expect(grace.get_by_role("heading", name="#python")).to_be_visible()
    say(grace, "Only pythonistas here")
    expect(ada.locator("#online-list li")).to_have_count(2)  # in lobby: grace is still there too
    expect(messages(ada)).not_to_contain_text("pythonistas")
    grace.get_by_role("button", name="Leave lobby").click()
    expect(ada.locator("#online-list li")).to_have_count(1)

    # The staff page reads django-hubs' metrics: connections, groups, invocations.
    staff = ada.context.new_page()
    staff.goto(demo.url + "/staff/")
    expect(staff.get_by_role("heading", name="/hubs/chat")).to_be_visible()
    reload_until(staff, lambda: staff.locator("[data-figure=connections]").inner_text() == "2")
    expect(staff.locator("[data-figure=transports]")).to_contain_text("WebSockets 2")
    expect(staff.get_by_role("row", name="lobby 1")).to_be_visible()
    expect(staff.get_by_role("row", name="python 1")).to_be_visible()
    invocations = staff.locator("[data-table=invocations]")
    expect(invocations.get_by_role("row", name=re.compile(r"^join [1-9]"))).to_be_visible()
    expect(invocations.get_by_role("row", name=re.compile(r"^send_message [1-9]"))).to_be_visible()

    # Signing out ends ada's connection: grace sees her leave.
    ada.get_by_role("button", name="Sign out").click()
    expect(ada).to_have_url(demo.url + "/login/")
    assert ada.evaluate("localStorage.getItem('django-hubs-demo.tokens')") is None
    expect(grace.locator("#private-to")).to_have_text("Nobody else is online")


def test_a_private_message_reaches_every_tab_of_its_recipient(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    ada = sign_in(new_context(), demo, "ada")
    grace_context = new_context()
    grace_first = sign_in(grace_context, demo, "grace")
    grace_second = grace_context.new_page()  # a second tab: same cookies and tokens, no sign-in
    grace_second.goto(demo.url + "/")
    expect(grace_second.locator("#connection-text")).to_have_text("Connected")

    expect(ada.locator("#private-to option[value=grace]")).to_have_count(1)
    ada.get_by_label("To").select_option("grace")
    ada.locator("#private-text").fill("Just between us")
    ada.locator("#private-form").get_by_role("button", name="Send").click()

    for tab in (grace_first, grace_second):
        expect(tab.locator("#private-list")).to_contain_text("From ada")
        expect(tab.locator("#private-list")).to_contain_text("Just between us")
    expect(ada.locator("#private-list")).to_contain_text("To grace")
    expect(messages(grace_first)).not_to_contain_text("Just between us")  # not in the room


def test_only_a_moderator_may_clear_a_room(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    ada = sign_in(new_context(), demo, "ada")
    grace = sign_in(new_context(), demo, "grace")
    say(grace, "Something to moderate")
    expect(messages(ada)).to_contain_text("Something to moderate")

    grace.get_by_role("button", name="Clear this room").click()
    expect(grace.locator("#moderation-result")).to_have_text(REFUSED)
    expect(messages(grace)).to_contain_text("Something to moderate")

    ada.get_by_role("button", name="Clear this room").click()
    expect(grace.locator("#messages")).to_have_text("ada cleared this room.")
    expect(messages(grace).locator(".message")).to_have_count(0)
    expect(ada.locator("#moderation-result")).to_have_text(
        re.compile(r"^Deleted \d+ messages?\.$")
    )  # earlier tests' too


def test_a_long_task_streams_its_progress(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    grace = sign_in(new_context(), demo, "grace")
    grace.get_by_role("button", name="Start").click()
    expect(grace.locator("#task-status")).to_have_text("Done: all steps finished.")
    expect(grace.locator("#task-progress")).to_have_js_property("value", 100)

    grace.get_by_role("button", name="Start").click()
    expect(grace.locator("#task-status")).to_contain_text("Step ")
    grace.get_by_role("button", name="Cancel").click()
    expect(grace.locator("#task-status")).to_have_text("Cancelled.")
    expect(grace.get_by_role("button", name="Start")).to_be_visible()


def test_both_reconnect_by_themselves_after_a_server_restart(demo: LiveServer, new_context: Callable[[], Any]) -> None:
    ada = sign_in(new_context(), demo, "ada")
    grace = sign_in(new_context(), demo, "grace")
    say(ada, "Before the restart")
    expect(messages(grace)).to_contain_text("Before the restart")

    demo.stop()
    for page in (ada, grace):
        expect(page.locator("#banner")).to_be_visible()
        expect(page.locator("#banner-text")).to_contain_text("Connection lost. Reconnecting…")
        expect(page.locator("#connection-text")).to_have_text("Reconnecting…")
        expect(send_button(page)).to_be_disabled()

    demo.start()  # same port, same database
    for page in (ada, grace):
        expect(page.locator("#connection-text")).to_have_text("Connected")
        expect(page.locator("#banner")).to_be_hidden()
        expect(page.locator("#notice")).to_have_text("Reconnected. Messages reloaded.")
        expect(messages(page)).to_contain_text("Before the restart")
    # The new process knows nobody until the pages join again, which they did by themselves.
    expect(ada.locator("#online-list li")).to_have_count(2)
    say(grace, "After the restart")
    expect(messages(ada)).to_contain_text("After the restart")


def test_an_expired_token_is_refreshed_and_the_page_reconnects(
    start_demo: Callable[..., LiveServer], new_context: Callable[[], Any]
) -> None:
    """The hub closes connections whose JWT expired; the page refreshes it at /api/token/refresh/."""
    server = start_demo(DEMO_ACCESS_TOKEN_SECONDS="4")
    context = new_context()
    # Record what the banner said, however briefly it showed.
    context.add_init_script(
        """
        window.bannerTexts = [];
        new MutationObserver(() => {
          const text = document.getElementById("banner-text")?.textContent;
          if (text && window.bannerTexts.at(-1) !== text) window.bannerTexts.push(text);
        }).observe(document, { subtree: true, childList: true, characterData: true });
        """
    )
    ada = sign_in(context, server, "ada")
    first_token = ada.evaluate("JSON.parse(localStorage.getItem('django-hubs-demo.tokens')).access")

    expect(ada.locator("#notice")).to_have_text("Reconnected with a fresh access token.")
    expect(ada.locator("#connection-text")).to_have_text("Connected")
    assert ada.evaluate("window.bannerTexts") == ["Your access token expired. Getting a new one and reconnecting…"]
    assert ada.evaluate("JSON.parse(localStorage.getItem('django-hubs-demo.tokens')).access") != first_token
    say(ada, "Still here")
    expect(messages(ada)).to_contain_text("Still here")
    assert "its access token expired" in server.log()  # the server closed it, before the page reconnected


def test_when_the_refresh_token_expires_too_the_page_asks_to_sign_in_again(
    start_demo: Callable[..., LiveServer], new_context: Callable[[], Any]
) -> None:
    server = start_demo(DEMO_ACCESS_TOKEN_SECONDS="3", DEMO_REFRESH_TOKEN_SECONDS="3")
    ada = sign_in(new_context(), server, "ada")
    expect(ada).to_have_url(server.url + "/login/?reason=expired&next=%2F")
    expect(ada.get_by_role("status")).to_have_text("Your session ended. Please sign in again.")
    assert ada.evaluate("localStorage.getItem('django-hubs-demo.tokens')") is None
    ada.get_by_label("Username").fill("ada")
    ada.get_by_label("Password").fill("ada-password")
    ada.get_by_role("button", name="Sign in").click()
    expect(ada.locator("#connection-text")).to_have_text("Connected")
