"""The guards on their own: buckets, limiters, CORS rules, anomaly counters, events."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from websockets.datastructures import Headers

from browser_ocpp.rpc.errors import RPCGenericError
from browser_ocpp.rpc.frames import BadMessage, Call, CallError, CallResult, Send, parse
from browser_ocpp.server.guards import (
    AnomalyDetector,
    AnomalyOptions,
    ConnectionGuard,
    CorsRules,
    Guards,
    KeyedBuckets,
    Limit,
    MessageLimiter,
    RateLimit,
    TokenBucket,
    WindowCounter,
    duplicated_header,
    ip_key,
    security_event,
)

# -- token buckets ----------------------------------------------------------------------


def test_a_bucket_lets_a_burst_through_then_refills_steadily() -> None:
    bucket = TokenBucket(Limit(3, 1000), now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    bucket.refill(0.0)
    assert bucket.wait_ms() == pytest.approx(1000 / 3)
    assert not bucket.take(0.2)  # 0.6 of a token
    assert bucket.take(0.34)
    assert bucket.refill(100.0) == 3  # never more than the limit


def test_a_message_limiter_refuses_per_connection_and_per_action() -> None:
    options = RateLimit(
        limit=3, window_ms=1000, methods={"MeterValues": {"limit": 1, "window_ms": 1000}}
    )
    limiter = MessageLimiter(options, now=0.0)
    assert limiter.check("MeterValues", 0.0) is None
    refused = limiter.check("MeterValues", 0.0)
    assert refused is not None and refused.scope == "method"
    assert refused.limit == Limit(1, 1000) and refused.retry_after_ms == pytest.approx(1000)
    # the refused MeterValues took no token of the connection: two more pass
    assert limiter.check("Heartbeat", 0.0) is None
    assert limiter.check(None, 0.0) is None
    refused = limiter.check("Heartbeat", 0.0)
    assert refused is not None and refused.scope == "connection"
    assert refused.limit == Limit(3, 1000)


def test_keyed_buckets_keep_at_most_cap_keys() -> None:
    buckets = KeyedBuckets(cap=3)
    limit = Limit(1, 60_000)
    assert buckets.take("a", limit, 0.0) is None
    assert buckets.take("a", limit, 0.0) == pytest.approx(60_000)
    for key in "bcd":
        buckets.take(key, limit, 0.0)
    assert len(buckets) == 3
    assert buckets.take("a", limit, 0.0) is None  # evicted, so it starts afresh


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"limit": 1}, "needs limit and window_ms"),
        ({"limit": 1, "window_ms": 1, "burst": 2}, "unknown rate_limit option"),
        ({"limit": 0, "window_ms": 1}, "limit must be positive"),
        ({"limit": 1, "window_ms": 1, "on_limit_exceeded": "close"}, "on_limit_exceeded"),
        ({"limit": 1, "window_ms": 1, "methods": {"Heartbeat": 5}}, "limit and window_ms"),
        ({"limit": True, "window_ms": 1}, "must be a number"),
        ("10/s", "must be a dict"),
    ],
)
def test_rate_limit_options_are_checked(value: Any, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        RateLimit.coerce(value)


def test_anomaly_options() -> None:
    assert AnomalyOptions.coerce(True) == AnomalyOptions()
    assert AnomalyOptions.coerce(False) is None
    assert AnomalyOptions.coerce({"reconnect_threshold": 2}).reconnect_threshold == 2  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="unknown anomaly option"):
        AnomalyOptions.coerce({"reconnects": 2})
    with pytest.raises(ValueError, match="0 or more"):
        AnomalyOptions.coerce({"collision_threshold": -1})


# -- CORS rules ------------------------------------------------------------------------


def test_origins_are_compared_as_browsers_send_them() -> None:
    rules = CorsRules.build(allowed_origins=["HTTPS://Dash.Example.com:443/", "http://[::1]:8080"])
    assert rules.allowed_origins == {"https://dash.example.com", "http://[::1]:8080"}
    assert rules.refusal(None, "1.2.3.4", "ws") is None  # a station sends no Origin
    assert rules.refusal("https://dash.example.com", None, "ws") is None
    assert rules.refusal("http://[::1]:8080", None, "ws") is None
    for foreign in ("https://evil.example", "http://dash.example.com", "null", "::garbage"):
        assert rules.refusal(foreign, None, "ws") == "origin not allowed"
    with pytest.raises(ValueError, match="not an origin"):
        CorsRules.build(allowed_origins=["https://a.example/path"])
    with pytest.raises(ValueError, match="empty"):
        CorsRules.build(allowed_origins=[])
    with pytest.raises(TypeError):
        CorsRules.build(allowed_origins="https://a.example")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("192.168.1.77", True),
        ("192.168.2.1", False),
        ("10.0.0.5", True),
        ("10.0.0.6", False),
        ("::ffff:192.168.1.9", True),  # IPv4 on a dual-stack socket
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("fe80::1%eth0", False),
        ("not an address", False),
        (None, False),
    ],
)
def test_allowed_ips_take_addresses_and_ranges(ip: str | None, allowed: bool) -> None:
    rules = CorsRules.build(allowed_ips=["192.168.1.0/24", "10.0.0.5", "2001:db8::/32"])
    assert (rules.refusal(None, ip, "ws") is None) is allowed


def test_bad_ip_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        CorsRules.build(allowed_ips=["192.168.1.0/33"])
    with pytest.raises(ValueError, match="empty"):
        CorsRules.build(allowed_ips=[])
    with pytest.raises(ValueError, match="'ws' and/or 'wss'"):
        CorsRules.build(allowed_schemes=["https"])


def test_schemes() -> None:
    rules = CorsRules.build(allowed_schemes=["wss"])
    assert rules.refusal(None, None, "ws") == "scheme ws not allowed"
    assert rules.refusal(None, None, "wss") is None


def _forwarded(*pairs: tuple[str, str]) -> Headers:
    return Headers(list(pairs))


def test_forwarded_headers_are_ignored_unless_asked() -> None:
    headers = _forwarded(("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"))
    rules = CorsRules.build()
    assert rules.client_ip("10.0.0.1", headers) == "10.0.0.1"
    assert rules.scheme("10.0.0.1", False, headers) == "ws"


def test_trust_proxy_true_takes_the_right_most_address() -> None:
    rules = CorsRules.build(trust_proxy=True)
    headers = _forwarded(
        ("X-Forwarded-For", "1.1.1.1, 2.2.2.2"),  # the client wrote 1.1.1.1 itself
        ("X-Forwarded-For", "3.3.3.3:5678"),  # what our proxy appended, with a port
        ("X-Forwarded-Proto", "http, https"),
    )
    assert rules.client_ip("10.0.0.1", headers) == "3.3.3.3"
    assert rules.scheme("10.0.0.1", False, headers) == "wss"
    assert rules.client_ip("10.0.0.1", Headers()) == "10.0.0.1"
    assert rules.client_ip("10.0.0.1", _forwarded(("X-Forwarded-For", "[2001:db8::7]:1"))) == (
        "2001:db8::7"
    )


def test_trust_proxy_list_walks_past_our_proxies_only() -> None:
    rules = CorsRules.build(trust_proxy=["10.0.0.0/8"])
    headers = _forwarded(("X-Forwarded-For", "6.6.6.6, 5.5.5.5, 10.1.1.1"))
    assert rules.client_ip("10.0.0.1", headers) == "5.5.5.5"  # 6.6.6.6 could be forged
    assert rules.client_ip("8.8.8.8", headers) == "8.8.8.8"  # not our proxy: headers ignored
    assert rules.scheme("8.8.8.8", False, _forwarded(("X-Forwarded-Proto", "https"))) == "ws"
    only_proxies = _forwarded(("X-Forwarded-For", "10.2.2.2, 10.1.1.1"))
    assert rules.client_ip("10.0.0.1", only_proxies) == "10.2.2.2"


def test_ipv6_clients_are_counted_per_64() -> None:
    assert ip_key("2001:db8:1:2:aaaa::1") == ip_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")
    assert ip_key("192.0.2.1") == "192.0.2.1"
    assert ip_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert ip_key(None) == "None"


# -- anomalies ---------------------------------------------------------------------------


def test_a_window_counter_reports_above_the_threshold_once_per_window() -> None:
    counter = WindowCounter(window_s=60, threshold=2)
    assert [counter.hit("k", t) for t in (0, 1, 2, 3)] == [None, None, 3, None]
    assert counter.hit("other", 3) is None
    # 10 s into the next window, the 4 hits of the last one still weigh 50/60:
    # 4 * 50/60 + 1 = 4.33, above 2 (reported rounded up), a window after the last report
    assert counter.hit("k", 70) == 5
    assert counter.hit("k", 200) is None  # two windows later: nothing left


def test_a_window_counter_keeps_at_most_cap_keys() -> None:
    counter = WindowCounter(window_s=60, threshold=0, cap=100)
    for index in range(1000):
        counter.hit(f"identity-{index}", 0.0)
    assert len(counter) == 100


def test_the_anomaly_detector() -> None:
    detector = AnomalyDetector(
        AnomalyOptions(reconnect_threshold=1, auth_failure_threshold=1, bad_message_threshold=1)
    )
    assert detector.connected("CP-1", 0) is None
    assert detector.connected("CP-1", 1) == {"count": 2, "threshold": 1, "window_ms": 60_000}
    assert detector.auth_failed("2001:db8::1", 0) is None
    assert detector.auth_failed("2001:db8::2", 1) is not None  # the same /64
    assert detector.bad_message("CP-1", 0) is None
    assert detector.bad_message("CP-1", 0) is not None
    assert detector.collided("CP-1", "1.1.1.1", "1.1.1.1", 0) is None  # same address
    found = detector.collided("CP-1", "1.1.1.1", "2.2.2.2", 0)
    assert found == {"previous_ip": "1.1.1.1", "count": 1, "threshold": 0, "window_ms": 60_000}


# -- events and headers ------------------------------------------------------------------


def test_security_event_shape() -> None:
    event = security_event("AUTH_FAILED", "CP-1", "127.0.0.1", {"code": 401}, now=0.5)
    assert event == {
        "type": "AUTH_FAILED",
        "identity": "CP-1",
        "ip": "127.0.0.1",
        "timestamp": "1970-01-01T00:00:00.500Z",
        "details": {"code": 401},
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", security_event("X")["timestamp"])


def test_duplicated_singleton_headers() -> None:
    assert duplicated_header(Headers([("Host", "a"), ("Sec-WebSocket-Protocol", "x")])) is None
    assert (
        duplicated_header(
            Headers([("Sec-WebSocket-Protocol", "a"), ("sec-websocket-protocol", "b")])
        )
        is None
    )
    assert duplicated_header(Headers([("Host", "a"), ("host", "b")])) == "Host"
    assert (
        duplicated_header(Headers([("Authorization", "a"), ("Authorization", "a")]))
        == "Authorization"
    )


# -- the server's guards, with a stand-in server and connection ---------------------------


class FakeServer:
    metrics = None

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str | None, dict[str, Any]]] = []
        self.spawned: list[Any] = []

    def _security_event(
        self, kind: str, identity: str | None, ip: str | None, details: Any
    ) -> None:
        self.events.append((kind, identity, ip, dict(details)))

    def _spawn(self, coro: Any) -> None:
        self.spawned.append(coro)
        coro.close()


class FakeHandshake:
    remote_address = ("127.0.0.1", 5000)
    headers = Headers()


class FakeClient:
    identity = "CP-1"
    handshake = FakeHandshake()

    def __init__(self) -> None:
        self._guard: ConnectionGuard | None = None
        self._gate: Any = None
        self.sent: list[tuple[str, RPCGenericError]] = []
        self.closed: list[tuple[Any, ...]] = []

    def _send_error(self, message_id: str, error: RPCGenericError) -> None:
        self.sent.append((message_id, error))

    async def close(self, *args: Any, **kwargs: Any) -> None:
        self.closed.append(args)

    @property
    def logger(self) -> Any:
        class Quiet:
            def warn(self, *args: Any, **kwargs: Any) -> None:
                pass

            error = warn

        return Quiet()


def _guards(**options: Any) -> tuple[Guards, FakeServer]:
    server = FakeServer()
    guards = Guards(server)
    guards.configure(
        RateLimit.coerce(options.get("rate_limit")),
        Limit.optional("connection_rate_limit", options.get("connection_rate_limit")),
        options.get("max_connections"),
        AnomalyOptions.coerce(options.get("anomaly", True)),
    )
    return guards, server


def test_screen_refuses_in_order_rate_then_cors_then_capacity() -> None:
    guards, _ = _guards(connection_rate_limit={"limit": 1, "window_ms": 60_000}, max_connections=1)
    guards.cors = CorsRules.build(allowed_origins=["https://ok.example"])
    foreign = Headers([("Origin", "https://evil.example")])
    ip, refusal = guards.screen(foreign, "127.0.0.1", False, connections=5)
    assert ip == "127.0.0.1" and refusal is not None and refusal.status == 403
    ip, refusal = guards.screen(Headers(), "127.0.0.1", False, connections=5)
    assert refusal is not None and refusal.status == 429 and refusal.kind == "CONNECTION_RATE_LIMIT"
    assert refusal.retry_after_ms == pytest.approx(60_000, rel=0.01)
    ip, refusal = guards.screen(Headers(), "127.0.0.2", False, connections=1)
    assert refusal is not None and refusal.status == 503 and refusal.kind == "CONNECTION_LIMIT"
    assert refusal.details == {"active_connections": 1, "max_connections": 1}
    ip, refusal = guards.screen(Headers(), "127.0.0.3", False, connections=0)
    assert refusal is None


def test_many_addresses_cannot_grow_the_connection_buckets() -> None:
    guards, _ = _guards(connection_rate_limit={"limit": 1, "window_ms": 60_000})
    guards._connections.cap = 50
    for index in range(500):
        guards.screen(Headers(), f"10.0.{index // 256}.{index % 256}", False, 0)
    assert len(guards._connections) == 50


def test_the_gate_passes_responses_and_answers_calls_over_the_limit() -> None:
    guards, server = _guards(rate_limit={"limit": 1, "window_ms": 60_000})
    client = FakeClient()
    guards.attach(client)
    gate = client._gate
    assert gate is not None
    assert gate(Call("a", "Heartbeat", {}))
    assert not gate(Call("b", "Heartbeat", {}))
    assert not gate(Send("c", "NotifyPeriodicEventStream", {}))
    assert not gate(parse("not json", "ocpp2.0.1"))
    assert not gate(parse('[2,"d","Heartbeat",[]]', "ocpp2.0.1"))  # a bad CALL, answerable
    for reply in (CallResult("x", {}), CallError("y", "GenericError", "", {})):
        assert gate(reply)  # answers to our own calls are never limited
    assert [message_id for message_id, _ in client.sent] == ["b", "d"]
    error = client.sent[0][1]
    assert error.code == "GenericError" and error.message == "rate limited"
    assert 59_000 < error.details["retry_after_ms"] <= 60_000
    limited = [event for event in server.events if event[0] == "RATE_LIMIT_EXCEEDED"]
    assert len(limited) == 1  # one per second per connection
    _, identity, ip, details = limited[0]
    assert (identity, ip, details["scope"], details["action"]) == (
        "CP-1",
        "127.0.0.1",
        "connection",
        "Heartbeat",
    )
    assert details["suppressed"] == 0
    guards.rate_limit = None
    guards.attach(client)
    assert client._gate is None


def test_disconnect_closes_once() -> None:
    guards, server = _guards(
        rate_limit={"limit": 1, "window_ms": 60_000, "on_limit_exceeded": "disconnect"}
    )
    client = FakeClient()
    guards.attach(client)
    for index in range(5):
        client._gate(Call(str(index), "Heartbeat", {}))
    assert len(server.spawned) == 1 and len(client.sent) == 4


def test_invalid_payload_events_are_throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    guards, server = _guards(anomaly={"bad_message_threshold": 3})
    client = FakeClient()
    clock = [time.monotonic()]
    monkeypatch.setattr("browser_ocpp.server.guards.time.monotonic", lambda: clock[0])
    verdict = parse("not json", "ocpp2.0.1")
    assert isinstance(verdict, BadMessage)
    for _ in range(10):
        guards.invalid_payload(client, verdict.error, "bad_message")
    clock[0] += 1.0
    guards.invalid_payload(client, verdict.error, "strict_mode", "BootNotification")
    invalid = [event[3] for event in server.events if event[0] == "INVALID_PAYLOAD"]
    assert [(e["source"], e["suppressed"]) for e in invalid] == [
        ("bad_message", 0),
        ("strict_mode", 9),
    ]
    assert invalid[1]["action"] == "BootNotification" and invalid[0]["code"] == "RpcFrameworkError"
    fuzzing = [event for event in server.events if event[0] == "ANOMALY_MESSAGE_FUZZING"]
    assert len(fuzzing) == 1 and fuzzing[0][3]["count"] == 4
