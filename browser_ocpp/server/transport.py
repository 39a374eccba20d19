"""The peer's transport over a ``websockets`` asyncio connection (client or server).

websockets does the handshake, framing limits, pings, the closing handshake and TLS.
Data frames take a shorter road than ``recv()``/``send()``: the connection classes
below hand each complete message to the peer straight from ``data_received`` (no
queue, no reader task to wake, no send lock), and the peer's replies are framed and
written at once. The peer's receive path never awaits, so order is kept.

What waits to be sent is bounded whatever the other end does: a connection that
leaves more than ``BACKLOG_LIMIT`` unread (replies, pongs, anything) is dropped, and
a :class:`SendBudget` caps the total over all of a server's connections. Plain HTTP
answers (static files) may be a :class:`StreamedResponse`, sent a chunk at a time
as the socket takes it, after the handshake timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import SERVER, Request, Response
from websockets.protocol import CONNECTING, OPEN, Protocol, Side
from websockets.streams import StreamReader

from .bodies import BodyBudget, BodyLimit, read_bodies

try:  # websockets' C helper, as its frames module takes it
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

if TYPE_CHECKING:
    from websockets.protocol import Event

    from ..peer import RPCPeer

__all__ = [
    "OCPPClientConnection",
    "OCPPServerConnection",
    "SendBudget",
    "StreamedResponse",
    "WebSocketTransport",
]

CLOSE_TIMEOUT_S = 5.0
EARLY_LIMIT = 16
"""Messages held before the peer takes the connection; beyond, reading pauses."""
BACKLOG_LIMIT = 4 * 1024 * 1024
"""Bytes waiting to be sent on one connection after which the other end is taken
not to read them (replies, pongs to its pings, anything we write)."""

STREAM_CHUNK = 65_536
"""Bytes of a :class:`StreamedResponse` read and written at a time."""
STREAM_STALL_S = 60.0
"""A streamed response whose socket takes nothing for this long is dropped (as
nginx's ``send_timeout``): the client reads nothing."""
STREAM_CHECK_S = 1.0
"""How often a waiting streamed response checks that the server still serves."""
BATCH_LIMIT = 65_536
"""Bytes of replies held back while one read is handled; beyond, they are written
(and the backlog checked) at once."""
RECEIVE_BUFFER = 262_144
"""Bytes read from a socket at a time, into one buffer per thread reused by every
connection (asyncio's own path allocates a fresh buffer of this size per read: above
glibc's mmap threshold, an mmap and a munmap per message in some processes)."""

Sink = Callable[[str | bytes], None]
"""Takes one complete message: ``str`` for text, ``bytes`` for binary."""
ProcessRequest = Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]
ProcessResponse = Callable[
    [ServerConnection, Request, Response], Awaitable[Response | None] | Response | None
]


class SendBudget:
    """The bytes a server has yet to send, over all its connections, held under
    ``limit``: past it, the connections holding the most are dropped (1008) until
    the total is back under it.

    Only connections above their write buffer's high-water mark (websockets'
    ``write_limit``, 32 KiB) are counted, with the size they last reported; they
    report whenever a frame arrives or a reply is written, so the check costs
    nothing on connections whose output is being read.
    """

    __slots__ = ("_held", "_shedding", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._held: dict[_DirectMessages, int] = {}
        self._shedding = False

    def hold(self, connection: _DirectMessages, size: int) -> None:
        """``connection`` now has ``size`` bytes waiting to be sent."""
        self.total += size - self._held.get(connection, 0)
        self._held[connection] = size
        if self.total > self.limit and not self._shedding:
            self._shedding = True  # not from inside a write: once the callback is done
            connection.loop.call_soon(self._shed)

    def release(self, connection: _DirectMessages) -> None:
        """``connection`` drained below its low-water mark, or is gone."""
        self.total -= self._held.pop(connection, 0)

    def _shed(self) -> None:
        self._shedding = False
        self._held = {c: c.transport.get_write_buffer_size() for c in self._held}
        self.total = sum(self._held.values())
        for connection in sorted(self._held, key=self._held.__getitem__, reverse=True):
            if self.total <= self.limit:
                break
            connection.logger.warning(
                "server send budget exceeded: dropping a connection holding %d bytes",
                self._held[connection],
            )
            connection._fail(CloseCode.POLICY_VIOLATION, "server send buffers are full", abort=True)


_receiving = threading.local()
"""This thread's receive buffer (``view``: a memoryview over RECEIVE_BUFFER bytes)."""

_PARSE = Protocol.parse.__code__
_AT_EOF = StreamReader.at_eof.__code__
_TEXT_FIN = 0x81
"""First byte of a final text frame without RSV bits: the only frames read directly."""


def _at_frame_start(protocol: Protocol) -> bool:
    """Whether websockets' parser waits for the first byte of a frame with nothing
    buffered (in ``parse()``, at ``reader.at_eof()``): then whole frames may be read
    without it, and what follows them fed to it."""
    outer, inner = None, protocol.parser
    while (deeper := inner.gi_yieldfrom) is not None:  # type: ignore[attr-defined]
        outer, inner = inner, deeper
    return outer is not None and outer.gi_code is _PARSE and inner.gi_code is _AT_EOF  # type: ignore[attr-defined]


def _frame_limit(protocol: Protocol) -> int:
    """The largest frame websockets would take as a whole message now."""
    limits = [
        getattr(protocol, name, None)
        for name in ("max_message_size", "max_fragment_size", "max_size")  # 17.x; 14.x
    ]
    return min((limit for limit in limits if isinstance(limit, int)), default=1 << 62)


def _pings_awaiting(connection: Connection) -> Mapping[bytes, Any]:
    """The pings ``connection`` sent and awaits a pong for: ``pending_pings`` since
    websockets 16, ``pong_waiters`` in 14 and 15."""
    pings = getattr(connection, "pending_pings", None)
    return pings if pings is not None else getattr(connection, "pong_waiters", {})


class _DirectMessages(Connection, asyncio.BufferedProtocol):
    """Delivers complete data messages to a sink from ``data_received``.

    Messages that arrive before a sink is set (between the handshake and the peer's
    attachment) wait in a list and are delivered first, in order. What we write
    without awaiting is bounded too: an end that leaves more than ``BACKLOG_LIMIT``
    unread (replies, or pongs to its pings) has its connection failed, and a
    :class:`SendBudget`, when set, caps the total over a server's connections.
    """

    # Slots, not instance-dict entries: each connection's dict stays as websockets made it.
    __slots__ = (
        "_abort",
        "_early",
        "_fast",
        "_fragments",
        "_fragments_text",
        "_held",
        "_held_size",
        "_lost",
        "_paused_for_early",
        "_reading",
        "budget",
        "control_at",
        "sink",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink: Sink | None = None
        self._early: list[str | bytes] | None = None
        self._reading = False
        """Whether a read is being handled: frames written meanwhile are held back
        and written together at its end."""
        self._held: bytes | list[bytes] | None = None
        self._held_size = 0
        """Bytes held back, once there are several frames."""
        self._fast = 0
        """While > 0, websockets' parser is known to wait at a frame start, and final
        text frames are read straight from the buffer up to this size; else 0."""
        self._fragments: list[bytes] | None = None
        self._fragments_text = False
        self._paused_for_early = False
        self._lost: asyncio.Future[None] | None = None
        self._abort: asyncio.TimerHandle | None = None
        self.budget: SendBudget | None = None
        self.control_at = 0.0
        """``time.monotonic()`` of the last ping, or pong not answering one of ours,
        received: the other end keeping the connection alive by its own choice."""

    def process_event(self, event: Event) -> None:
        if type(event) is not Frame:
            super().process_event(event)  # the handshake request or response
            return
        opcode = event.opcode
        if self._abort is not None:  # we failed the connection: nothing more is read
            if opcode is Opcode.PONG or opcode is Opcode.CLOSE:
                super().process_event(event)
            return
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not event.fin:
                self._fragments = [bytes(event.data)]
                self._fragments_text = opcode is Opcode.TEXT
                return
            self._message(bytes(event.data), opcode is Opcode.TEXT)
        elif opcode is Opcode.CONT:
            if self._fragments is None:  # the protocol refuses this; be safe anyway
                return
            self._fragments.append(bytes(event.data))
            if event.fin:
                data, self._fragments = b"".join(self._fragments), None
                self._message(data, self._fragments_text)
        else:
            if opcode is Opcode.PING or (
                opcode is Opcode.PONG and bytes(event.data) not in _pings_awaiting(self)
            ):
                self.control_at = time.monotonic()
            super().process_event(event)  # pings, pongs, close

    def _message(self, data: bytes, text: bool) -> None:
        message: str | bytes = data
        if text:
            try:
                message = data.decode()
            except UnicodeDecodeError as exc:
                self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                return
        sink = self.sink
        if sink is None:
            if self._early is None:
                self._early = []
            self._early.append(message)
            if len(self._early) >= EARLY_LIMIT and not self._paused_for_early:
                self._paused_for_early = True
                self.transport.pause_reading()
            return
        try:  # as _deliver does, without a call more per message
            sink(message)
        except Exception:
            self._sink_failed()

    def _deliver(self, sink: Sink, message: str | bytes) -> None:
        try:
            sink(message)
        except Exception:
            self._sink_failed()

    def _sink_failed(self) -> None:
        """The peer never raises from its sink; if it did, the protocol goes on."""
        self.logger.error("message handler failed", exc_info=True)
        self._fail(CloseCode.INTERNAL_ERROR, "")

    def _fail(self, code: CloseCode, reason: str, *, abort: bool = False) -> None:
        """Fail the connection from a data callback: send the close frame, read no
        more messages, and drop the TCP connection if the closing handshake does not
        finish within ``close_timeout`` (as websockets does when ``recv`` fails)."""
        if self._abort is not None:
            return
        self.protocol.fail(code, reason)
        self.send_data()
        delay = 0.0 if abort else self.close_timeout or 0.0
        self._abort = self.loop.call_later(delay, self.transport.abort)
        if abort and self.budget is not None:
            self.budget.release(self)  # the buffer goes with the connection

    def set_sink(self, sink: Sink) -> None:
        """Deliver every message from now on to ``sink``, those already waiting first."""
        self.sink = sink
        early, self._early = self._early, None
        for message in early or ():
            self._deliver(sink, message)
        if self._paused_for_early:
            self._paused_for_early = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def send_data(self) -> None:
        """websockets' ``send_data``, with every frame it queued in one write: a read
        full of pings is answered by one write, not one per pong (asyncio on Python
        3.12+ pays for each write with a pass over all it holds unsent, so a ping
        flood would cost CPU quadratic in the backlog). While a read is handled, they
        join the replies held back, after them; else those are written first."""
        writes = self.protocol.data_to_send()
        data = [chunk for chunk in writes if chunk]
        if self._reading and len(data) == len(writes):
            for chunk in data:  # while a read is handled: after the replies before it
                self._hold(chunk)
            return
        self._flush()
        if data:
            self.transport.write(data[0] if len(data) == 1 else b"".join(data))
        if len(data) < len(writes):  # SEND_EOF: half-close, as websockets does
            if self.transport.can_write_eof():
                with contextlib.suppress(OSError, RuntimeError):
                    self.transport.write_eof()
            else:
                self.transport.close()

    def write_text(self, text: str) -> None:
        """Frame and write ``text`` now (raises if the connection is not open)."""
        protocol = self.protocol
        state = protocol.state
        if state is not OPEN:
            raise ConnectionError(f"the WebSocket is {state.name.lower()}")
        if (
            protocol.side is Side.SERVER
            and not protocol.extensions
            and not protocol.debug
            and not protocol.expect_continuation_frame
        ):
            # The bytes websockets' send_text() would write: a final text frame,
            # unmasked (a server's), length in 7, 16 or 64 bits.
            data = text.encode()
            length = len(data)
            if length < 126:
                frame = bytes((_TEXT_FIN, length)) + data
            elif length < 65_536:
                frame = struct.pack("!BBH", _TEXT_FIN, 126, length) + data
            else:
                frame = struct.pack("!BBQ", _TEXT_FIN, 127, length) + data
            if not self._reading:
                self.transport.write(frame)
            elif self._held is None and length < BATCH_LIMIT:
                self._held = frame  # the usual case: one reply to one read
            else:
                self._hold(frame)
            return
        protocol.send_text(text.encode())
        self.send_data()

    def _hold(self, frame: bytes) -> None:
        """While a read is handled: keep ``frame`` to write after those held before
        it (all at once beyond ``BATCH_LIMIT``, so the backlog checks see them)."""
        held = self._held
        if held is None:
            self._held, self._held_size = [frame], len(frame)
        elif isinstance(held, bytes):
            self._held, self._held_size = [held, frame], len(held) + len(frame)
        else:
            held.append(frame)
            self._held_size += len(frame)
        if self._held_size >= BATCH_LIMIT:
            self._flush()

    def _flush(self) -> None:
        """Write the frames held back, in one write."""
        held = self._held
        if held is not None:
            self._held, self._held_size = None, 0
            self.transport.write(held if isinstance(held, bytes) else b"".join(held))

    def _held_bytes(self) -> int:
        held = self._held
        if held is None:
            return 0
        return len(held) if isinstance(held, bytes) else self._held_size

    def write_reply(self, text: str) -> None:
        """Write a reply now. Calls wait for the buffer to drain before they are
        written, so a backlog beyond the limit is replies left unread: the other end
        sends calls without reading the answers, and the connection is dropped
        (1008). Reading never pauses for our own writes: two ends that both did could
        wait on each other for ever."""
        self.write_text(text)
        if self.paused:  # above the high-water mark
            self._check_backlog("replies are not being read")

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the transport reads to (a BufferedProtocol: asyncio reads into it,
        then calls :meth:`buffer_updated` at once, so one buffer per thread does)."""
        try:
            view: memoryview = _receiving.view
        except AttributeError:
            view = _receiving.view = memoryview(bytearray(RECEIVE_BUFFER))
        return view

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` arrived in the buffer. Whole final text frames at its start are
        read here when websockets' parser waits at a frame start (the usual case);
        anything else (control frames, fragments, a frame cut by the read, RSV bits,
        a frame over the size limit, a connection not open) goes to the protocol,
        which copies it from the buffer. What handling them writes goes out in one
        write at the end, in order (asyncio on Python 3.12+ pays for each write with
        a pass over all it holds unsent); then, when what we have to send is piling
        up, see whether the other end reads it."""
        self._reading = True
        try:
            view = _receiving.view
            limit = self._fast
            pos = 0
            if limit:
                protocol = self.protocol
                masked = 0x80 if protocol.side is Side.SERVER else 0
                head = 6 if masked else 2
                while nbytes - pos >= head:
                    second = view[pos + 1]
                    if view[pos] != _TEXT_FIN or second & 0x80 != masked:
                        break
                    length = second & 0x7F
                    start = pos + head
                    if length == 126:
                        start += 2
                        if nbytes < start:
                            break
                        length = (view[pos + 2] << 8) | view[pos + 3]
                    elif length == 127:
                        break
                    end = start + length
                    if end > nbytes or length > limit:
                        break
                    if masked:
                        data = apply_mask(view[start:end], view[start - 4 : start])
                    else:
                        data = bytes(view[start:end])
                    pos = end
                    self._message(data, True)
                    if protocol.state is not OPEN or self._abort is not None or not self._fast:
                        break
            if pos < nbytes:
                self._fast = 0  # the parser learns the rest; it is checked again after
                self.data_received(cast(bytes, view[pos:nbytes]))
        finally:
            self._reading = False
            self._flush()
        if self.paused:
            self._check_backlog("sent frames are not being read")

    def _update_fast(self) -> None:
        """After websockets parsed what arrived: may the next frames skip it?"""
        protocol = self.protocol
        self._fast = (
            _frame_limit(protocol)
            if protocol.state is OPEN
            and self._abort is None
            and self._fragments is None
            and not protocol.extensions
            and not protocol.debug
            and _at_frame_start(protocol)
            else 0
        )

    def data_received(self, data: bytes) -> None:
        """Feed the protocol (from :meth:`buffer_updated`, which checks the backlog)."""
        super().data_received(data)
        self._update_fast()

    def _check_backlog(self, reason: str) -> None:
        """Drop the connection (1008, ``reason``) if more than ``BACKLOG_LIMIT``
        waits to be sent (held-back replies included); else tell the budget what it
        holds."""
        if self._abort is not None:
            return
        size = self.transport.get_write_buffer_size() + self._held_bytes()
        if size > BACKLOG_LIMIT:
            # The close frame waits behind the backlog: no handshake to wait for.
            self._fail(CloseCode.POLICY_VIOLATION, reason, abort=True)
        elif self.budget is not None:
            self.budget.hold(self, size)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.budget is not None:
            self.budget.hold(self, self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.budget is not None:
            self.budget.release(self)

    async def lost(self) -> None:
        """Return once the TCP connection is gone (a plain future: cheaper per
        connection than ``wait_closed``'s shield; for the connection's one task)."""
        if self.connection_lost_waiter.done():
            return
        if self._lost is None:
            self._lost = self.loop.create_future()
        await self._lost

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._abort is not None:
            self._abort.cancel()
        if self.budget is not None:
            self.budget.release(self)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)


@dataclasses.dataclass
class StreamedResponse(Response):
    """An HTTP response whose body is ``length`` bytes read from ``source`` as the
    socket takes them (``body`` stays empty; ``headers`` give the Content-Length).
    ``process_request`` may return one; the connection closes ``source``."""

    source: BinaryIO | None = None
    length: int = 0


class OCPPServerConnection(_DirectMessages, ServerConnection):
    """A server-side connection whose messages go straight to an OCPP peer.

    It applies the handshake timeout itself (``serve()`` gets ``open_timeout=None``),
    to receiving the request and deciding the response, not to sending a
    :class:`StreamedResponse`: a large file goes out as fast as the client reads
    it, and only a client that reads nothing for ``STREAM_STALL_S`` is dropped.
    """

    __slots__ = ("body_budget", "handshake_timeout")

    def __init__(
        self,
        *args: Any,
        budget: SendBudget | None = None,
        handshake_timeout: float | None = None,
        body_limit: BodyLimit | None = None,
        body_budget: BodyBudget | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.handshake_timeout = handshake_timeout
        self.body_budget = body_budget
        if body_limit is not None and body_budget is not None:
            read_bodies(self.protocol, body_limit, body_budget)

    @classmethod
    def factory(
        cls,
        *,
        budget: SendBudget,
        handshake_timeout: float,
        body_limit: BodyLimit | None = None,
        body_budget: BodyBudget | None = None,
    ) -> type[ServerConnection]:
        """What ``serve(create_connection=...)`` takes ("a wrapper or a subclass", in
        websockets' words): connections of one server, sharing its send budget;
        ``body_limit`` and ``body_budget``: POST bodies are read (see :mod:`.bodies`)."""
        made = functools.partial(
            cls,
            budget=budget,
            handshake_timeout=handshake_timeout,
            body_limit=body_limit,
            body_budget=body_budget,
        )
        return cast(type[ServerConnection], made)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.body_budget is not None:  # a body cut short, or not answered yet
            self.body_budget.release(self.protocol)

    async def handshake(
        self,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = SERVER,
    ) -> None:
        """websockets' handshake within ``handshake_timeout``; a
        :class:`StreamedResponse` from ``process_request`` has its head sent the same
        way and its body streamed after the timeout (``process_response`` does not
        see it)."""
        async with asyncio.timeout(self.handshake_timeout):
            await asyncio.wait(
                [self.request_rcvd, self.connection_lost_waiter],
                return_when=asyncio.FIRST_COMPLETED,
            )
            request = self.request
            if request is None or process_request is None:
                await super().handshake(process_request, process_response, server_header)
                return
            response, error = None, None
            try:
                outcome = process_request(self, request)
                response = await outcome if isinstance(outcome, Awaitable) else outcome
            except Exception as exc:
                error = exc  # raised again where websockets expects it: a 500
            if not isinstance(response, StreamedResponse):
                decided = functools.partial(_decided, response, error)
                await super().handshake(decided, process_response, server_header)
                return
        await self._stream(response, server_header)

    async def _stream(self, response: StreamedResponse, server_header: str | None) -> None:
        """Send the head, then the body a chunk at a time whenever the write buffer
        is below its low-water mark, so a response holds at most a chunk or two in
        memory however slowly it is read; then close as websockets does."""
        source = response.source
        assert source is not None
        if self.protocol.state is not CONNECTING:  # the client left while we decided
            source.close()
            return
        try:
            if server_header is not None:
                response.headers["Server"] = server_header
            self.response = response
            self.protocol.send_response(response)  # the head; the protocol now ends
            eof = False
            for data in self.protocol.data_to_send():
                if data:
                    self.transport.write(data)
                else:
                    eof = True
            self.transport.pause_reading()  # one request per connection: nothing to read
            sent = await self._send_body(source, response.length)
        finally:
            source.close()
        if sent:  # wait until the socket took every byte: abort() would drop the rest
            self.transport.set_write_buffer_limits(high=0)
            sent = await self._writable()
        if not sent:
            self.transport.abort()
            return
        if eof and self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()
        self.transport.resume_reading()  # the client's close (anything else is discarded)
        await asyncio.wait([self.connection_lost_waiter], timeout=self.close_timeout)

    async def _send_body(self, source: BinaryIO, length: int) -> bool:
        """Write ``length`` bytes of ``source``, reading each chunk only once the
        socket took the one before; False if the connection was lost, the client
        stopped reading or the file came up short."""
        remaining = length
        while remaining > 0:
            if not await self._writable():
                return False
            chunk = source.read(min(STREAM_CHUNK, remaining))
            if not chunk:
                return False  # the file shrank: the Content-Length cannot be kept
            self.transport.write(chunk)
            remaining -= len(chunk)
        return True

    async def _writable(self) -> bool:
        """Wait while the write buffer is above its high-water mark; False once the
        connection is lost, the server closes, or nothing drained for
        ``STREAM_STALL_S``."""
        stalled = 0.0
        while self.paused and self.server.is_serving() and stalled < STREAM_STALL_S:
            size = self.transport.get_write_buffer_size()
            step = min(STREAM_STALL_S - stalled, STREAM_CHECK_S)
            try:
                async with asyncio.timeout(step):
                    await self.drain()
            except TimeoutError:
                stalled = stalled + step if self.transport.get_write_buffer_size() >= size else 0.0
        return not self.paused and not self.transport.is_closing() and self.server.is_serving()


def _decided(response: Response | None, error: Exception | None, *_: object) -> Response | None:
    """``process_request``'s outcome, given again to websockets' handshake."""
    if error is not None:
        raise error
    return response


class OCPPClientConnection(_DirectMessages, ClientConnection):
    """A client-side connection whose messages go straight to an OCPP peer."""


class WebSocketTransport:
    """Moves text frames between a websockets connection and a peer."""

    __slots__ = ("connection", "peer", "reader", "send_now")

    def __init__(self, connection: _DirectMessages) -> None:
        self.connection = connection
        self.peer: RPCPeer | None = None
        self.reader: asyncio.Task[None] | None = None
        self.send_now: Callable[[str], None] = connection.write_reply
        """Send one text frame without waiting (the peer's replies): the connection's
        own method, one call less per reply."""

    async def send(self, text: str) -> None:
        await self.connection.drain()  # first: a call never piles onto a full buffer
        self.connection.write_text(text)

    async def close(self, code: int, reason: str, *, force: bool = False) -> None:
        if not force:
            try:  # websockets' close() may wait on a full buffer first, without a bound
                await asyncio.wait_for(self.connection.close(code, reason), CLOSE_TIMEOUT_S)
            except TimeoutError:
                force = True
        if force:
            self.connection.transport.abort()
        if self.reader is not None and self.reader is not asyncio.current_task():
            await asyncio.wait([self.reader], timeout=CLOSE_TIMEOUT_S)

    def start(self, peer: RPCPeer) -> None:
        self.reader = asyncio.ensure_future(self.run(peer))

    async def run(self, peer: RPCPeer) -> None:
        """Deliver messages to ``peer`` until the connection closes."""
        self.deliver_to(peer)
        try:
            await self.connection.lost()
        finally:
            self.report_lost()

    def deliver_to(self, peer: RPCPeer) -> None:
        """Send every message received, from now on, to ``peer``."""
        self.peer = peer
        self.connection.set_sink(self._deliver)

    def _deliver(self, message: str | bytes) -> None:
        self.peer.receive(message, self)  # type: ignore[union-attr, arg-type]  # bytes: bad message

    def report_lost(self) -> None:
        """Tell the peer the connection is gone (once it is)."""
        if self.peer is not None:
            self.peer.connection_lost(*self.close_info(), self)

    def close_info(self) -> tuple[int, str]:
        """The close frame received; else the one we sent (a dead peer: 1011
        "keepalive ping timeout"); else 1006, closed without any."""
        protocol = self.connection.protocol
        frame = protocol.close_rcvd or protocol.close_sent
        if frame is None:
            return 1006, ""
        return int(frame.code), frame.reason

    @property
    def buffered_amount(self) -> int:
        transport = self.connection.transport
        return transport.get_write_buffer_size() if transport is not None else 0
