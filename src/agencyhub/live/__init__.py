"""The live feed: committed events to every process's WebSocket and SSE subscribers."""

from agencyhub.live.api import LivePlugin

__all__ = ["LivePlugin"]
