"""Requests to the hub path itself that are not WebSocket upgrades: SSE, long polling, sends.

Server-Sent Events and long polling are not implemented yet; their requests get the
official server's answer for a transport that is not enabled, and negotiate does not
list them, so clients never pick them.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..endpoints import find_endpoint
from .manager import manager
from .negotiate import plain
from .query import query_value


@csrf_exempt
async def hub_endpoint(request: HttpRequest, hub_path: str) -> HttpResponse:
    endpoint = find_endpoint(hub_path)
    if endpoint is None:
        return plain(404)
    if request.method not in ("GET", "POST", "DELETE"):
        return plain(405, "Method not allowed")
    if request.method == "GET":
        if "text/event-stream" in request.headers.get("Accept", ""):
            return plain(404, "ServerSentEvents transport not supported by this end point type")
        return plain(404, "LongPolling transport not supported by this end point type")
    token = query_value(request.GET, "id")
    if not token:
        return plain(400, "Connection ID required")
    record = manager.get(token)
    if record is None or record.endpoint is not endpoint:
        return plain(404, "No Connection with that ID")
    if request.method == "POST" and record.transport == "WebSockets":
        return plain(405, "POST requests are not allowed for WebSocket connections.")
    if request.method == "DELETE":
        return plain(400, "Cannot terminate this connection using the DELETE endpoint.")
    return plain(404, "No Connection with that ID")
