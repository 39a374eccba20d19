"""The OCPP-J handshake: identity from the path, Basic credentials, the auth context."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "MAX_IDENTITY_LENGTH",
    "AuthContext",
    "Handshake",
    "basic_credentials",
    "identity_from_path",
]

MAX_IDENTITY_LENGTH = 48
"""OCPP's identifierString for a charging station identity is at most 48 characters."""


def identity_from_path(path: str) -> str:
    """The station identity: the last path segment, percent-decoded.

    Raises ValueError (with the reason) when it is empty, longer than 48 characters,
    or holds a colon (which Basic auth could not carry).
    """
    raw = urlsplit(path).path.rsplit("/", 1)[-1]
    identity = unquote(raw, errors="strict")
    if not identity:
        raise ValueError("the URL path has no charging station identity")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in identity):
        raise ValueError("identity must not contain control characters")
    if len(identity) > MAX_IDENTITY_LENGTH:
        raise ValueError(f"identity longer than {MAX_IDENTITY_LENGTH} characters")
    if ":" in identity:
        raise ValueError("identity must not contain ':'")
    return identity


def basic_credentials(header: str | None) -> tuple[str, bytes] | None:
    """``(username, password)`` from an ``Authorization: Basic`` header, else None.

    Only the first colon separates them, so passwords may contain colons.
    """
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return username.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the station sent when it connected."""

    identity: str
    pathname: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    protocols: Sequence[str]
    remote_address: Any
    password: bytes | None = None
    client_certificate: Mapping[str, Any] | None = None
    security_profile: int = 0
    """The server's security profile (0 to 3), the reference's ``securityProfile``."""

    @classmethod
    def parse(
        cls,
        path: str,
        headers: Mapping[str, str],
        protocols: Sequence[str],
        remote_address: Any,
        client_certificate: Mapping[str, Any] | None = None,
        *,
        security_profile: int = 0,
    ) -> Handshake:
        """Parse a request; raises ValueError for a bad identity."""
        parts = urlsplit(path)
        identity = identity_from_path(parts.path)
        credentials = basic_credentials(headers.get("Authorization"))
        password = None
        if credentials is not None and credentials[0] == identity:
            password = credentials[1]
        return cls(
            identity=identity,
            pathname=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,  # websockets Headers: case-insensitive, not copied
            protocols=tuple(protocols),
            remote_address=remote_address,
            password=password,
            client_certificate=client_certificate,
            security_profile=security_profile,
        )


@dataclass(slots=True)
class AuthContext:
    """Handed to ``server.auth`` handlers: decide with :meth:`accept` or :meth:`reject`."""

    handshake: Handshake
    decided: bool = False
    accepted: bool = False
    session: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None
    status: int = 401
    message: str = ""

    @property
    def identity(self) -> str:
        return self.handshake.identity

    def password_matches(self, expected: str | bytes) -> bool:
        """Compare the Basic auth password with ``expected`` in constant time."""
        given = self.handshake.password
        if given is None:
            return False
        want = expected.encode("utf-8") if isinstance(expected, str) else expected
        return hmac.compare_digest(given, want)

    def accept(self, session: Mapping[str, Any] | None = None, protocol: str | None = None) -> None:
        """Let the station in, with ``session`` data and optionally a chosen protocol."""
        if self.decided:
            raise RuntimeError("this connection was already accepted or rejected")
        if protocol is not None and protocol not in self.handshake.protocols:
            raise ValueError(f"protocol {protocol!r} was not offered by the station")
        self.decided = self.accepted = True
        self.session = dict(session or {})
        self.protocol = protocol

    def reject(self, status: int = 401, message: str = "") -> None:
        """Refuse the connection with an HTTP ``status``."""
        if self.decided:
            raise RuntimeError("this connection was already accepted or rejected")
        if not 400 <= status <= 599:
            raise ValueError(f"reject needs an HTTP error status (4xx/5xx), not {status}")
        self.decided = True
        self.status = status
        self.message = message
