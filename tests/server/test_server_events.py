"""OCPPServer events: ``on``/``once`` with a listener and as decorators."""

from __future__ import annotations

from browser_ocpp import OCPPServerClient

from ..peer.conftest import collect, wait
from .conftest import ClientFactory, ServerFactory


async def test_server_on_and_once_both_forms(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(setup=False)
    seen: list[str] = []
    first: list[str] = []
    plain = server.on("client", lambda client: seen.append(f"plain {client.identity}"))

    @server.on("client")
    def on_client(client: OCPPServerClient) -> None:
        seen.append(f"decorated {client.identity}")

    @server.once("client")
    def on_first(client: OCPPServerClient) -> None:
        first.append(str(client.identity))

    assert on_client.__name__ == "on_client" and on_first.__name__ == "on_first"
    assert callable(plain) and server.listener_count("client") == 3
    connected = collect(server, "client")
    for identity in ("CP-1", "CP-2"):
        await wait(make_client(server, identity=identity).connect())
    await connected.wait_len(2)
    assert seen == ["plain CP-1", "decorated CP-1", "plain CP-2", "decorated CP-2"]
    assert first == ["CP-1"]
