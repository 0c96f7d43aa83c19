"""``manage.py hubs_typescript``: declarations from type hints, checked by ``tsc --strict`` and used live."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from io import StringIO
from pathlib import Path
from typing import Protocol

import pytest
from django.core.management import CommandError, call_command

from django_hubs import Hub
from django_hubs.extras.typescript import camel, client_calls, generate, undeclared_client_calls
from tests.interop.live import INTEROP, NODE_MODULES, PYTHON, ROOT, LiveServer, require_tool
from tests.testapp.hubs import TestHub
from tests.testapp.typed import TypedHub


@pytest.mark.parametrize(
    ("name", "expected"),
    [("send_message", "sendMessage"), ("add", "add"), ("get_connection_id", "getConnectionId"), ("SendIt", "sendIt")],
)
def test_names_are_camel_cased_as_clients_call_them(name, expected):
    assert camel(name) == expected


def test_server_methods_client_methods_and_types():
    module = generate([(TypedHub, "hubs/typed")])
    for line in [
        'import type { HubConnection, IStreamResult, Subject } from "@microsoft/signalr";',
        'export type Color = "red" | "green";',
        "export type Priority = 1 | 2;",
        "export interface Point {\n  x: number;\n  y: number;\n  label?: string | null;\n}",
        "export interface Event {\n  name: string;\n  at: string;\n  color: Color;\n  points?: Point[];\n}",
        "export interface Movie {\n  title: string;\n  year: number;\n  rating?: number;\n}",
        "export interface TypedHubServer {",
        "  add(a: number, b: number): Promise<number>;",
        '  choose(mode: "fast" | "slow", limit?: number | null): Promise<string>;',
        "  nextDay(at: Date | string): Promise<string>;",
        "  notifyMe(name: string): Promise<void>;",
        "  points(count: number): IStreamResult<Point>;",
        "  total(numbers: Subject<number>): Promise<number>;",
        "  weigh(tags: string[], weights: Record<string, number>): Promise<Record<string, number>>;",
        "export interface TypedHubClient {\n  Notify(event: Event): void;\n  Tick(count: number, at: string): void;\n}",
        "export class TypedHubConnection implements TypedHubServer {",
        '  static readonly path = "/hubs/typed";',
        '    return this.connection.invoke<string>("choose", mode, ...trim([limit]));',
        '    return this.connection.stream<Point>("points", count);',
        '    return this.connection.invoke("notifyMe", name);',
        "function trim(args: unknown[]): unknown[] {",
    ]:
        assert line in module
    assert "/** A point on the board. (tests.testapp.typed.Point) */" in module


def test_messagepack_types_dates_as_dates():
    module = generate([(TypedHub, None)], protocol="messagepack")
    assert "  nextDay(at: Date | string): Promise<Date>;" in module
    assert "  at: Date;" in module
    assert "static readonly path" not in module


def test_a_hub_without_a_client_declaration_accepts_any_handler():
    module = generate([(TestHub, "hubs/test")])
    assert "export type TestHubClient = Record<string, (...args: any[]) => unknown>;" in module
    assert "  sendMessage(user: string, message: string): Promise<void>;" in module
    assert "  uploadSum(numbers: Subject<number>): Promise<number>;" in module
    assert "  echo(value: unknown): Promise<unknown>;" in module


class SloppyHub(Hub):
    class Client(Protocol):
        def Receive(self, text: str) -> None: ...

    async def shout(self, text: str) -> None:
        await self.clients.all.send("Receive", text)
        await self.clients.group("g").send("Receive", text, "extra")
        await self.clients.others.send("Undeclared", text)


def test_what_a_hub_sends_is_checked_against_its_client_declaration():
    from demo_project.chat.hubs import ChatHub

    assert undeclared_client_calls(ChatHub) == []
    assert undeclared_client_calls(TypedHub) == []
    assert {name for name, _, _ in client_calls(ChatHub)} == {
        "ReceiveMessage",
        "Presence",
        "OnlineUsers",
        "Typing",
        "PrivateMessage",
        "RoomCleared",
    }
    problems = undeclared_client_calls(SloppyHub)
    assert len(problems) == 2
    assert problems[0].endswith("'Receive' gets 2 argument(s); SloppyHub.Client declares 1")
    assert problems[1].endswith("'Undeclared' is not declared in SloppyHub.Client")


def test_the_command(tmp_path):
    out = StringIO()
    call_command("hubs_typescript", stdout=out)
    assert "export class TestHubConnection" in out.getvalue()
    assert "export class TypedHubConnection" in out.getvalue()
    assert out.getvalue().count("export class TestHubConnection") == 1  # two paths, one hub class

    call_command("hubs_typescript", "--out-dir", str(tmp_path / "ts"), stdout=StringIO())
    assert sorted(p.name for p in (tmp_path / "ts").iterdir()) == [
        "deleters-hub.ts",
        "private-hub.ts",
        "refresh-hub.ts",
        "reliability-hub.ts",
        "test-hub.ts",
        "threads-hub.ts",
        "typed-hub.ts",
    ]

    call_command("hubs_typescript", "--hub", "demo_project.chat.hubs.ChatHub", "--out", str(tmp_path / "chat.ts"))
    assert "export class ChatHubConnection" in (tmp_path / "chat.ts").read_text()
    with pytest.raises(CommandError, match=r"is not a django_hubs\.Hub subclass"):
        call_command("hubs_typescript", "--hub", "tests.testapp.typed.Point")


# --- tsc --strict, and the typed wrapper against a live server ----------------------------------------

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noUnusedLocals": True,
        "noUnusedParameters": True,
        "noImplicitReturns": True,
        "target": "ES2022",
        "lib": ["ES2022", "DOM"],
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "outDir": "out",
        "types": [],
    },
    "files": ["hubs.ts", "chat.ts", "typed_client.ts"],
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The generated modules and the script using them, where tsc and node find the npm packages."""
    require_tool("node")
    if not (NODE_MODULES / "typescript").exists():
        pytest.fail("npm packages are missing: run `npm ci --prefix tests/interop` (the test command does)")
    call_command("hubs_typescript", "--out", str(tmp_path / "hubs.ts"), stdout=StringIO())
    # The demo's hub, generated by the command under the demo's own settings.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo_project.settings", "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [PYTHON, "-m", "django", "hubs_typescript", "--out", str(tmp_path / "chat.ts")], cwd=ROOT, env=env, check=True
    )
    shutil.copy(INTEROP / "ts" / "typed_client.ts", tmp_path)
    (tmp_path / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    (tmp_path / "package.json").write_text('{"type": "commonjs"}')
    (tmp_path / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    return tmp_path


@pytest.mark.interop
def test_tsc_strict_accepts_the_modules_and_the_wrapper_works_live(project: Path, tmp_path_factory):
    assert '  static readonly path = "/hubs/chat";' in (project / "chat.ts").read_text()
    tsc = subprocess.run(
        [require_tool("node"), str(NODE_MODULES / "typescript" / "bin" / "tsc"), "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    server = LiveServer("uvicorn", tmp_path_factory.mktemp("logs")).start()
    try:
        completed = subprocess.run(
            [require_tool("node"), str(project / "out" / "typed_client.js"), json.dumps({"url": server.url})],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.stop()
    assert completed.returncode == 0, completed.stdout + completed.stderr + server.log()
    report = json.loads(completed.stdout.splitlines()[-1])
    for protocol, dates in (("json", "String"), ("messagepack", "Date")):
        seen = report[protocol]
        assert seen["sum"] == 5
        assert seen["scaled"] == {"x": 3, "y": 6, "label": "p"}
        assert seen["event"] == {
            "name": "launch",
            "at": "2024-05-01T12:30:00.000Z",
            "atKind": dates,
            "color": "green",
            "points": [{"x": 1, "y": 2, "label": None}, {"x": 3, "y": 4, "label": "b"}],
        }
        assert seen["inspected"]["types"]["at"] == "datetime"
        assert seen["inspected"]["color"] == "GREEN"
        assert seen["inspected"]["utc"] == "2024-05-01T12:00:00+00:00"
        assert seen["nextDay"] == "2024-05-02T12:00:00.000Z"  # sent as a Date, both protocols
        assert seen["nextDayKind"] == dates
        assert seen["chosen"] == ["fast:None", "slow:2"]
        assert seen["points"] == [
            {"x": 0, "y": 0, "label": None},
            {"x": 1, "y": 1, "label": None},
            {"x": 2, "y": 4, "label": None},
        ]
        assert seen["total"] == 6
        assert seen["notified"] == ["ping"]
        assert seen["ticks"] == [[1, dates]]
        assert seen["counted"] == [0, 1, 2]
        assert seen["wrongType"] == (
            "Failed to invoke 'add' due to an error on the server. InvalidDataException: Error binding argument 2. "
            "Make sure that the types of the provided values match the types of the hub method being invoked. "
            "Argument 'b': expected int, got str."
        )
