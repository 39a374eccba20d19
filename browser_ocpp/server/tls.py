"""TLS contexts for security profiles 2 and 3, from PEM data or file paths."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "TLSOptions",
    "client_context",
    "key_passphrase",
    "load_chain",
    "server_context",
    "switch_context",
]

TLSOptions = Mapping[str, Any]
"""The reference's TLSOptions: ``cert``, ``key``, ``ca`` (each PEM text/bytes or a
file path; ``ca`` may also be a list of them), ``passphrase`` for an encrypted key
(``password`` is an alias), and for clients ``server_hostname`` (the name the
server's certificate must carry, when it is not the endpoint's host) and
``check_hostname``."""

_KNOWN = {"cert", "key", "ca", "passphrase", "password", "server_hostname", "check_hostname"}


def _check(options: TLSOptions) -> None:
    unknown = set(options) - _KNOWN
    if unknown:
        raise TypeError(f"unknown tls option(s): {', '.join(sorted(unknown))}")
    key_passphrase(options)


def key_passphrase(options: TLSOptions) -> Any:
    """The key's passphrase: ``passphrase``, or its alias ``password``."""
    given = options.get("passphrase")
    alias = options.get("password")
    if given is not None and alias is not None and given != alias:
        raise ValueError("tls has both passphrase and password (an alias): give one")
    return given if given is not None else alias


def _is_pem(value: str | bytes) -> bool:
    if isinstance(value, bytes):
        return b"-----BEGIN" in value
    return "-----BEGIN" in value


def _pem_text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def load_chain(
    context: ssl.SSLContext, cert: str | bytes, key: str | bytes | None, passphrase: Any = None
) -> None:
    """Load a certificate chain and key, given as PEM data or as file paths."""
    paths: list[str] = []
    try:
        resolved: list[str | None] = []
        for value in (cert, key):
            if value is None:
                resolved.append(None)
            elif _is_pem(value):
                handle, path = tempfile.mkstemp(suffix=".pem")
                with os.fdopen(handle, "w") as file:
                    file.write(_pem_text(value))
                paths.append(path)
                resolved.append(path)
            else:
                resolved.append(os.fsdecode(value))
        assert resolved[0] is not None
        context.load_cert_chain(resolved[0], resolved[1], passphrase)
    finally:
        for path in paths:
            os.unlink(path)


def _load_ca(context: ssl.SSLContext, ca: str | bytes | Sequence[str | bytes]) -> None:
    """Trust ``ca``: PEM data or a file path, or a list of them."""
    for item in (ca,) if isinstance(ca, str | bytes) else ca:
        if _is_pem(item):
            context.load_verify_locations(cadata=_pem_text(item))
        else:
            context.load_verify_locations(cafile=os.fsdecode(item))


def server_context(options: TLSOptions, *, client_certificates: bool) -> ssl.SSLContext:
    """The server's context; ``client_certificates`` (profile 3) requires and
    verifies a client certificate against ``ca``."""
    _check(options)
    if "cert" not in options or "key" not in options:
        raise ValueError("TLS profiles need tls={'cert': ..., 'key': ...}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_chain(context, options["cert"], options["key"], key_passphrase(options))
    if client_certificates:
        if "ca" not in options:
            raise ValueError("security profile 3 needs tls={'ca': ...} to verify stations")
        context.verify_mode = ssl.CERT_REQUIRED
        _load_ca(context, options["ca"])
    return context


def client_context(options: TLSOptions) -> ssl.SSLContext:
    """The station's context: trusts ``ca`` (else the system store) and presents
    ``cert``/``key`` when given (profile 3)."""
    _check(options)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if "ca" in options:
        _load_ca(context, options["ca"])
    if "cert" in options:
        load_chain(context, options["cert"], options.get("key"), key_passphrase(options))
    if options.get("check_hostname") is False:
        context.check_hostname = False
    return context


def switch_context(listening: ssl.SSLContext, fresh: ssl.SSLContext) -> None:
    """Make new handshakes on ``listening`` use ``fresh`` (certificate, key and the
    CAs that verify clients); connections already open keep theirs.

    The server's listening socket keeps the context it was created with, so the
    switch happens per handshake, in the callback OpenSSL calls after the
    ClientHello (with or without SNI)."""

    def use_fresh(socket: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        socket.context = fresh

    listening.sni_callback = use_fresh
