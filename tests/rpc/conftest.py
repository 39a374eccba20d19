"""Fixtures of the sans-I/O core's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from browser_ocpp.rpc import codec


@pytest.fixture(params=["json", "orjson"], scope="module")
def json_codec(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test of a module using it runs with each JSON codec in turn (module
    scope: hypothesis tests may use it), then the default comes back."""
    previous = codec.name or None
    chosen = codec.use(request.param)
    yield chosen
    codec.use(previous)
