"""``/health`` and ``/metrics`` for :class:`OCPPServer` (``health_endpoint=True``).

The Prometheus text is made by ``prometheus_client`` (an optional extra,
``browser-ocpp[metrics]``, imported only when a server turns this on), from a
registry of the server's own, so two servers in one process never clash.

What moves with every call is counted in plain Python on the peer's own path (a
:class:`~browser_ocpp.peer.observer.CallObserver` the server sets on each
connection): a dict and a list update, about a third of what a
``prometheus_client`` ``Counter.inc`` plus ``Histogram.observe`` cost per call.
Everything is turned into metric families when scraped, and what is cheap to read
then (stations by protocol, bytes waiting to be sent, process memory) is only
read then. No label names a station, so a scrape costs the same with ten stations
or ten thousand, apart from one pass over them.

Like every ``server.route()``, both paths answer before any station
authentication: expose the port only where they may be read, or refuse other
addresses with the server's IP rules.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

try:
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "health_endpoint=True needs prometheus_client: pip install 'browser-ocpp[metrics]'",
        name=exc.name,
    ) from exc

from websockets.datastructures import Headers

from ..peer.observer import call_outcome
from ..rpc.versions import SUPPORTED_PROTOCOLS, known_actions
from .server import _cpu_usage, _memory_usage

if TYPE_CHECKING:
    from .server import OCPPServer

__all__ = ["LATENCY_BUCKETS", "ServerMetrics"]

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Upper bounds (seconds) of the call latency buckets; ``+Inf`` follows."""
FIRST_BOUND = LATENCY_BUCKETS[0]  # most calls: no search

MAX_OTHER_ACTIONS = 100
"""Action names beyond OCPP's own (vendor actions) kept as labels; later ones are
counted as ``other``, so a station sending made-up names cannot grow the metrics."""
OTHER = "other"
OCPP_ACTIONS = frozenset().union(*(known_actions(p) for p in SUPPORTED_PROTOCOLS))

_BUCKET_LABELS = [repr(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]  # as the library writes them


class _Calls:
    """One action's calls in one direction: count per outcome, latency histogram."""

    __slots__ = ("buckets", "outcomes", "sum")

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # not cumulative; the last is +Inf
        self.sum = 0.0


class ServerMetrics:
    """The counters of one server, its ``/health`` and ``/metrics`` routes, and the
    :class:`CallObserver` its connections report to.

    ``record_rate_limited(action)`` counts a message refused by a rate limit;
    security events are counted from the server's ``security_event`` events.
    """

    def __init__(self, server: OCPPServer) -> None:
        self._server = server
        self._inbound: dict[str, _Calls] = {}
        self._outbound: dict[str, _Calls] = {}
        self._bad_messages: dict[str, int] = {}
        self._rate_limited: dict[str, int] = {}
        self._security_events: dict[str, int] = {}
        self._other_actions: set[str] = set()
        self.registry = CollectorRegistry()
        self.registry.register(self)  # collect(), at each scrape
        server.route("/health", self.health)
        server.route("/metrics", self.scrape)
        server.on("security_event", self.record_security_event)

    # -- what the connections report (CallObserver), on every call -------------------------

    def inbound(self, action: str, outcome: str, seconds: float) -> None:
        calls = self._inbound.get(action) or self._calls(self._inbound, action)
        outcomes = calls.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        calls.sum += seconds
        calls.buckets[0 if seconds <= FIRST_BOUND else bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def outbound(self, action: str, future: asyncio.Future[Any], seconds: float) -> None:
        calls = self._outbound.get(action) or self._calls(self._outbound, action)
        outcome = call_outcome(future)
        outcomes = calls.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        calls.sum += seconds
        calls.buckets[0 if seconds <= FIRST_BOUND else bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def bad_message(self, code: str) -> None:
        self._bad_messages[code] = self._bad_messages.get(code, 0) + 1

    def _label(self, action: str) -> str:
        """``action`` as a label value: OCPP's actions, then the first vendor ones."""
        if action in OCPP_ACTIONS or action in self._other_actions:
            return action
        if len(self._other_actions) < MAX_OTHER_ACTIONS:
            self._other_actions.add(action)
            return action
        return OTHER

    def _calls(self, table: dict[str, _Calls], action: str) -> _Calls:
        label = self._label(action)
        calls = table.get(label)
        if calls is None:
            calls = table[label] = _Calls()
        return calls

    # -- what other parts of the server report ----------------------------------------------

    def record_rate_limited(self, action: str) -> None:
        """Count a message refused by a rate limit (``action``: its OCPP action)."""
        label = self._label(action)
        self._rate_limited[label] = self._rate_limited.get(label, 0) + 1

    def record_security_event(self, event: dict[str, Any]) -> None:
        """Count a ``security_event`` by its type (a listener on the server)."""
        kind = str(event.get("type", "UNKNOWN"))
        self._security_events[kind] = self._security_events.get(kind, 0) + 1

    # -- the routes -------------------------------------------------------------------------

    def health(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        """``GET /health``: status, stations connected, uptime (seconds), pid."""
        server = self._server
        body = {
            "status": "ok",
            "connected_stations": len(server.clients),
            "uptime_seconds": round(time.monotonic() - server._started, 3),
            "pid": os.getpid(),
        }
        return 200, "application/json", json.dumps(body).encode()

    def scrape(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        """``GET /metrics``: the Prometheus text format (OpenMetrics when asked for)."""
        encoder, content_type = choose_encoder(headers.get("Accept", ""))
        return 200, content_type, encoder(self.registry)

    # -- turned into metric families when scraped ------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from the counts at each scrape (the registry
        calls this)."""
        server = self._server
        stations = GaugeMetricFamily(
            "ocpp_connected_stations", "Stations connected, by OCPP version.", labels=["protocol"]
        )
        by_protocol, buffered = _stations(server)
        for protocol, count in by_protocol.items():
            stations.add_metric([protocol], count)
        yield stations
        yield from _call_families(
            "inbound", "from stations", "ok, the error code answered, closed", self._inbound
        )
        yield from _call_families(
            "outbound",
            "to stations",
            "ok, the error code received, timeout, closed, cancelled",
            self._outbound,
        )
        yield _counter(
            "ocpp_bad_messages",
            "Received frames that could not be accepted, by error code.",
            "code",
            self._bad_messages,
        )
        yield _counter(
            "ocpp_rate_limited_messages",
            "Messages refused by a rate limit, by action.",
            "action",
            self._rate_limited,
        )
        yield _counter(
            "ocpp_security_events",
            "Security events, by type.",
            "type",
            self._security_events,
        )
        yield GaugeMetricFamily(
            "ocpp_send_buffer_bytes",
            "Bytes written to station sockets and not yet sent (all stations).",
            value=buffered,
        )
        yield from _process_families()


def _call_families(
    direction: str, what: str, outcomes: str, table: dict[str, _Calls]
) -> Iterator[Metric]:
    calls = CounterMetricFamily(
        f"ocpp_{direction}_calls",
        f"Calls {what}, by action and outcome ({outcomes}).",
        labels=["action", "outcome"],
    )
    timing = "receiving to answering" if direction == "inbound" else "round trip"
    latency = HistogramMetricFamily(
        f"ocpp_{direction}_call_duration_seconds",
        f"Calls {what}: {timing}, in seconds, by action.",
        labels=["action"],
    )
    for action, entry in list(table.items()):
        for outcome, count in entry.outcomes.items():
            calls.add_metric([action, outcome], count)
        cumulative, total = [], 0
        for label, count in zip(_BUCKET_LABELS, entry.buckets, strict=True):
            total += count
            cumulative.append((label, float(total)))
        latency.add_metric([action], cumulative, entry.sum)
    yield calls
    yield latency


def _counter(name: str, documentation: str, label: str, counts: dict[str, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in list(counts.items()):
        family.add_metric([value], count)
    return family


def _process_families() -> Iterator[Metric]:
    """Memory and CPU time of this process, with the names of prometheus_client's
    process collector. Not that collector itself: it also counts open file descriptors
    by listing ``/proc/self/fd``, which costs per connection at every scrape."""
    memory = _memory_usage()
    if "rss" in memory:
        yield GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory size in bytes.", memory["rss"]
        )
    if "max_rss" in memory:
        yield GaugeMetricFamily(
            "process_max_resident_memory_bytes",
            "Peak resident memory size in bytes.",
            memory["max_rss"],
        )
    cpu = _cpu_usage()
    if cpu is not None:
        yield CounterMetricFamily(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            (cpu["user"] + cpu["system"]) / 1e6,
        )


def _stations(server: OCPPServer) -> tuple[dict[str, int], int]:
    """Stations by protocol (each one the server speaks, 0 included), and the bytes
    waiting in their sockets' write buffers: one pass over the stations, the only
    part of a scrape that grows with them."""
    by_protocol = dict.fromkeys(server.options.protocols, 0)
    buffered = 0
    for client in list(server.clients.values()):
        protocol = client.protocol or ""
        by_protocol[protocol] = by_protocol.get(protocol, 0) + 1
        connection = client._connection
        if connection is not None:
            buffered += connection.transport.get_write_buffer_size()
    return by_protocol, buffered
