"""Request bodies for the server's POST routes.

websockets reads the HTTP request of every connection and refuses one with a body (a
``Content-Length`` other than 0 ends the connection without an answer).  A route that
takes an upload needs its body, so :func:`read_bodies` gives a server connection's
protocol a parser that, for a ``POST``, reads the request line and headers as
websockets does (same line and header limits) and then the body, bounded by what the
path takes (``limit_for(path)``: its largest body in bytes; None: no POST there):

* a POST to a path that takes none: 405 Method Not Allowed;
* no ``Content-Length`` (or ``Transfer-Encoding``: chunked bodies are not read): 411
  Length Required;
* a malformed ``Content-Length``: 400 Bad Request;
* more than the path takes: 413 Content Too Large;
* more than is left of the server's :class:`BodyBudget` (the bytes of bodies all its
  connections hold at once): 503 Service Unavailable, ``Retry-After: 1``.

Refused bodies are never read (whatever arrives is discarded).  Every other request
goes to websockets' own parser, untouched.
"""

from __future__ import annotations

import dataclasses
import http
import re
from collections.abc import Callable, Generator
from urllib.parse import urlsplit

from websockets.exceptions import (
    HeaderLineTooLong,
    InvalidMessage,
    RequestLineTooLong,
    TooManyHeaders,
)
from websockets.http11 import Request, parse_headers, parse_line
from websockets.protocol import CLOSED
from websockets.server import ServerProtocol

__all__ = ["BodyBudget", "BodyLimit", "BodyRequest", "read_bodies"]

BodyLimit = Callable[[str], int | None]
"""The largest body a POST to a path (without query) may carry; None: no POST there."""

_POST = b"POST "
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclasses.dataclass
class BodyRequest(Request):
    """A POST request and its body, or why the body was refused (status, message)."""

    body: bytes = b""
    refusal: tuple[int, str] | None = None


class BodyBudget:
    """The bytes of POST bodies a server's connections may hold at once: each body's
    ``Content-Length`` is taken from its head on and given back once it is answered
    or its connection is gone (so a thousand slow uploads cannot hold a GiB)."""

    __slots__ = ("_held", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._held: dict[ServerProtocol, int] = {}

    def take(self, protocol: ServerProtocol, size: int) -> bool:
        """Whether ``protocol`` may hold a body of ``size`` bytes (then it is counted)."""
        if self.total + size > self.limit:
            return False
        self._held[protocol] = self._held.get(protocol, 0) + size
        self.total += size
        return True

    def release(self, protocol: ServerProtocol) -> None:
        """``protocol``'s body was answered, or its connection is gone."""
        self.total -= self._held.pop(protocol, 0)


def read_bodies(protocol: ServerProtocol, limit_for: BodyLimit, budget: BodyBudget) -> None:
    """Make ``protocol`` (before it received anything) read POST bodies, holding at
    most what ``budget`` leaves."""
    protocol.parser = _parse(protocol, limit_for, budget)
    next(protocol.parser)


def _parse(protocol: ServerProtocol, limit_for: BodyLimit, budget: BodyBudget) -> Generator[None]:
    reader = protocol.reader
    while len(reader.buffer) < len(_POST) and not reader.eof:
        yield
    if not reader.buffer.startswith(_POST):
        yield from ServerProtocol.parse(protocol)  # websockets' own parser
        return
    try:
        request = yield from _read(protocol, limit_for, budget)
    except RequestLineTooLong as exc:
        _reject(protocol, exc, http.HTTPStatus.REQUEST_URI_TOO_LONG)
    except (HeaderLineTooLong, TooManyHeaders) as exc:
        _reject(protocol, exc, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    except Exception as exc:  # as websockets: no answer to what is not HTTP
        protocol.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
        protocol.handshake_exc.__cause__ = exc
        protocol.send_eof()
    else:
        protocol.events.append(request)
    # One request per connection and no upgrade after a POST: discard the rest.
    while not (yield from reader.at_eof()):
        reader.discard()
    protocol.state = CLOSED  # as websockets' discard(): its connection_lost asserts it
    yield


def _reject(protocol: ServerProtocol, exc: Exception, status: http.HTTPStatus) -> None:
    protocol.handshake_exc = exc
    protocol.send_response(protocol.reject(status, f"{exc}.\n"))


def _read(
    protocol: ServerProtocol, limit_for: BodyLimit, budget: BodyBudget
) -> Generator[None, None, BodyRequest]:
    reader = protocol.reader
    line = yield from parse_line(reader.read_line, RequestLineTooLong)
    try:
        raw_method, raw_path, raw_protocol = line.split(b" ", 2)
    except ValueError:
        raise ValueError(f"invalid HTTP request line: {line!r}") from None
    if raw_protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ValueError(f"unsupported protocol: {raw_protocol!r}")
    path = raw_path.decode("ascii")
    headers = yield from parse_headers(reader.read_line)
    request = BodyRequest(path, headers, raw_method.decode("ascii"), raw_protocol.decode("ascii"))
    limit = limit_for(urlsplit(path).path.rstrip("/") or "/")
    lengths = set(headers.get_all("Content-Length"))
    if limit is None:
        request.refusal = (405, f"{request.path} takes no POST")
    elif "Transfer-Encoding" in headers or not lengths:
        request.refusal = (411, "a POST needs a Content-Length (chunked bodies are not read)")
    elif len(lengths) > 1 or not _DIGITS.fullmatch(next(iter(lengths))):
        request.refusal = (400, f"malformed Content-Length: {', '.join(sorted(lengths))}")
    elif (length := int(next(iter(lengths)))) > limit:
        request.refusal = (413, f"the body may have {limit} bytes at most")
    elif not budget.take(protocol, length):
        request.refusal = (503, "the server holds too many request bodies now; retry later")
    else:
        request.body = bytes((yield from reader.read_exact(length)))
    return request
