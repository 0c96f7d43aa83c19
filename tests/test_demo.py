"""The demo chat in process: its views, model, seed command and hub (through ``HubClient``).

The browser tests (tests/browser) drive the same code through a real server and Chromium.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import include, path
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from demo_project import csp
from demo_project.chat import views
from demo_project.chat.models import Message
from demo_project.chat.presence import presence
from django_hubs.server import metrics
from django_hubs.testing import HubClient, HubInvocationError

pytestmark = pytest.mark.django_db(transaction=True)

# The demo's URLs without the admin, which the test settings do not install.
urlpatterns = [
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("", include("demo_project.chat.urls")),
]

DEMO_SETTINGS = override_settings(
    ROOT_URLCONF=__name__,
    HUBS={"hubs/chat": "demo_project.chat.hubs.ChatHub"},
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth"]},
        }
    ],
    STATIC_URL="/static/",
    LOGIN_URL="login",
    DEMO_TASK_STEP_SECONDS=0,
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast, for tests only
)


@pytest.fixture(autouse=True)
def demo_settings():
    with DEMO_SETTINGS:
        yield
    presence.clear()


@pytest.fixture
def users() -> dict[str, Any]:
    call_command("seed_demo", stdout=io.StringIO())
    User = get_user_model()
    return {name: User.objects.get(username=name) for name in ("ada", "grace")}


def chat_client(user: Any, **options: Any) -> HubClient:
    return HubClient("hubs/chat", user=user, **options)


async def next_call(client: HubClient, target: str, where: Callable[..., bool] = lambda *args: True) -> list[Any]:
    """The arguments of the next call to ``target`` that matches ``where``; others are skipped."""
    while True:
        message = await client.receive(target)
        if where(*message.arguments):
            return message.arguments


# --- seed command, model ---------------------------------------------------------------


def test_seed_demo_creates_a_moderator_and_a_member_and_can_run_again(users):
    call_command("seed_demo", stdout=io.StringIO())
    ada, grace = get_user_model().objects.get(username="ada"), get_user_model().objects.get(username="grace")
    assert ada.check_password("ada-password") and grace.check_password("grace-password")
    assert ada.has_perm("chat.moderate") and ada.is_staff
    assert not grace.has_perm("chat.moderate") and not grace.is_staff
    assert get_user_model().objects.count() == 2


def test_recent_is_the_last_messages_oldest_first(users):
    for number in range(5):
        Message.objects.create(room="lobby", author=users["ada"], text=f"m{number}")
    Message.objects.create(room="python", author=users["grace"], text="elsewhere")
    recent = Message.recent("lobby", limit=3)
    assert [m["text"] for m in recent] == ["m2", "m3", "m4"]
    assert set(recent[0]) == {"id", "room", "author", "text", "sent_at"}
    assert recent[0]["author"] == "ada" and recent[0]["room"] == "lobby"


# --- views --------------------------------------------------------------------------------


def page_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="chat-config" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the chat page embeds its configuration"
    return json.loads(found.group(1))


def test_chat_page_requires_sign_in():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/"


def test_login_page_gets_a_token_then_posts_the_form():
    html = Client().get("/login/").content.decode()
    assert 'data-token-url="/api/token/"' in html
    assert 'name="username"' in html and 'name="password"' in html
    assert "chat/login.js" in html


def test_login_form_signs_in(users):
    client = Client()
    response = client.post("/login/", {"username": "grace", "password": "grace-password"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    bad = Client().post("/login/", {"username": "grace", "password": "nope"})
    assert bad.status_code == 200 and "didn't match" in bad.content.decode()


@pytest.mark.parametrize(("name", "moderator"), [("ada", True), ("grace", False)])
def test_chat_page_configures_the_client(users, name, moderator):
    client = Client()
    client.force_login(users[name])
    html = client.get("/").content.decode()
    config = page_config(html)
    assert config["username"] == name and config["userId"] == str(users[name].pk)
    assert config["moderator"] is moderator
    assert config["hubUrl"] == "/hubs/chat"
    assert (config["tokenUrl"], config["refreshUrl"], config["loginUrl"]) == (
        "/api/token/",
        "/api/token/refresh/",
        "/login/",
    )
    # The official client is served from node_modules through staticfiles, never from a CDN.
    assert '<script src="/static/signalr/signalr.min.js">' in html
    assert "https://" not in html and "http://" not in html
    # No inline script to run (the Content Security Policy allows none): only src= and JSON data.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_token_endpoints_issue_and_refresh_a_pair(users):
    client = Client()
    pair = client.post("/api/token/", {"username": "ada", "password": "ada-password"}, content_type="application/json")
    assert pair.status_code == 200
    access = AccessToken(pair.json()["access"])
    assert str(access["user_id"]) == str(users["ada"].pk)
    refreshed = client.post("/api/token/refresh/", {"refresh": pair.json()["refresh"]}, content_type="application/json")
    assert refreshed.status_code == 200 and AccessToken(refreshed.json()["access"])["user_id"] == access["user_id"]
    wrong = client.post("/api/token/", {"username": "ada", "password": "nope"}, content_type="application/json")
    assert wrong.status_code == 401


def test_staff_page_is_for_staff_only(users):
    assert Client().get("/staff/")["Location"] == "/login/?next=/staff/"  # not signed in: sign in first
    client = Client()
    client.force_login(users["grace"])
    refused = client.get("/staff/")  # signed in, not staff: told so, not sent to the sign-in page
    assert refused.status_code == 403
    assert "Hub status is for staff only" in refused.content.decode()
    assert "signed in as <strong>grace</strong>, who is not a staff user" in refused.content.decode()
    client.force_login(users["ada"])
    response = client.get("/staff/")
    assert response.status_code == 200
    assert "/hubs/chat" in response.content.decode()
    assert "demo_project.chat.hubs.ChatHub" in response.content.decode()


async def test_staff_summary_reads_the_metrics(users):
    """Connections per transport, groups and invocations, through ``django_hubs.server.metrics``."""
    metrics.reset()
    ada_user, grace_user = users["ada"], users["grace"]
    async with chat_client(ada_user) as ada, chat_client(grace_user, protocol="messagepack") as grace:
        await ada.invoke("Join", "lobby")
        await grace.invoke("Join", "lobby")
        await grace.invoke("Join", "python")
        with pytest.raises(HubInvocationError):
            await ada.invoke("Join", 42)
        (summary,) = views.hub_summaries()
        assert summary["path"] == "hubs/chat"
        assert summary["connections"] == 2 and summary["users"] == 2 and summary["opened"] == 2
        assert summary["transports"] == [("WebSockets", 2)]
        assert summary["protocols"] == [("json", 1), ("messagepack", 1)]
        assert summary["group_count"] == 2
        assert summary["groups"] == [("lobby", 2), ("python", 1)]
        (join,) = [call for call in summary["invocations"] if call["method"] == "join"]
        assert (join["ok"], join["errors"], join["rejected"]) == (3, 0, 1)

        page = await sync_to_async(staff_page)(ada_user)
        assert '<dd data-figure="connections">2</dd>' in page
        assert "WebSockets 2" in page and "json 1, messagepack 1" in page
        assert "<tr><td>lobby</td><td>2</td></tr>" in page
        assert re.search(r"<tr><td><code>join</code></td><td>3</td><td>0</td><td>1</td><td>[0-9.]+</td></tr>", page)
    assert views.hub_summaries()[0]["connections"] == 0


def staff_page(user: Any) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/staff/")
    assert response.status_code == 200
    return response.content.decode()


# --- the hub ------------------------------------------------------------------------------


async def test_anonymous_users_cannot_connect():
    with pytest.raises(ConnectionRefusedError):
        await HubClient("hubs/chat").connect()


async def test_room_members_see_presence_and_each_others_messages(users):
    async with chat_client(users["ada"]) as ada, chat_client(users["grace"]) as grace:
        assert await ada.invoke("Join", "Lobby ") == {"room": "lobby", "online": ["ada"]}
        assert await grace.invoke("Join", "lobby") == {"room": "lobby", "online": ["ada", "grace"]}
        assert await next_call(ada, "Presence", lambda room, names: len(names) == 2) == ["lobby", ["ada", "grace"]]

        sent = await grace.invoke("SendMessage", "lobby", "  hello ada  ")
        assert sent["text"] == "hello ada" and sent["author"] == "grace"
        assert await next_call(ada, "ReceiveMessage") == [sent]
        assert await next_call(grace, "ReceiveMessage") == [sent]
        reply = await ada.invoke("SendMessage", "lobby", "hi grace")
        assert await next_call(grace, "ReceiveMessage") == [reply]

        assert await grace.invoke("History", "lobby") == [sent, reply]
        assert await Message.objects.filter(room="lobby").acount() == 2

        await grace.invoke("Leave", "lobby")
        assert await next_call(ada, "Presence") == ["lobby", ["ada"]]
    assert presence.rooms == {} and presence.connections == {}


async def test_disconnecting_updates_presence_in_every_room(users):
    async with chat_client(users["ada"]) as ada:
        await ada.invoke("Join", "lobby")
        async with chat_client(users["grace"]) as grace:
            await grace.invoke("Join", "lobby")
            assert await next_call(ada, "OnlineUsers", lambda names: names == ["ada", "grace"])
        assert await next_call(ada, "Presence", lambda room, names: names == ["ada"])
        assert await next_call(ada, "OnlineUsers", lambda names: names == ["ada"])


async def test_two_tabs_of_one_user_count_once(users):
    async with chat_client(users["ada"]) as tab1, chat_client(users["ada"]) as tab2:
        await tab1.invoke("Join", "lobby")
        assert (await tab2.invoke("Join", "lobby"))["online"] == ["ada"]
    assert presence.connections == {}


async def test_writing_needs_a_joined_room_and_valid_text(users):
    async with chat_client(users["ada"]) as ada:
        with pytest.raises(HubInvocationError) as refused:
            await ada.invoke("SendMessage", "lobby", "hello")
        assert str(refused.value) == (
            "An unexpected error occurred invoking 'SendMessage' on the server. HubException: Join lobby before writing there."
        )
        await ada.invoke("Join", "lobby")
        with pytest.raises(HubInvocationError, match=re.escape("HubException: The message is empty.")):
            await ada.invoke("SendMessage", "lobby", "   ")
        with pytest.raises(HubInvocationError, match="at most 1000 characters"):
            await ada.invoke("SendMessage", "lobby", "x" * 1001)
        with pytest.raises(HubInvocationError, match=re.escape("A room name is 1 to 32 letters, digits or dashes.")):
            await ada.invoke("Join", "no spaces please")
        with pytest.raises(HubInvocationError, match="A room name"):
            await ada.invoke("History", "../etc")
    assert await Message.objects.acount() == 0


async def test_typing_reaches_the_others_in_the_room_only(users):
    async with chat_client(users["ada"]) as ada, chat_client(users["grace"]) as grace:
        await ada.invoke("Join", "lobby")
        await grace.invoke("Join", "lobby")
        await ada.send("Typing", "lobby")
        assert await next_call(grace, "Typing") == ["lobby", "ada"]
        await grace.invoke("Typing", "lobby")
        # Had ada been told of her own typing, that call would have reached her first.
        assert await next_call(ada, "Typing") == ["lobby", "grace"]
        async with chat_client(users["ada"]) as elsewhere:  # not in the room: told nothing
            await ada.invoke("Typing", "lobby")
            await elsewhere.invoke("Join", "python")
            assert await next_call(grace, "Typing") == ["lobby", "ada"]
            await elsewhere.invoke("Leave", "python")  # whatever was sent to it before has now arrived
            received = []
            while not elsewhere.messages.empty():
                received.append(elsewhere.messages.get_nowait().target)
            assert "OnlineUsers" in received and "Typing" not in received


async def test_private_messages_reach_every_tab_of_both_users(users):
    async with (
        chat_client(users["ada"]) as ada,
        chat_client(users["grace"]) as grace1,
        chat_client(users["grace"]) as grace2,
    ):
        sent = await ada.invoke("SendPrivate", "grace", "just for you")
        assert sent["from"] == "ada" and sent["to"] == "grace" and sent["text"] == "just for you"
        assert await next_call(grace1, "PrivateMessage") == [sent]
        assert await next_call(grace2, "PrivateMessage") == [sent]
        assert await next_call(ada, "PrivateMessage") == [sent]
        with pytest.raises(HubInvocationError, match=re.escape("HubException: linus is not online.")):
            await ada.invoke("SendPrivate", "linus", "hello?")


async def test_long_task_streams_its_progress(users):
    async with chat_client(users["grace"]) as grace:
        items = [item async for item in grace.stream("LongTask", 4)]
        assert items == [
            {"step": 1, "total": 4, "percent": 25},
            {"step": 2, "total": 4, "percent": 50},
            {"step": 3, "total": 4, "percent": 75},
            {"step": 4, "total": 4, "percent": 100},
        ]
        with pytest.raises(HubInvocationError, match=re.escape("A task has 1 to 100 steps.")):
            _ = [item async for item in grace.stream("LongTask", 0)]


async def test_only_moderators_can_clear_a_room(users):
    async with chat_client(users["ada"]) as ada, chat_client(users["grace"]) as grace:
        for client in (ada, grace):
            await client.invoke("Join", "lobby")
        await grace.invoke("SendMessage", "lobby", "one")
        await grace.invoke("SendMessage", "lobby", "two")

        with pytest.raises(HubInvocationError) as refused:
            await grace.invoke("ClearRoom", "lobby")
        assert str(refused.value) == "Failed to invoke 'ClearRoom' because user is unauthorized"
        assert await Message.objects.acount() == 2

        assert await ada.invoke("ClearRoom", "lobby") == 2
        assert await next_call(grace, "RoomCleared") == ["lobby", "ada"]
        assert await grace.invoke("History", "lobby") == []


# --- the demo command's requirements and the settings' Content Security Policy -------------

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by normalised name (extras dropped)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            found[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return found


def test_the_demo_pins_are_requirements_txt_pins():
    """demo_project/requirements.txt cannot drift from the versions the suite tests."""
    demo, tested = pins(ROOT / "demo_project" / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert demo, "the demo pins something"
    assert {name: tested.get(name) for name in demo} == demo


def test_the_demo_requirements_hold_what_the_demo_needs_and_no_test_tool():
    demo = pins(ROOT / "demo_project" / "requirements.txt")
    library = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    needed = {re.split(r"[<>=\[]", requirement)[0].lower() for requirement in library}
    needed |= {"djangorestframework"}  # rest_framework in the demo's INSTALLED_APPS
    assert needed <= set(demo), needed - set(demo)
    assert not {"pytest", "playwright", "ruff", "mypy", "nox", "sphinx", "uvicorn"} & set(demo)


#: The login page under the demo's own settings, in a fresh process: its CSP header and HTML.
DEMO_PAGE = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/login/", HTTP_HOST="127.0.0.1")
print(json.dumps({"status": response.status_code, "csp": response.get("Content-Security-Policy"),
                  "html": response.content.decode()}))
"""


def test_the_demo_settings_send_a_content_security_policy_that_allows_the_hub(tmp_path):
    """The header on Django 6.0+ (its CSP middleware), the same policy in a meta tag on 5.2."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "PYTHONPATH": str(ROOT),
        "DEMO_DB": str(tmp_path / "db.sqlite3"),
    }
    run = subprocess.run([sys.executable, "-c", DEMO_PAGE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    page = json.loads(run.stdout)
    assert page["status"] == 200
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page["html"])
    if csp.HEADER:
        assert meta is None
        policy = page["csp"]
        assert "frame-ancestors 'none'" in policy
    else:
        assert page["csp"] is None
        assert meta is not None
        policy = meta.group(1).replace("&#x27;", "'")
        assert "frame-ancestors" not in policy  # browsers ignore it in a meta tag
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["connect-src"].split() == [
        "'self'",
        "ws://localhost:*",
        "wss://localhost:*",
        "ws://127.0.0.1:*",
        "wss://127.0.0.1:*",
    ]
