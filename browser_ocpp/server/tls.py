"""TLS contexts for security profiles 2 and 3, from PEM data or file paths."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

__all__ = ["TLSOptions", "client_context", "load_chain", "server_context"]

TLSOptions = Mapping[str, Any]
"""``cert``, ``key``, ``ca`` (PEM text/bytes or a file path), ``password``, and for
clients ``server_hostname`` / ``check_hostname``."""

_KNOWN = {"cert", "key", "ca", "password", "server_hostname", "check_hostname"}


def _check(options: TLSOptions) -> None:
    unknown = set(options) - _KNOWN
    if unknown:
        raise TypeError(f"unknown tls option(s): {', '.join(sorted(unknown))}")


def _is_pem(value: str | bytes) -> bool:
    if isinstance(value, bytes):
        return b"-----BEGIN" in value
    return "-----BEGIN" in value


def _pem_text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def load_chain(
    context: ssl.SSLContext, cert: str | bytes, key: str | bytes | None, password: Any = None
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
        context.load_cert_chain(resolved[0], resolved[1], password)
    finally:
        for path in paths:
            os.unlink(path)


def _load_ca(context: ssl.SSLContext, ca: str | bytes) -> None:
    if _is_pem(ca):
        context.load_verify_locations(cadata=_pem_text(ca))
    else:
        context.load_verify_locations(cafile=os.fsdecode(ca))


def server_context(options: TLSOptions, *, client_certificates: bool) -> ssl.SSLContext:
    """The server's context; ``client_certificates`` (profile 3) requires and
    verifies a client certificate against ``ca``."""
    _check(options)
    if "cert" not in options or "key" not in options:
        raise ValueError("TLS profiles need tls={'cert': ..., 'key': ...}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_chain(context, options["cert"], options["key"], options.get("password"))
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
        load_chain(context, options["cert"], options.get("key"), options.get("password"))
    if options.get("check_hostname") is False:
        context.check_hostname = False
    return context
