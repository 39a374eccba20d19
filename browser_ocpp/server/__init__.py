"""CPython OCPPServer and OCPPClient on the ``websockets`` library."""

from .client import OCPPClient
from .compression import CompressionOptions
from .handshake import AuthContext, Handshake
from .options import OCPPClientOptions, SecurityProfile, ServerOptions
from .server import OCPPServer, OCPPServerClient

__all__ = [
    "AuthContext",
    "CompressionOptions",
    "Handshake",
    "OCPPClient",
    "OCPPClientOptions",
    "OCPPServer",
    "OCPPServerClient",
    "SecurityProfile",
    "ServerOptions",
]
