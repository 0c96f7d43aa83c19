"""SignalR hubs for Django, over Channels."""

from .endpoints import get_hub_context
from .errors import HubError
from .hub import Hub, authorize

__all__ = ["Hub", "HubError", "authorize", "get_hub_context"]
__version__ = "0.1.0"
