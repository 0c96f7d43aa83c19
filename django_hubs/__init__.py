"""SignalR hubs for Django, over Channels."""

from typing import TYPE_CHECKING

from .connections import ConnectionHandler
from .errors import HubError
from .hub import Hub, authorize
from .server.endpoints import get_hub_context
from .server.filtering import HubFilter

if TYPE_CHECKING:
    from .consumer import HubConsumer


def __getattr__(name: str) -> object:
    """``HubConsumer`` on first use: it imports Channels' consumer machinery and the transports."""
    if name == "HubConsumer":
        from .consumer import HubConsumer

        return HubConsumer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConnectionHandler", "Hub", "HubConsumer", "HubError", "HubFilter", "authorize", "get_hub_context"]
__version__ = "0.1.0"
