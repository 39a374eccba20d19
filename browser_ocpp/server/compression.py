"""WebSocket permessage-deflate (RFC 7692) as the ``compression`` option configures it.

``compression=True`` means :class:`CompressionOptions` with its defaults (the
reference's: threshold 1024 bytes, level 6, memory level 8, no context takeover
either way); a dict or a :class:`CompressionOptions` sets fields. websockets does the
negotiation and the deflating; :class:`ThresholdDeflate` adds the threshold: a
message smaller than it is sent as it is, with RSV1 unset, which RFC 7692 allows in
a compressed session (section 6: "an endpoint MAY decide not to compress").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter

__all__ = [
    "ClientCompressionFactory",
    "CompressionOptions",
    "ServerCompressionFactory",
    "ThresholdDeflate",
    "client_extensions",
    "server_extensions",
]


def _int(name: str, value: object, low: int, high: int | None, extra: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"compression {name} must be an integer, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"{low} or more" if high is None else f"from {low} to {high}"
        raise ValueError(f"compression {name} must be {bounds}{extra}, not {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressionOptions:
    """How messages are compressed (the reference's ``CompressionOptions``).

    ``threshold``: messages (UTF-8 bytes) smaller than this are sent uncompressed.
    ``level``: zlib level, 1 fastest to 9 smallest (0 stores, -1 is zlib's default 6).
    ``mem_level``: zlib memory level, 1 to 9 (more memory, a little better and faster).
    ``server_no_context_takeover`` / ``client_no_context_takeover``: that side starts
    each message with an empty dictionary, so it keeps no deflate state between
    messages (less memory per connection, less compression for small messages).
    Both sides' ``*_no_context_takeover`` are negotiated: either end asking is enough.
    """

    threshold: int = 1024
    level: int = 6
    mem_level: int = 8
    server_no_context_takeover: bool = True
    client_no_context_takeover: bool = True

    def __post_init__(self) -> None:
        _int("threshold", self.threshold, 0, None)
        _int("level", self.level, -1, 9, " (or -1 for zlib's default)")
        _int("mem_level", self.mem_level, 1, 9)
        for name in ("server_no_context_takeover", "client_no_context_takeover"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"compression {name} must be a bool, not {getattr(self, name)!r}")

    @classmethod
    def coerce(cls, value: object) -> CompressionOptions | None:
        """Accept options, a dict of their fields, or a bool; ``None`` means off."""
        if isinstance(value, CompressionOptions):
            return value
        if value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, Mapping):
            fields = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(str(key) for key in value if key not in fields)
            if unknown:
                raise TypeError(
                    f"unknown compression option(s): {', '.join(unknown)} "
                    f"(known: {', '.join(sorted(fields))})"
                )
            return cls(**value)
        raise TypeError(f"compression must be a bool, a dict or CompressionOptions, not {value!r}")

    @property
    def compress_settings(self) -> dict[str, int]:
        """Keyword arguments for ``zlib.compressobj`` (as websockets passes them)."""
        return {"level": self.level, "memLevel": self.mem_level}


class ThresholdDeflate(PerMessageDeflate):
    """permessage-deflate that sends messages below ``threshold`` bytes uncompressed.

    Only whole messages in one frame are measured; the first frame of a fragmented
    message cannot tell the message's size, so fragmented messages are compressed.
    Skipping a message leaves the deflate context untouched, and the receiver skips
    it too (RSV1 unset), so both contexts stay in step with context takeover.
    """

    def __init__(self, negotiated: PerMessageDeflate, threshold: int) -> None:
        super().__init__(
            negotiated.remote_no_context_takeover,
            negotiated.local_no_context_takeover,
            negotiated.remote_max_window_bits,
            negotiated.local_max_window_bits,
            negotiated.compress_settings,
        )
        self.threshold = threshold

    def encode(self, frame: Frame) -> Frame:
        if (
            frame.fin
            and len(frame.data) < self.threshold
            and (frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY)
        ):
            return frame
        return super().encode(frame)

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, threshold={self.threshold})"


class ServerCompressionFactory(ServerPerMessageDeflateFactory):
    """The server's side of the negotiation, from :class:`CompressionOptions`.

    Window sizes are left to the client (15 bits, deflate's maximum, unless it asks
    for less), as the reference does.
    """

    def __init__(self, options: CompressionOptions) -> None:
        super().__init__(
            server_no_context_takeover=options.server_no_context_takeover,
            client_no_context_takeover=options.client_no_context_takeover,
            compress_settings=options.compress_settings,
        )
        self.threshold = options.threshold

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, extension = super().process_request_params(params, accepted_extensions)
        return response, ThresholdDeflate(extension, self.threshold)


class ClientCompressionFactory(ClientPerMessageDeflateFactory):
    """The client's offer, from :class:`CompressionOptions`.

    ``server_no_context_takeover`` asks the server not to keep context (a server
    that accepts must agree, RFC 7692 section 7.1.1.1); ``client_no_context_takeover``
    says this client will not. The offer lets the server pick the window sizes.
    """

    def __init__(self, options: CompressionOptions) -> None:
        super().__init__(
            server_no_context_takeover=options.server_no_context_takeover,
            client_no_context_takeover=options.client_no_context_takeover,
            client_max_window_bits=True,
            compress_settings=options.compress_settings,
        )
        self.threshold = options.threshold

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> PerMessageDeflate:
        extension = super().process_response_params(params, accepted_extensions)
        return ThresholdDeflate(extension, self.threshold)


def server_extensions(options: CompressionOptions | None) -> list[ServerCompressionFactory] | None:
    """The ``extensions`` argument of websockets' ``serve`` (None: no compression)."""
    return None if options is None else [ServerCompressionFactory(options)]


def client_extensions(options: CompressionOptions | None) -> list[ClientCompressionFactory] | None:
    """The ``extensions`` argument of websockets' ``connect`` (None: no compression)."""
    return None if options is None else [ClientCompressionFactory(options)]
