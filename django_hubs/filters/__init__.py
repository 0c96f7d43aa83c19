"""Hub filters: code around every invocation, connect and disconnect, as ASP.NET Core's ``IHubFilter``.

The mechanism (:class:`HubFilter`, the contexts, the chains) is part of the server that runs
hubs (:mod:`django_hubs.server.filtering`); the filters django-hubs ships are :mod:`~django_hubs.filters.ratelimit` and
:mod:`~django_hubs.filters.invocations`. All three are importable from here, as settings name
them (``"django_hubs.filters.RateLimitFilter"``).
"""

from ..server.filtering import HubFilter, InvocationContext, LifetimeContext
from .invocations import InvocationLoggerFilter
from .ratelimit import RateLimitFilter

__all__ = ["HubFilter", "InvocationContext", "InvocationLoggerFilter", "LifetimeContext", "RateLimitFilter"]
