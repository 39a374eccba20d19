"""Static files on the server's port: pages and the runtime share the CSMS's origin."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import tracemalloc
from pathlib import Path

import pytest
from websockets.http11 import Request

from browser_ocpp.server import transport

from ..peer.conftest import wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory


async def http_get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"{method} {path} HTTP/1.1\r\n{extra}\r\n".encode())
    raw = await wait(reader.read())
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "pyodide").mkdir(parents=True)
    (root / "index.html").write_text("<h1>console</h1>")
    (root / "pyodide" / "pyodide.asm.wasm").write_bytes(b"\0asm")
    (root / "pyodide" / "pyodide.mjs").write_text("export {}")
    (tmp_path / "secret.txt").write_text("no")
    return root


async def test_files_are_served_with_the_right_types(
    make_server: ServerFactory, make_client: ClientFactory, site: Path
) -> None:
    server = await make_server()
    server.mount("/", site)
    status, headers, body = await http_get(server.port, "/")
    assert (status, body) == (200, b"<h1>console</h1>")
    assert headers["content-type"] == "text/html; charset=utf-8"
    status, headers, body = await http_get(server.port, "/pyodide/pyodide.asm.wasm")
    assert (status, headers["content-type"], body) == (200, "application/wasm", b"\0asm")
    status, headers, _ = await http_get(server.port, "/pyodide/pyodide.mjs")
    assert headers["content-type"] == "text/javascript"
    client = make_client(server)  # stations still connect on the same port
    await wait(client.connect())
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK


@pytest.mark.parametrize(
    "path",
    ["/missing.js", "/../secret.txt", "/%2e%2e/secret.txt", "/pyodide/../../secret.txt", "/%00"],
)
async def test_missing_and_outside_paths_are_404(
    make_server: ServerFactory, site: Path, path: str
) -> None:
    server = await make_server()
    server.mount("/", site)
    status, _, body = await http_get(server.port, path)
    assert status == 404 and b"no" not in body


async def test_longest_prefix_wins_and_bad_mounts_are_refused(
    make_server: ServerFactory, site: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyodide.mjs").write_text("// other")
    server = await make_server()
    server.mount("/", site)
    server.mount("/pyodide/", other)
    assert (await http_get(server.port, "/pyodide/pyodide.mjs"))[2] == b"// other"
    with pytest.raises(ValueError, match="not a directory"):
        server.mount("/x", tmp_path / "nope")


async def test_a_mount_adds_its_headers_to_its_files_alone(
    make_server: ServerFactory, site: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "page.html").write_text("<p>other</p>")
    server = await make_server()
    server.mount("/", site, [("Cross-Origin-Opener-Policy", "same-origin")])
    server.mount("/other/", other)
    for path, method in (("/index.html", "GET"), ("/index.html", "HEAD")):
        status, headers, _ = await http_get(server.port, path, method=method)
        assert (status, headers["cross-origin-opener-policy"]) == (200, "same-origin")
    status, headers, body = await http_get(server.port, "/other/page.html")
    assert (status, body) == (200, b"<p>other</p>")
    assert "cross-origin-opener-policy" not in headers
    status, headers, _ = await http_get(server.port, "/missing.html")
    assert status == 404 and "cross-origin-opener-policy" not in headers


METHODS = pytest.mark.skipif(
    "method" not in Request.__dataclass_fields__,
    reason="websockets before 17 refuses any request but GET itself",
)


@METHODS
@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "BREW"])
async def test_only_get_and_head_are_answered(
    make_server: ServerFactory, site: Path, method: str
) -> None:
    server = await make_server()
    server.mount("/", site)
    status, headers, body = await http_get(server.port, "/index.html", method=method)
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert b"console" not in body


@METHODS
async def test_head_gets_the_headers_of_get_without_the_body(
    make_server: ServerFactory, site: Path
) -> None:
    server = await make_server()
    server.mount("/", site)
    status, got, body = await http_get(server.port, "/pyodide/pyodide.asm.wasm")
    assert (status, body) == (200, b"\0asm")
    status, headers, body = await http_get(server.port, "/pyodide/pyodide.asm.wasm", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers == got
    assert headers["content-length"] == "4" and headers["content-type"] == "application/wasm"


RANGES = [
    ("bytes=0-9", 206, "bytes 0-9/100", bytes(range(10))),
    ("bytes=90-", 206, "bytes 90-99/100", bytes(range(90, 100))),
    ("bytes=-5", 206, "bytes 95-99/100", bytes(range(95, 100))),
    ("bytes=95-500", 206, "bytes 95-99/100", bytes(range(95, 100))),
    ("bytes=-500", 206, "bytes 0-99/100", bytes(range(100))),
    ("bytes = 3 - 4", 206, "bytes 3-4/100", bytes([3, 4])),
    ("bytes=100-", 416, "bytes */100", None),
    ("bytes=100-200", 416, "bytes */100", None),
    ("bytes=-0", 416, "bytes */100", None),
    ("bytes=5-2", 200, None, bytes(range(100))),  # not a valid range: ignored
    ("bytes=0-1,5-6", 200, None, bytes(range(100))),  # several ranges: ignored
    ("items=0-1", 200, None, bytes(range(100))),
    ("bytes=x-1", 200, None, bytes(range(100))),
    ("bytes=" + "9" * 5000 + "-", 200, None, bytes(range(100))),  # int() would raise: 500
    ("bytes=0-" + "9" * 19, 200, None, bytes(range(100))),
]


@pytest.mark.parametrize(
    ("header", "status", "content_range", "expected"), RANGES, ids=[case[0] for case in RANGES]
)
async def test_byte_ranges(
    make_server: ServerFactory,
    site: Path,
    header: str,
    status: int,
    content_range: str | None,
    expected: bytes | None,
) -> None:
    (site / "data.bin").write_bytes(bytes(range(100)))
    server = await make_server()
    server.mount("/", site)
    got, headers, body = await http_get(server.port, "/data.bin", {"Range": header})
    assert got == status
    assert headers.get("content-range") == content_range
    if expected is not None:
        assert body == expected
        assert headers["content-length"] == str(len(expected))
        assert headers["accept-ranges"] == "bytes"


async def test_if_range_sends_the_range_only_for_the_same_version(
    make_server: ServerFactory, site: Path
) -> None:
    (site / "data.bin").write_bytes(bytes(range(100)))
    server = await make_server()
    server.mount("/", site)
    _, headers, _ = await http_get(server.port, "/data.bin")
    etag = headers["etag"]
    same = {"Range": "bytes=0-1", "If-Range": etag}
    assert (await http_get(server.port, "/data.bin", same))[2] == bytes([0, 1])
    other = {"Range": "bytes=0-1", "If-Range": '"other"'}
    status, _, body = await http_get(server.port, "/data.bin", other)
    assert (status, body) == (200, bytes(range(100)))


async def test_unchanged_files_are_answered_304(make_server: ServerFactory, site: Path) -> None:
    server = await make_server()
    server.mount("/", site)
    status, headers, _ = await http_get(server.port, "/pyodide/pyodide.mjs")
    etag, modified = headers["etag"], headers["last-modified"]
    for conditions in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"x", W/{etag}'},
        {"If-Modified-Since": modified},
    ):
        status, again, body = await http_get(server.port, "/pyodide/pyodide.mjs", conditions)
        assert (status, body, again["etag"]) == (304, b"", etag)
    status, _, body = await http_get(server.port, "/pyodide/pyodide.mjs", {"If-None-Match": '"x"'})
    assert (status, body) == (200, b"export {}")
    module = site / "pyodide" / "pyodide.mjs"
    module.write_text("export {};")
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    status, headers, body = await http_get(
        server.port, "/pyodide/pyodide.mjs", {"If-None-Match": etag}
    )
    assert (status, body) == (200, b"export {};")
    assert headers["etag"] != etag


@pytest.mark.parametrize(
    "path",
    ["/.env", "/%2eenv", "/.git/config", "/pyodide/.cache/x.js", "/pyodide/.hidden", "/link.js"],
)
async def test_dotfiles_and_dot_folders_are_not_served(
    make_server: ServerFactory, site: Path, path: str
) -> None:
    (site / ".env").write_text("SECRET=1")
    (site / ".git").mkdir()
    (site / ".git" / "config").write_text("SECRET=2")
    (site / "pyodide" / ".cache").mkdir()
    (site / "pyodide" / ".cache" / "x.js").write_text("SECRET=3")
    (site / "pyodide" / ".hidden").write_text("SECRET=4")
    (site / "link.js").symlink_to(site / ".env")
    server = await make_server()
    server.mount("/", site)
    status, _, body = await http_get(server.port, path)
    assert status == 404 and b"SECRET" not in body


async def read_slowly(port: int, path: str, pause: float) -> bytes:
    """GET ``path`` through a small receive buffer, reading 64 KiB every ``pause``
    seconds; returns the body."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    sock.setblocking(False)
    try:
        await wait(loop.sock_connect(sock, ("127.0.0.1", port)))
        await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = bytearray()
        while chunk := await wait(loop.sock_recv(sock, 65_536)):
            received += chunk
            await asyncio.sleep(pause)
    finally:
        sock.close()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    return body


async def test_a_slow_reader_gets_a_large_file_past_the_handshake_timeout(
    make_server: ServerFactory, site: Path
) -> None:
    """The handshake timeout covers receiving the request, not sending the file."""
    data = os.urandom(12 * 1024 * 1024)  # more than the kernel buffers hold
    (site / "big.bin").write_bytes(data)
    server = await make_server(handshake_timeout_ms=300)
    server.mount("/", site)
    started = time.monotonic()
    body = await wait(read_slowly(server.port, "/big.bin", 0.002), 60)
    assert time.monotonic() - started > 0.6
    assert len(body) == len(data) and body == data


async def test_slow_readers_of_a_large_file_hold_little_memory(
    make_server: ServerFactory, site: Path
) -> None:
    """Files are streamed a chunk at a time as the socket takes them: many readers
    that read nothing cost a few chunks each, not the file."""
    data = os.urandom(4 * 1024 * 1024)
    (site / "big.bin").write_bytes(data)
    server = await make_server()
    server.mount("/", site)
    readers = 8
    loop = asyncio.get_running_loop()
    socks = []
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(readers):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
            sock.setblocking(False)
            socks.append(sock)
            await wait(loop.sock_connect(sock, ("127.0.0.1", server.port)))
            await loop.sock_sendall(sock, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(1.0)  # every response as far as it goes without reading
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        for sock in socks:
            sock.close()
    assert held < readers * 256 * 1024, f"{held:,} bytes held for {readers} readers"


async def test_a_client_that_reads_nothing_is_dropped_after_the_stall_timeout(
    make_server: ServerFactory, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "STREAM_STALL_S", 0.3)
    data = os.urandom(16 * 1024 * 1024)
    (site / "big.bin").write_bytes(data)
    server = await make_server()
    server.mount("/", site)
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
        sock.setblocking(False)
        await wait(loop.sock_connect(sock, ("127.0.0.1", server.port)))
        await loop.sock_sendall(sock, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(1.5)  # reads nothing
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := await wait(loop.sock_recv(sock, 1 << 20)):
                received += len(chunk)
    assert received < len(data)


async def test_closing_the_server_ends_the_responses_in_progress(
    make_server: ServerFactory, site: Path
) -> None:
    (site / "big.bin").write_bytes(os.urandom(16 * 1024 * 1024))
    server = await make_server()
    server.mount("/", site)
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
        sock.setblocking(False)
        await wait(loop.sock_connect(sock, ("127.0.0.1", server.port)))
        await loop.sock_sendall(sock, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.3)  # the response is under way, and not read
        started = time.monotonic()
        await wait(server.close())
        assert time.monotonic() - started < 3
