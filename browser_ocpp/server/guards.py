"""The server's guards: rate limits, connection limits, origin and IP rules, anomalies.

Everything here is plain state and arithmetic on a clock passed in (no sockets, no
asyncio), so it is tested on its own; :class:`Guards` is what the server wires in:
it screens each upgrade, limits each connection's messages, and reports
``security_event`` dicts through a callback.

Every tracker keyed by something a client chooses (an IP address, an identity) is
an LRU of at most :data:`MAX_TRACKED` keys, so many addresses cannot grow memory.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ..rpc.errors import RPCError, RPCGenericError
from ..rpc.frames import UNREADABLE_ID, BadMessage, Call, Send
from ..rpc.versions import MessageType

if TYPE_CHECKING:
    from ..peer import RPCPeer

__all__ = [
    "MAX_TRACKED",
    "SINGLETON_HEADERS",
    "AnomalyDetector",
    "AnomalyOptions",
    "ConnectionGuard",
    "CorsRules",
    "Guards",
    "KeyedBuckets",
    "Limit",
    "MessageLimiter",
    "RateLimit",
    "Refusal",
    "TokenBucket",
    "WindowCounter",
    "duplicated_header",
    "ip_key",
    "security_event",
]

MAX_TRACKED = 10_000
"""Keys (IP addresses, identities) each tracker remembers; the least recently seen
goes first. An evicted key starts afresh, which only ever lets through more."""
SINGLETON_HEADERS = (
    "Host",
    "Upgrade",
    "Authorization",
    "Origin",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
)
"""Headers a request may carry once: two of them could be read differently by a
proxy and by us, so such a request is refused (400)."""
EVENT_INTERVAL_S = 1.0
"""Flood-prone events (INVALID_PAYLOAD, RATE_LIMIT_EXCEEDED): at most one per
connection per second; the next one carries ``suppressed``, the count left out."""
EVENTS_PER_SECOND = 100
"""And at most this many of them per second across the server."""
CLOSE_RATE_LIMITED = (1008, "rate limit exceeded")
IPV6_PREFIX = 64
"""IPv6 clients are counted per /64, the block one subscriber usually holds."""


# -- events -------------------------------------------------------------------------------


def security_event(
    kind: str,
    identity: str | None = None,
    ip: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The reference's event: ``{type, identity, ip, timestamp, details}``; the
    timestamp is ISO 8601 in UTC with milliseconds and ``Z`` (``now``: epoch seconds)."""
    moment = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": kind,
        "identity": identity,
        "ip": ip,
        "timestamp": stamp,
        "details": dict(details or {}),
    }


def duplicated_header(headers: Any) -> str | None:
    """The first of :data:`SINGLETON_HEADERS` given more than once (``headers`` has
    ``get_all``, as websockets' ``Headers``), else None."""
    for name in SINGLETON_HEADERS:
        if len(headers.get_all(name)) > 1:
            return name
    return None


# -- options ------------------------------------------------------------------------------


def _number(name: str, value: object, *, integer: bool = False, zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        kind = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, not {value!r}")
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be {'0 or more' if zero else 'positive'}, not {value!r}")


def _fields(name: str, value: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = set(value) - set(known)
    if unknown:
        raise TypeError(f"unknown {name} option(s): {', '.join(sorted(map(str, unknown)))}")


@dataclass(frozen=True, slots=True)
class Limit:
    """``limit`` per ``window_ms``: a token bucket of ``limit`` tokens, refilled
    steadily at ``limit`` per ``window_ms`` (so bursts up to ``limit`` pass)."""

    limit: float
    window_ms: float

    def __post_init__(self) -> None:
        _number("limit", self.limit)
        _number("window_ms", self.window_ms)

    @classmethod
    def coerce(cls, name: str, value: object) -> Limit:
        if isinstance(value, Limit):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{name} must be a dict with limit and window_ms, not {value!r}")
        _fields(name, value, ("limit", "window_ms"))
        if "limit" not in value or "window_ms" not in value:
            raise TypeError(f"{name} needs limit and window_ms")
        return cls(value["limit"], value["window_ms"])

    @classmethod
    def optional(cls, name: str, value: object) -> Limit | None:
        return None if value is None else cls.coerce(name, value)


OnLimitExceeded = Callable[["RPCPeer", dict[str, Any]], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """``rate_limit``: messages a connection may send (``limit`` per ``window_ms``),
    and per action (``methods={"MeterValues": {"limit": ..., "window_ms": ...}}``).
    ``on_limit_exceeded``: ``"ignore"``, ``"disconnect"`` or ``fn(client, details)``."""

    limit: float
    window_ms: float
    on_limit_exceeded: str | OnLimitExceeded = "ignore"
    methods: Mapping[str, Limit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Limit(self.limit, self.window_ms)  # checks both
        action = self.on_limit_exceeded
        if not callable(action) and action not in ("ignore", "disconnect"):
            raise ValueError(
                f"on_limit_exceeded must be 'ignore', 'disconnect' or a callable, not {action!r}"
            )
        if not isinstance(self.methods, Mapping):
            raise TypeError(f"methods must be a dict of action: limit, not {self.methods!r}")
        methods = {}
        for method, limit in self.methods.items():
            if not isinstance(method, str) or not method:
                raise TypeError(f"methods keys must be action names, not {method!r}")
            methods[method] = Limit.coerce(f"methods[{method!r}]", limit)
        object.__setattr__(self, "methods", methods)

    @classmethod
    def coerce(cls, value: object) -> RateLimit | None:
        if value is None or isinstance(value, RateLimit):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"rate_limit must be a dict, not {value!r}")
        _fields("rate_limit", value, ("limit", "window_ms", "on_limit_exceeded", "methods"))
        if "limit" not in value or "window_ms" not in value:
            raise TypeError("rate_limit needs limit and window_ms")
        return cls(**value)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyOptions:
    """Thresholds of the ANOMALY_* events: each fires when its count within
    ``window_ms`` goes above its threshold (then at most once per window per key)."""

    window_ms: float = 60_000
    reconnect_threshold: int = 5
    """Connections of one identity (ANOMALY_RAPID_RECONNECT)."""
    auth_failure_threshold: int = 5
    """AUTH_FAILED from one IP address (ANOMALY_AUTH_BRUTE_FORCE)."""
    bad_message_threshold: int = 10
    """Bad messages and strict-mode refusals of one identity (ANOMALY_MESSAGE_FUZZING)."""
    collision_threshold: int = 0
    """Connections of an identity, still connected, from another IP address
    (ANOMALY_IDENTITY_COLLISION); 0: every one is reported."""

    def __post_init__(self) -> None:
        _number("window_ms", self.window_ms)
        for name in (
            "reconnect_threshold",
            "auth_failure_threshold",
            "bad_message_threshold",
            "collision_threshold",
        ):
            _number(name, getattr(self, name), integer=True, zero=True)

    @classmethod
    def coerce(cls, value: object) -> AnomalyOptions | None:
        """``True``: the defaults; ``False`` or None: off; a dict: thresholds."""
        if value is True:
            return cls()
        if value is False or value is None or isinstance(value, AnomalyOptions):
            return value or None
        if not isinstance(value, Mapping):
            raise TypeError(f"anomaly must be True, False or a dict, not {value!r}")
        _fields("anomaly", value, cls.__dataclass_fields__)
        return cls(**value)


# -- token buckets ------------------------------------------------------------------------


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; starts full."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, limit: Limit, now: float) -> None:
        self.capacity = float(limit.limit)
        self.rate = limit.limit * 1000 / limit.window_ms
        self.tokens = self.capacity
        self.updated = now

    def refill(self, now: float) -> float:
        tokens = self.tokens + (now - self.updated) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.tokens = tokens
        self.updated = now
        return tokens

    def take(self, now: float) -> bool:
        if self.refill(now) >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_ms(self) -> float:
        """Milliseconds until a token is there (after :meth:`refill`)."""
        return max(0.0, (1 - self.tokens) * 1000 / self.rate)


class KeyedBuckets:
    """One token bucket per key (an IP address), at most ``cap`` of them (LRU)."""

    __slots__ = ("_buckets", "cap")

    def __init__(self, cap: int = MAX_TRACKED) -> None:
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.cap = cap

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, limit: Limit, now: float) -> float | None:
        """None if ``key`` may go on, else the milliseconds until it may."""
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(limit, now)
            if len(buckets) > self.cap:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(key)
        if bucket.take(now):
            return None
        return bucket.wait_ms()

    def clear(self) -> None:
        self._buckets.clear()


@dataclass(frozen=True, slots=True)
class Exceeded:
    """Which limit :meth:`MessageLimiter.check` found exhausted."""

    scope: str
    """``"connection"`` or ``"method"``."""
    limit: Limit
    retry_after_ms: float


class MessageLimiter:
    """One connection's buckets: the connection's, and one per limited action
    (made on first use, so at most one per entry of ``methods``)."""

    __slots__ = ("_limits", "_methods", "bucket", "options")

    def __init__(self, options: RateLimit, now: float) -> None:
        self.options = options
        self.bucket = TokenBucket(Limit(options.limit, options.window_ms), now)
        self._limits = options.methods
        self._methods: dict[str, TokenBucket] | None = None

    def check(self, action: str | None, now: float) -> Exceeded | None:
        """Take a token from the connection's bucket and the action's, if both have
        one; else take none and say which is empty."""
        bucket = self.bucket
        tokens = bucket.refill(now)
        limits = self._limits
        method = None
        if limits and action in limits:
            methods = self._methods
            if methods is None:
                methods = self._methods = {}
            method = methods.get(action)  # type: ignore[arg-type]
            if method is None:
                method = methods[action] = TokenBucket(limits[action], now)  # type: ignore[index]
            method.refill(now)
        if tokens < 1:
            own = Limit(self.options.limit, self.options.window_ms)
            return Exceeded("connection", own, bucket.wait_ms())
        if method is not None:
            if method.tokens < 1:
                return Exceeded("method", limits[action], method.wait_ms())  # type: ignore[index]
            method.tokens -= 1
        bucket.tokens = tokens - 1
        return None


# -- addresses and origins ----------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str | None) -> Address | None:
    """An IP address from text (IPv6 scope dropped, IPv4-mapped IPv6 as IPv4), else None."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_address(entry: str) -> str:
    """One X-Forwarded-For entry without a port (``1.2.3.4:5``, ``[::1]:5``)."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def ip_key(ip: str | None) -> str:
    """What per-IP trackers count by: the address, or its /64 for IPv6."""
    address = _address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address) if address is not None else str(ip)


def _networks(name: str, values: object) -> tuple[Network, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of addresses or CIDR ranges, not {values!r}")
    networks = []
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{name} must hold strings, not {value!r}")
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not an IP address or CIDR range") from None
    if not networks:
        raise ValueError(f"{name} is empty: pass None to allow any")
    return tuple(networks)


def _within(address: Address | None, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def _origin(value: str) -> str:
    """An origin as browsers send it: lower case, no default port, no trailing slash."""
    value = value.strip().lower().rstrip("/")
    if value == "null":
        return value
    parts = urlsplit(value)
    if not parts.scheme or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port])")
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme)
    port = parts.port
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


@dataclass(frozen=True, slots=True)
class CorsRules:
    """``server.cors(...)``: who may open a WebSocket, checked before the upgrade.

    * ``allowed_origins``: origins of the pages allowed; a request without ``Origin``
      (a charging station, not a browser) passes.
    * ``allowed_ips``: addresses and CIDR ranges, IPv4 and IPv6.
    * ``allowed_schemes``: ``"ws"``, ``"wss"``.
    * ``trust_proxy``: ``False`` (default) uses the socket's address and scheme.
      ``True`` trusts the peer as a proxy: the client is the right-most
      ``X-Forwarded-For`` address (the one that proxy appended; entries to its left
      come from the client and could be forged), the scheme the right-most
      ``X-Forwarded-Proto``. A list of proxy addresses/ranges trusts the headers
      only from those peers, and walks ``X-Forwarded-For`` from the right past
      them: the client is the right-most address that is not one of them.
    """

    allowed_origins: frozenset[str] | None = None
    allowed_ips: tuple[Network, ...] | None = None
    allowed_schemes: frozenset[str] | None = None
    trust_proxy: bool | tuple[Network, ...] = False

    @classmethod
    def build(
        cls,
        allowed_origins: Iterable[str] | None = None,
        allowed_ips: Iterable[str] | None = None,
        allowed_schemes: Iterable[str] | None = None,
        trust_proxy: bool | Iterable[str] = False,
    ) -> CorsRules:
        origins = None
        if allowed_origins is not None:
            if isinstance(allowed_origins, str) or not isinstance(allowed_origins, Iterable):
                raise TypeError(f"allowed_origins must be a list, not {allowed_origins!r}")
            if not all(isinstance(origin, str) for origin in allowed_origins):
                raise TypeError("allowed_origins must hold strings")
            origins = frozenset(_origin(origin) for origin in allowed_origins)
            if not origins:
                raise ValueError("allowed_origins is empty: pass None to allow any")
        ips = None if allowed_ips is None else _networks("allowed_ips", allowed_ips)
        schemes = None
        if allowed_schemes is not None:
            if isinstance(allowed_schemes, str) or not isinstance(allowed_schemes, Iterable):
                raise TypeError(f"allowed_schemes must be a list, not {allowed_schemes!r}")
            schemes = frozenset(allowed_schemes)
            if not schemes or not schemes <= {"ws", "wss"}:
                raise ValueError(f"allowed_schemes must hold 'ws' and/or 'wss', not {schemes!r}")
        trust = (
            trust_proxy if isinstance(trust_proxy, bool) else _networks("trust_proxy", trust_proxy)
        )
        return cls(origins, ips, schemes, trust)

    def _trusted(self, peer: str | None) -> bool:
        trust = self.trust_proxy
        if trust is True or trust is False:
            return trust
        return _within(_address(peer), trust)

    def client_ip(self, peer: str | None, headers: Any) -> str | None:
        """The client's address: the socket's, or per ``trust_proxy``."""
        if not self._trusted(peer):
            return peer
        forwarded = [
            _forwarded_address(entry)
            for value in headers.get_all("X-Forwarded-For")
            for entry in value.split(",")
            if entry.strip()
        ]
        if not forwarded:
            return peer
        trust = self.trust_proxy
        if trust is True:
            return forwarded[-1]
        for entry in reversed(forwarded):  # past our own proxies, from the right
            if not _within(_address(entry), trust):  # type: ignore[arg-type]
                return entry
        return forwarded[0]

    def scheme(self, peer: str | None, tls: bool, headers: Any) -> str:
        """``"wss"`` or ``"ws"``: the socket's, or per ``trust_proxy``."""
        own = "wss" if tls else "ws"
        if not self._trusted(peer):
            return own
        values = [
            entry.strip().lower()
            for value in headers.get_all("X-Forwarded-Proto")
            for entry in value.split(",")
            if entry.strip()
        ]
        if not values:
            return own
        return {"https": "wss", "wss": "wss", "http": "ws", "ws": "ws"}.get(values[-1], own)

    def refusal(self, origin: str | None, ip: str | None, scheme: str) -> str | None:
        """Why this request may not upgrade, or None."""
        if self.allowed_ips is not None and not _within(_address(ip), self.allowed_ips):
            return "IP address not allowed"
        if self.allowed_schemes is not None and scheme not in self.allowed_schemes:
            return f"scheme {scheme} not allowed"
        if self.allowed_origins is not None and origin is not None:
            try:
                allowed = _origin(origin) in self.allowed_origins
            except ValueError:
                allowed = False
            if not allowed:
                return "origin not allowed"
        return None


# -- anomalies ----------------------------------------------------------------------------


class _Window:
    __slots__ = ("alerted", "current", "previous", "start")

    def __init__(self, now: float) -> None:
        self.start = now
        self.current = 0
        self.previous = 0
        self.alerted = -math.inf


class WindowCounter:
    """Counts hits per key over a sliding window of ``window_s`` and says when a key
    goes above ``threshold``: at most once per window per key.

    The count is estimated from the current and the previous fixed window (the
    previous one weighted by how much of it the sliding window still covers), so
    each key costs the same few numbers whatever the threshold; at most ``cap``
    keys are kept (LRU).
    """

    __slots__ = ("_keys", "cap", "threshold", "window_s")

    def __init__(self, window_s: float, threshold: int, cap: int = MAX_TRACKED) -> None:
        self.window_s = window_s
        self.threshold = threshold
        self.cap = cap
        self._keys: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def hit(self, key: str, now: float) -> int | None:
        """Count one hit; the estimated count if this one should be reported."""
        keys = self._keys
        window = self.window_s
        entry = keys.get(key)
        if entry is None:
            entry = keys[key] = _Window(now)
            if len(keys) > self.cap:
                keys.popitem(last=False)
        else:
            keys.move_to_end(key)
        elapsed = now - entry.start
        if elapsed >= window:
            periods = int(elapsed // window)
            entry.previous = entry.current if periods == 1 else 0
            entry.current = 0
            entry.start += periods * window
            elapsed = now - entry.start
        entry.current += 1
        estimate = entry.previous * (1 - elapsed / window) + entry.current
        if estimate > self.threshold and now - entry.alerted >= window:
            entry.alerted = now
            return math.ceil(estimate)
        return None


class AnomalyDetector:
    """The four ANOMALY_* trackers; each method returns the event's details when one
    should be reported, else None."""

    __slots__ = ("_auth", "_bad", "_collisions", "_reconnects", "options")

    def __init__(self, options: AnomalyOptions, cap: int = MAX_TRACKED) -> None:
        self.options = options
        window = options.window_ms / 1000
        self._reconnects = WindowCounter(window, options.reconnect_threshold, cap)
        self._auth = WindowCounter(window, options.auth_failure_threshold, cap)
        self._bad = WindowCounter(window, options.bad_message_threshold, cap)
        self._collisions = WindowCounter(window, options.collision_threshold, cap)

    def _details(
        self, counter: WindowCounter, count: int | None, **extra: Any
    ) -> dict[str, Any] | None:
        if count is None:
            return None
        window_ms = self.options.window_ms
        return {**extra, "count": count, "threshold": counter.threshold, "window_ms": window_ms}

    def connected(self, identity: str, now: float) -> dict[str, Any] | None:
        """ANOMALY_RAPID_RECONNECT: one more connection of ``identity``."""
        counter = self._reconnects
        return self._details(counter, counter.hit(identity, now))

    def auth_failed(self, ip: str | None, now: float) -> dict[str, Any] | None:
        """ANOMALY_AUTH_BRUTE_FORCE: one more AUTH_FAILED from ``ip`` (IPv6 per /64)."""
        counter = self._auth
        return self._details(counter, counter.hit(ip_key(ip), now))

    def bad_message(self, identity: str, now: float) -> dict[str, Any] | None:
        """ANOMALY_MESSAGE_FUZZING: one more bad or refused message from ``identity``."""
        counter = self._bad
        return self._details(counter, counter.hit(identity, now))

    def collided(
        self, identity: str, previous_ip: str | None, ip: str | None, now: float
    ) -> dict[str, Any] | None:
        """ANOMALY_IDENTITY_COLLISION: ``identity``, still connected from
        ``previous_ip``, connected again (from ``ip``; only counted if it differs)."""
        if previous_ip == ip:
            return None
        counter = self._collisions
        return self._details(counter, counter.hit(identity, now), previous_ip=previous_ip)


# -- the server's guards ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """An upgrade refused: the HTTP answer and the security event."""

    status: int
    message: str
    kind: str
    details: Mapping[str, Any] = field(default_factory=dict)
    retry_after_ms: float | None = None


class GuardedServer(Protocol):
    """What :class:`Guards` needs from the server."""

    def _security_event(
        self, kind: str, identity: str | None, ip: str | None, details: Mapping[str, Any]
    ) -> None: ...

    def _spawn(self, coro: Awaitable[Any]) -> None: ...

    @property
    def metrics(self) -> Any: ...


class ConnectionGuard:
    """One connection's guard state: its rate limiter (its :meth:`admit` is the
    peer's inbound gate) and the throttles of its flood-prone events."""

    __slots__ = ("_next_event", "_suppressed", "client", "disconnecting", "guards", "limiter")

    def __init__(self, guards: Guards, client: Any, limiter: MessageLimiter | None) -> None:
        self.guards = guards
        self.client = client
        self.limiter = limiter
        self.disconnecting = False
        self._next_event: dict[str, float] | None = None
        self._suppressed: dict[str, int] | None = None

    def admit(self, frame: object) -> bool:
        """Whether the peer handles ``frame``: requests (CALL, SEND) and unreadable
        frames take tokens; responses to our own calls never do."""
        kind = type(frame)
        if kind is Call or kind is Send:
            action: str | None = frame.action  # type: ignore[attr-defined]
        elif kind is BadMessage:
            action = None
        else:
            return True
        limiter = self.limiter
        if limiter is None:
            return True
        refused = limiter.check(action, time.monotonic())
        if refused is None:
            return True
        self.guards.limited(self, frame, action, refused)
        return False

    def throttled(self, kind: str, now: float) -> int | None:
        """None to leave this event out; else how many were left out before it."""
        if self._next_event is None:
            self._next_event, self._suppressed = {}, {}
        suppressed = self._suppressed
        assert suppressed is not None
        if now < self._next_event.get(kind, -math.inf) or not self.guards.event_budget(now):
            suppressed[kind] = suppressed.get(kind, 0) + 1
            return None
        self._next_event[kind] = now + EVENT_INTERVAL_S
        return suppressed.pop(kind, 0)


class Guards:
    """The server's guards, configured from its options and ``cors()``.

    Upgrades: :meth:`screen` (limits and CORS, before any auth work). Connections:
    :meth:`attach` gives a rate-limited one its gate; :meth:`limited`,
    :meth:`invalid_payload`, :meth:`connected`, :meth:`auth_failed` report events.
    """

    def __init__(self, server: GuardedServer) -> None:
        self.server = server
        self.cors = CorsRules()
        self.rate_limit: RateLimit | None = None
        self.connection_rate_limit: Limit | None = None
        self.max_connections: int | None = None
        self.anomalies: AnomalyDetector | None = None
        self._connections = KeyedBuckets()
        self._events = TokenBucket(Limit(EVENTS_PER_SECOND, 1000), time.monotonic())

    def configure(
        self,
        rate_limit: RateLimit | None,
        connection_rate_limit: Limit | None,
        max_connections: int | None,
        anomaly: AnomalyOptions | None,
    ) -> None:
        """Take new options (checked already); trackers whose options changed restart."""
        self.rate_limit = rate_limit
        if connection_rate_limit != self.connection_rate_limit:
            self._connections.clear()
        self.connection_rate_limit = connection_rate_limit
        self.max_connections = max_connections
        if anomaly is None:
            self.anomalies = None
        elif self.anomalies is None or self.anomalies.options != anomaly:
            self.anomalies = AnomalyDetector(anomaly)

    # -- upgrades -------------------------------------------------------------------------

    def screen(
        self, headers: Any, peer: str | None, tls: bool, connections: int
    ) -> tuple[str | None, Refusal | None]:
        """The client's address, and why its upgrade is refused (or None): per-IP
        connection rate (429), CORS rules (403), ``max_connections`` (503)."""
        cors = self.cors
        ip = cors.client_ip(peer, headers)
        limit = self.connection_rate_limit
        if limit is not None:
            wait_ms = self._connections.take(ip_key(ip), limit, time.monotonic())
            if wait_ms is not None:
                details = {"limit": limit.limit, "window_ms": limit.window_ms}
                refusal = Refusal(
                    429, "too many connections from this address", "CONNECTION_RATE_LIMIT",
                    {**details, "retry_after_ms": math.ceil(wait_ms)}, wait_ms,
                )  # fmt: skip
                return ip, refusal
        reason = cors.refusal(headers.get("Origin"), ip, cors.scheme(peer, tls, headers))
        if reason is not None:
            origin = headers.get("Origin")
            return ip, Refusal(403, reason, "UPGRADE_ABORTED", {"reason": reason, "origin": origin})
        cap = self.max_connections
        if cap is not None and connections >= cap:
            details = {"active_connections": connections, "max_connections": cap}
            return ip, Refusal(503, "connection limit reached", "CONNECTION_LIMIT", details)
        return ip, None

    def auth_failed(self, identity: str | None, ip: str | None) -> None:
        anomalies = self.anomalies
        if anomalies is not None:
            details = anomalies.auth_failed(ip, time.monotonic())
            if details is not None:
                self.server._security_event("ANOMALY_AUTH_BRUTE_FORCE", identity, ip, details)

    # -- connections ----------------------------------------------------------------------

    def attach(self, client: Any) -> None:
        """Give ``client`` (a server-side peer) the current rate limit, or none."""
        options = self.rate_limit
        guard: ConnectionGuard | None = client._guard
        if options is None:
            client._gate = None
            if guard is not None:
                guard.limiter = None
            return
        limiter = MessageLimiter(options, time.monotonic())
        if guard is None:
            guard = client._guard = ConnectionGuard(self, client, limiter)
        else:
            guard.limiter = limiter
        client._gate = guard.admit

    def _guard(self, client: Any) -> ConnectionGuard:
        guard: ConnectionGuard | None = client._guard
        if guard is None:
            guard = client._guard = ConnectionGuard(self, client, None)
        return guard

    def connected(self, client: Any, previous: Any | None) -> None:
        """A station connected (``previous``: its connection being replaced, if any)."""
        anomalies = self.anomalies
        if anomalies is None:
            return
        identity = client.identity
        ip = self.ip(client)
        now = time.monotonic()
        details = anomalies.connected(identity, now)
        if details is not None:
            self.server._security_event("ANOMALY_RAPID_RECONNECT", identity, ip, details)
        if previous is not None:
            details = anomalies.collided(identity, self.ip(previous), ip, now)
            if details is not None:
                self.server._security_event("ANOMALY_IDENTITY_COLLISION", identity, ip, details)

    def event_budget(self, now: float) -> bool:
        """Whether the server-wide budget of flood-prone events has room."""
        return self._events.take(now)

    def limited(
        self, guard: ConnectionGuard, frame: object, action: str | None, refused: Exceeded
    ) -> None:
        """A message over the rate limit: answer it now if it is a CALL (GenericError,
        with ``retry_after_ms``), act per ``on_limit_exceeded``, report it."""
        client = guard.client
        retry_after_ms = math.ceil(refused.retry_after_ms)
        metrics = self.server.metrics
        if metrics is not None:
            metrics.record_rate_limited(action or "(unreadable)")
        message_id = _waiting_id(frame)
        if message_id is not None:
            error = RPCGenericError("rate limited", {"retry_after_ms": retry_after_ms})
            client._send_error(message_id, error)
        details = {
            "action": action,
            "scope": refused.scope,
            "limit": refused.limit.limit,
            "window_ms": refused.limit.window_ms,
            "retry_after_ms": retry_after_ms,
        }
        options = guard.limiter.options if guard.limiter is not None else None
        reaction = options.on_limit_exceeded if options is not None else "ignore"
        if reaction == "disconnect":
            if not guard.disconnecting:
                guard.disconnecting = True
                client.logger.warn("rate limit exceeded: disconnecting", **details)
                self.server._spawn(client.close(*CLOSE_RATE_LIMITED, await_pending=False))
        elif callable(reaction):
            self._call_reaction(reaction, client, details)
        suppressed = guard.throttled("RATE_LIMIT_EXCEEDED", time.monotonic())
        if suppressed is not None:
            event = {**details, "suppressed": suppressed}
            self.server._security_event(
                "RATE_LIMIT_EXCEEDED", client.identity, self.ip(client), event
            )

    def _call_reaction(
        self, reaction: OnLimitExceeded, client: Any, details: dict[str, Any]
    ) -> None:
        try:
            result = reaction(client, dict(details))
        except Exception as exc:
            client.logger.error("on_limit_exceeded raised", error=repr(exc))
            return
        if isinstance(result, Awaitable):
            self.server._spawn(self._await_reaction(result, client))

    @staticmethod
    async def _await_reaction(result: Awaitable[Any], client: Any) -> None:
        try:
            await result
        except Exception as exc:
            client.logger.error("on_limit_exceeded raised", error=repr(exc))

    def invalid_payload(
        self, client: Any, error: RPCError, source: str, action: str | None = None
    ) -> None:
        """A bad message, or a CALL strict mode refused: INVALID_PAYLOAD (throttled
        per connection and server-wide), and it counts toward message fuzzing."""
        now = time.monotonic()
        identity = client.identity
        ip: str | None = None
        suppressed = self._guard(client).throttled("INVALID_PAYLOAD", now)
        if suppressed is not None:
            ip = self.ip(client)
            details = {
                "source": source,
                "action": action,
                "code": error.code,
                "message": error.message[:200],
                "suppressed": suppressed,
            }
            self.server._security_event("INVALID_PAYLOAD", identity, ip, details)
        anomalies = self.anomalies
        if anomalies is not None and identity is not None:
            found = anomalies.bad_message(identity, now)
            if found is not None:
                ip = ip or self.ip(client)
                self.server._security_event("ANOMALY_MESSAGE_FUZZING", identity, ip, found)

    def ip(self, client: Any) -> str | None:
        """A connection's client address, per the current ``trust_proxy``."""
        handshake = client.handshake
        return self.cors.client_ip(peer_host(handshake.remote_address), handshake.headers)


def _waiting_id(frame: object) -> str | None:
    """The id of a CALL whose sender waits for an answer (a bad one too, if the
    verdict answers it), else None."""
    if isinstance(frame, Call):
        return frame.message_id
    if (
        isinstance(frame, BadMessage)
        and frame.reply_type is MessageType.CALLERROR
        and frame.message_id != UNREADABLE_ID
    ):
        return frame.message_id
    return None


def peer_host(remote: object) -> str | None:
    """The host of a socket's remote address (``(host, port, ...)`` for TCP)."""
    if isinstance(remote, tuple):
        return str(remote[0]) if remote else None
    return None if remote is None else str(remote)
