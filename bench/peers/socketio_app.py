"""python-socketio's ASGI server doing the bench work: an ``echo`` event answered by
acknowledgement, and ``broadcast`` emitted to a room that every client enters on connect."""

from __future__ import annotations

from typing import Any

import socketio

ROOM = "bench"

sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    await sio.enter_room(sid, ROOM)


@sio.event
async def echo(sid: str, payload: Any) -> Any:
    return payload


@sio.event
async def broadcast(sid: str, payload: Any) -> None:
    await sio.emit("message", payload, room=ROOM)
