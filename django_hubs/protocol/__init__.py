"""SignalR framing and hub messages, without I/O: bytes in, typed messages out, and back."""

from __future__ import annotations

from typing import Protocol

from .errors import MessageTooLargeError, ProtocolError
from .json import JsonHubProtocol
from .messagepack import MessagePackHubProtocol
from .messages import HubMessage


class HubProtocol(Protocol):
    name: str
    version: int
    transfer_format: str
    binary: bool

    def parse(self, buffer: bytearray, max_size: int | None) -> list[HubMessage]: ...

    def encode(self, message: HubMessage) -> bytes: ...


PROTOCOLS: dict[str, HubProtocol] = {
    "json": JsonHubProtocol(),
    "messagepack": MessagePackHubProtocol(),
}

__all__ = ["PROTOCOLS", "HubProtocol", "MessageTooLargeError", "ProtocolError"]
