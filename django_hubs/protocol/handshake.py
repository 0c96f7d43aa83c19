"""The handshake: always a JSON record, whichever hub protocol it asks for (spec section 3)."""

from __future__ import annotations

import json

from .errors import HandshakeError, MessageTooLargeError
from .json import RECORD_SEPARATOR
from .messages import HandshakeRequest

HANDSHAKE_SUCCESS = b"{}" + RECORD_SEPARATOR
HANDSHAKE_CANCELED = "Handshake was canceled."
HANDSHAKE_UNEXPECTED = "An unexpected error occurred during connection handshake."


class HandshakeFormatError(Exception):
    """A malformed handshake request; the text goes to the client only with detailed errors."""


def parse_handshake(buffer: bytearray, max_size: int | None) -> HandshakeRequest | None:
    """Take the handshake request out of ``buffer``; ``None`` while it is still incomplete.

    Bytes after the separator are hub messages and stay in ``buffer``. ``max_size``
    counts the request with its separator, as the .NET server does.
    """
    end = buffer.find(RECORD_SEPARATOR)
    if end < 0:
        if max_size is not None and len(buffer) >= max_size:
            raise MessageTooLargeError(max_size)
        return None
    if max_size is not None and end + 1 > max_size:
        raise MessageTooLargeError(max_size)
    record = bytes(buffer[:end])
    del buffer[: end + 1]
    try:
        obj = json.loads(record.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HandshakeFormatError("The handshake request is not valid JSON.") from None
    if not isinstance(obj, dict):
        raise HandshakeFormatError("The handshake request is not a JSON object.")
    protocol = obj.get("protocol")
    version = obj.get("version")
    if not isinstance(protocol, str):
        raise HandshakeFormatError("Missing required property 'protocol'.")
    if not isinstance(version, int) or isinstance(version, bool):
        raise HandshakeFormatError("Missing required property 'version'.")
    return HandshakeRequest(protocol, version)


def handshake_error(text: str) -> bytes:
    return json.dumps({"error": text}, separators=(",", ":")).encode("utf-8") + RECORD_SEPARATOR


__all__ = [
    "HANDSHAKE_CANCELED",
    "HANDSHAKE_SUCCESS",
    "HANDSHAKE_UNEXPECTED",
    "HandshakeError",
    "HandshakeFormatError",
    "handshake_error",
    "parse_handshake",
]
