"""The URL a station connects to: endpoint + percent-encoded identity + query."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = ["station_url"]


def station_url(endpoint: str, identity: str, query: Mapping[str, str] | None = None) -> str:
    """``endpoint`` with ``identity`` appended as the last path segment, and ``query``
    merged into any query the endpoint already has (``query`` wins on a clash)."""
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/") + "/" + quote(identity, safe="")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if query:
        pairs = [(key, value) for key, value in pairs if key not in query]
        pairs += [(str(key), str(value)) for key, value in query.items()]
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(pairs), parts.fragment))
