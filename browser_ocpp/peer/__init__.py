"""The asyncio RPC peer shared by every client and server-side connection."""

from .backoff import Backoff
from .client import RPCClient
from .events import (
    BadMessageEvent,
    CloseEvent,
    ConnectingEvent,
    EventEmitter,
    FrameEvent,
    MessageEvent,
    OpenEvent,
    ReconnectEvent,
)
from .handlers import NOREPLY, HandlerContext
from .logs import LogEntry, LoggingConfig, OCPPLogger
from .options import ClientOptions, PeerOptions
from .peer import RPCPeer, State
from .transport import MemoryTransport, Transport, memory_pair
from .urls import station_url

__all__ = [
    "NOREPLY",
    "Backoff",
    "BadMessageEvent",
    "ClientOptions",
    "CloseEvent",
    "ConnectingEvent",
    "EventEmitter",
    "FrameEvent",
    "HandlerContext",
    "LogEntry",
    "LoggingConfig",
    "MemoryTransport",
    "MessageEvent",
    "OCPPLogger",
    "OpenEvent",
    "PeerOptions",
    "RPCClient",
    "RPCPeer",
    "ReconnectEvent",
    "State",
    "Transport",
    "memory_pair",
    "station_url",
]
