"""Options of the CPython server and station client."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..peer.options import ClientOptions, PeerOptions, check_names, check_positive
from ..rpc.versions import SUPPORTED_PROTOCOLS
from .compression import CompressionOptions
from .guards import AnomalyOptions, Limit, RateLimit

__all__ = ["OCPPClientOptions", "SecurityProfile", "ServerOptions"]


class SecurityProfile(enum.IntEnum):
    """The OCPP security profiles."""

    NONE = 0
    BASIC_AUTH = 1
    TLS_BASIC_AUTH = 2
    TLS_CLIENT_CERT = 3


def _profile(value: object) -> SecurityProfile:
    try:
        return SecurityProfile(value)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"security_profile must be 0, 1, 2 or 3, not {value!r}") from None


def _compression(value: object) -> CompressionOptions | bool:
    """Check ``compression``; it is kept as ``False`` or :class:`CompressionOptions`."""
    options = CompressionOptions.coerce(value)
    return False if options is None else options


def _mapping(name: str, value: object) -> None:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions(PeerOptions):
    """The server's own options; the peer options apply to every connection."""

    protocols: Sequence[str] = (
        SUPPORTED_PROTOCOLS[2],
        SUPPORTED_PROTOCOLS[1],
        SUPPORTED_PROTOCOLS[0],
    )
    security_profile: SecurityProfile = SecurityProfile.NONE
    handshake_timeout_ms: float = 30_000
    tls: Mapping[str, Any] | None = None
    session_ttl_ms: float = 7_200_000
    """How long a station's session data is kept without activity (across reconnects)."""
    max_sessions: int = 50_000
    """Most sessions kept; beyond, the least recently active is dropped."""
    idle_timeout_ms: float | None = None
    """Close connections with no frame either way and no ping from the station for
    this long (4001); ``None``: never."""
    max_payload_bytes: int = 65_536
    max_buffered_bytes: int = 256 * 1024 * 1024
    """Most bytes waiting to be sent over all connections together; beyond, the
    connections holding the most are dropped (1008). Each one alone may hold 4 MiB."""
    max_post_bytes: int = 64 * 1024 * 1024
    """Most bytes of POST bodies held at once over all connections (each counted at
    its ``Content-Length`` from its head until it is answered or the connection is
    gone); a body that would pass it is refused unread (HTTP 503)."""
    compression: bool | CompressionOptions | Mapping[str, Any] = False
    """``True``, a dict or :class:`CompressionOptions`; kept as ``False`` or options."""
    health_endpoint: bool = False
    """Answer ``GET /health`` and ``GET /metrics`` (needs ``browser-ocpp[metrics]``)."""
    rate_limit: RateLimit | Mapping[str, Any] | None = None
    """Messages per connection, and per action: ``{limit, window_ms,
    on_limit_exceeded, methods}`` (see :class:`~browser_ocpp.server.guards.RateLimit`)."""
    connection_rate_limit: Limit | Mapping[str, Any] | None = None
    """Upgrades per client address: ``{limit, window_ms}`` (HTTP 429 beyond)."""
    max_connections: int | None = None
    """Most stations connected (or upgrading) at once (HTTP 503 beyond)."""
    anomaly: bool | AnomalyOptions | Mapping[str, Any] = True
    """The ANOMALY_* security events: thresholds, ``True`` (defaults) or ``False``."""

    def __post_init__(self) -> None:
        super(ServerOptions, self).__post_init__()
        object.__setattr__(self, "rate_limit", RateLimit.coerce(self.rate_limit))
        limit = Limit.optional("connection_rate_limit", self.connection_rate_limit)
        object.__setattr__(self, "connection_rate_limit", limit)
        if self.max_connections is not None:
            check_positive("max_connections", self.max_connections, integer=True)
        object.__setattr__(self, "anomaly", AnomalyOptions.coerce(self.anomaly))
        if not isinstance(self.health_endpoint, bool):
            raise TypeError(f"health_endpoint must be True or False, not {self.health_endpoint!r}")
        object.__setattr__(self, "protocols", check_names("protocols", self.protocols))
        object.__setattr__(self, "security_profile", _profile(self.security_profile))
        check_positive("handshake_timeout_ms", self.handshake_timeout_ms)
        check_positive("session_ttl_ms", self.session_ttl_ms)
        check_positive("max_sessions", self.max_sessions, integer=True)
        if self.idle_timeout_ms is not None:
            check_positive("idle_timeout_ms", self.idle_timeout_ms)
        check_positive("max_payload_bytes", self.max_payload_bytes, integer=True)
        check_positive("max_buffered_bytes", self.max_buffered_bytes, integer=True)
        check_positive("max_post_bytes", self.max_post_bytes, integer=True)
        _mapping("tls", self.tls)
        object.__setattr__(self, "compression", _compression(self.compression))

    def peer_options(self) -> PeerOptions:
        """The options each server-side connection runs with."""
        names = [f.name for f in dataclasses.fields(PeerOptions)]
        return PeerOptions(**{name: getattr(self, name) for name in names})


@dataclass(frozen=True, slots=True, kw_only=True)
class OCPPClientOptions(ClientOptions):
    """What the CPython station client adds to the shared client options."""

    security_profile: SecurityProfile = SecurityProfile.NONE
    password: str | bytes | None = None
    tls: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    ping_interval_ms: float = 30_000
    compression: bool | CompressionOptions | Mapping[str, Any] = False
    """``True``, a dict or :class:`CompressionOptions`; kept as ``False`` or options."""
    handshake_timeout_ms: float = 30_000
    max_payload_bytes: int | None = 65_536
    """Largest message accepted (inflated size with compression), as on the server;
    ``None`` sets no limit."""

    def __post_init__(self) -> None:
        super(OCPPClientOptions, self).__post_init__()
        object.__setattr__(self, "security_profile", _profile(self.security_profile))
        if self.password is not None and not isinstance(self.password, str | bytes):
            raise TypeError("password must be str or bytes")
        _mapping("tls", self.tls)
        _mapping("headers", self.headers)
        object.__setattr__(self, "compression", _compression(self.compression))
        if self.ping_interval_ms != 0:
            check_positive("ping_interval_ms", self.ping_interval_ms)
        check_positive("handshake_timeout_ms", self.handshake_timeout_ms)
        if self.max_payload_bytes is not None:
            check_positive("max_payload_bytes", self.max_payload_bytes, integer=True)

    def check_connectable(self) -> None:
        super(OCPPClientOptions, self).check_connectable()
        profile = self.security_profile
        if profile in (SecurityProfile.BASIC_AUTH, SecurityProfile.TLS_BASIC_AUTH):
            if self.password is None:
                raise ValueError(f"security profile {int(profile)} needs a password")
            if ":" in self.identity:
                raise ValueError("identity must not contain ':' with Basic auth")
        if profile >= SecurityProfile.TLS_BASIC_AUTH and not self.endpoint.startswith("wss://"):
            raise ValueError(f"security profile {int(profile)} needs a wss:// endpoint")
        if profile is SecurityProfile.TLS_CLIENT_CERT and not (self.tls and "cert" in self.tls):
            raise ValueError("security profile 3 needs tls={'cert': ..., 'key': ...}")
