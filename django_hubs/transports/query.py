"""Query-string reading the way the official server does it: keys are case-insensitive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl


def query_value(query: Mapping[str, Any], name: str) -> str | None:
    value = query.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key in query:
        if key.lower() == lowered:
            return query.get(key)
    return None


def scope_query(scope: dict[str, Any]) -> dict[str, str]:
    """The query of an ASGI scope as a dict (the last value of a repeated key wins)."""
    raw = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
