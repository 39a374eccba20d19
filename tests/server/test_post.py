"""POST routes: the body reaches the handler, bounded (411 without a length, 413 beyond
the route's limit, 405 elsewhere); GET routes, files and stations on the same port
go on as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.datastructures import Headers

from browser_ocpp import OCPPServer

from ..peer.conftest import wait
from .conftest import BOOT16, ClientFactory, ServerFactory

Received = list[tuple[str, Headers, bytes]]


async def request(port: int, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (request line and headers, without the blank line) and ``body``;
    the status, headers and body of the answer.  The server closes after answering."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{head}\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() + body)
    raw = await wait(reader.read())
    writer.close()
    await writer.wait_closed()
    head_text, _, answer = raw.partition(b"\r\n\r\n")
    status_line, *lines = head_text.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, answer


async def uploads_server(
    make_server: ServerFactory, limit: int = 100, **options: Any
) -> tuple[OCPPServer, Received]:
    server = await make_server(**options)
    received: Received = []

    def upload(path: str, headers: Headers, body: bytes) -> tuple[int, str, bytes]:
        received.append((path, headers, body))
        return 201, "text/plain", f"got {len(body)} bytes\n".encode()

    server.post_route("/uploads", upload, max_body_bytes=limit)
    server.route("/status", lambda path, headers: (200, "text/plain", b"up\n"))
    return server, received


async def test_the_body_reaches_the_handler(make_server: ServerFactory) -> None:
    server, received = await uploads_server(make_server)
    body = b"line 1\r\nline 2\r\n\x00\xff" + b"x" * 80  # any bytes, up to the limit
    head = f"POST /uploads?name=a.log HTTP/1.1\r\nContent-Length: {len(body)}"
    status, headers, answer = await request(server.port, head, body)
    assert (status, answer) == (201, f"got {len(body)} bytes\n".encode())
    assert headers["cache-control"] == "no-store"
    [(path, seen, got)] = received
    assert (path, got, seen["Content-Length"]) == ("/uploads?name=a.log", body, str(len(body)))
    empty = await request(server.port, "POST /uploads/ HTTP/1.1\r\nContent-Length: 0")
    assert empty[0] == 201 and received[-1][2] == b""


@pytest.mark.parametrize(
    ("head", "status", "message"),
    [
        ("POST /uploads HTTP/1.1", 411, "needs a Content-Length"),
        ("POST /uploads HTTP/1.1\r\nTransfer-Encoding: chunked", 411, "chunked"),
        ("POST /uploads HTTP/1.1\r\nContent-Length: 101", 413, "100 bytes at most"),
        ("POST /uploads HTTP/1.1\r\nContent-Length: 99999999999999999999", 400, "malformed"),
        ("POST /uploads HTTP/1.1\r\nContent-Length: -1", 400, "malformed"),
        ("POST /uploads HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2", 400, "malformed"),
        ("POST /status HTTP/1.1\r\nContent-Length: 2", 405, "takes no POST"),
        ("POST /elsewhere HTTP/1.1\r\nContent-Length: 2", 405, "takes no POST"),
        ("GET /uploads HTTP/1.1", 405, "takes POST only"),
    ],
)
async def test_bodies_that_cannot_be_taken_are_refused_unread(
    make_server: ServerFactory, head: str, status: int, message: str
) -> None:
    server, received = await uploads_server(make_server)
    body = b"ab" * 200 if head.startswith("POST") else b""  # a body: never read
    got, headers, answer = await request(server.port, head, body)
    assert got == status and message in answer.decode()
    assert received == []
    if status == 405:
        assert headers["allow"] == ("POST" if head.startswith("GET") else "GET, HEAD")


async def test_a_body_cut_short_gets_no_answer_and_reaches_no_handler(
    make_server: ServerFactory,
) -> None:
    server, received = await uploads_server(make_server)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nonly this")
    writer.write_eof()
    assert await wait(reader.read()) == b""  # closed without an answer
    writer.close()
    await writer.wait_closed()
    assert received == []


async def test_a_line_too_long_is_refused_as_websockets_refuses_it(
    make_server: ServerFactory,
) -> None:
    server, received = await uploads_server(make_server)
    status, _, _ = await request(server.port, f"POST /{'a' * 9000} HTTP/1.1\r\nContent-Length: 1")
    assert status == 414
    many = "\r\n".join(f"X-{n}: {n}" for n in range(200))
    status, _, _ = await request(server.port, f"POST /uploads HTTP/1.1\r\n{many}")
    assert status == 431
    assert received == []


async def test_gets_and_stations_work_beside_post_routes(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server, _ = await uploads_server(make_server)
    assert (await request(server.port, "GET /status HTTP/1.1"))[::2] == (200, b"up\n")
    client = make_client(server)
    await client.connect()
    assert (await client.call("BootNotification", BOOT16))["status"] == "Accepted"


async def test_an_async_handler_and_one_that_raises(make_server: ServerFactory) -> None:
    server = await make_server()

    async def echo(path: str, headers: Headers, body: bytes) -> tuple[int, str, bytes]:
        await asyncio.sleep(0)
        return 200, "application/octet-stream", body[::-1]

    def broken(path: str, headers: Headers, body: bytes) -> tuple[int, str, bytes]:
        raise RuntimeError("boom")

    server.post_route("echo", echo)
    server.post_route("broken", broken)
    assert (await request(server.port, "POST /echo HTTP/1.1\r\nContent-Length: 3", b"abc"))[
        ::2
    ] == (200, b"cba")
    status, _, _ = await request(server.port, "POST /broken HTTP/1.1\r\nContent-Length: 1", b"x")
    assert status == 500


def test_a_bad_limit_is_refused() -> None:
    server = OCPPServer()
    with pytest.raises(TypeError, match="max_body_bytes must be an int"):
        server.post_route("/x", lambda p, h, b: (200, "text/plain", b""), max_body_bytes=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0 or more"):
        server.post_route("/x", lambda p, h, b: (200, "text/plain", b""), max_body_bytes=-1)


async def test_bodies_held_at_once_are_bounded_over_all_connections(
    make_server: ServerFactory,
) -> None:
    """Each body is bounded by its route; together, by ``max_post_bytes``: a body that
    would pass it is refused (503, unread) until those held are answered or gone."""
    server, received = await uploads_server(make_server, max_post_bytes=150)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nslow")
    await writer.drain()
    head = "POST /uploads HTTP/1.1\r\nContent-Length: 60"
    for _ in range(2):  # the first may race the slow one's head; the second cannot
        status, headers, answer = await request(server.port, head, b"x" * 60)
    assert (status, headers["retry-after"]) == (503, "1")
    assert b"bodies" in answer
    assert (await request(server.port, "POST /uploads HTTP/1.1\r\nContent-Length: 50", b"y" * 50))[
        0
    ] == 201  # what is left of the budget is still taken
    writer.write(b"z" * 96)  # the slow body completes and is answered: its bytes are free
    assert (await wait(reader.read())).startswith(b"HTTP/1.1 201")
    writer.close()
    await writer.wait_closed()
    assert (await request(server.port, head, b"x" * 60))[0] == 201
    assert [len(body) for _, _, body in received][-3:] == [50, 100, 60]  # a first 60: raced


async def test_a_body_given_up_frees_its_share(make_server: ServerFactory) -> None:
    """The connection of a body cut short ends cleanly (websockets' connection_lost
    once raised on it, an error logged per request) and gives its share back."""
    failures: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: failures.append(context))
    server, received = await uploads_server(make_server, max_post_bytes=100)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nslow")
    writer.write_eof()  # gone before the body is whole: no answer
    assert await wait(reader.read()) == b""
    writer.close()
    await writer.wait_closed()
    head = "POST /uploads HTTP/1.1\r\nContent-Length: 100"
    assert (await request(server.port, head, b"x" * 100))[0] == 201
    assert failures == []
    assert [len(body) for _, _, body in received] == [100]
