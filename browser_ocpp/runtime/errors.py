"""The one error of the runtime builder."""

from __future__ import annotations

__all__ = ["RuntimeBuildError"]


class RuntimeBuildError(Exception):
    """The runtime cannot be built as pinned: a tool is missing, the network cannot be
    reached, a checksum or a wheel's metadata is wrong. The message says what to do."""
