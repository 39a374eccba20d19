"""Static files on the server's port: pages and the runtime share the CSMS's origin."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ..peer.conftest import wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory


async def http_get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"GET {path} HTTP/1.1\r\n{extra}\r\n".encode())
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
