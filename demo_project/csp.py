"""The demo's Content Security Policy: scripts, styles and connections from this site only.

On Django 6.0 and newer, ``settings.py`` turns on Django's ``ContentSecurityPolicyMiddleware``
with ``SECURE_CSP = POLICY``: every response carries the ``Content-Security-Policy`` header.
Django 5.2 has no CSP support, so there the demo's pages carry the same policy in a
``<meta http-equiv>`` tag (``csp_meta`` below), which browsers apply alike except for
``frame-ancestors`` (ignored in a meta tag; ``X-Frame-Options`` forbids framing anyway).
"""

from __future__ import annotations

from collections.abc import Iterable

import django
from django.http import HttpRequest

#: Django sends the policy as a header (6.0+); otherwise the pages carry it in a meta tag.
HEADER = django.VERSION >= (6, 0)
#: Directives a ``<meta>`` policy cannot carry.
NOT_IN_META = ("frame-ancestors",)


def policy(hosts: Iterable[str]) -> dict[str, list[str]]:
    """The policy for a site served on ``hosts`` (``ALLOWED_HOSTS``).

    ``connect-src``: the hub's negotiate, Server-Sent Events and long polling are same-origin
    requests (``'self'``); its WebSocket is ``ws:``/``wss:`` on the same host, which ``'self'``
    matches in CSP Level 3 browsers only, so the hosts are listed with those schemes too.
    """
    sockets = [
        f"{scheme}://{host}:*"
        for host in hosts
        if host and not host.startswith((".", "[", "*"))  # CSP cannot name IPv6 or wildcard hosts here
        for scheme in ("ws", "wss")
    ]
    return {
        "default-src": ["'self'"],
        "script-src": ["'self'"],  # no inline script: the pages load theirs from /static/
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # data: for the empty favicon
        "connect-src": ["'self'", *sockets],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }


def meta_content(directives: dict[str, list[str]]) -> str:
    """The policy as a ``<meta http-equiv="Content-Security-Policy">`` tag's content."""
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items() if name not in NOT_IN_META)


def csp_meta(request: HttpRequest) -> dict[str, str]:
    """Context processor: ``csp_meta`` for base.html, where Django does not send the header."""
    from django.conf import settings

    return {} if HEADER else {"csp_meta": meta_content(settings.DEMO_CSP)}
