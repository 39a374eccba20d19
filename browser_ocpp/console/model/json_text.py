"""Where a JSON path sits in the custom call's editor text (to mark the line of an error)."""

from __future__ import annotations

import contextlib
import json
import re

__all__ = ["error_line", "json_lines"]


class _Locator:
    """A small JSON reader that records the 1-based line of every value's start and
    of every member's key, by JSON path (``$``, ``$.a``, ``$.a[0]``)."""

    WS = " \t\r\n"

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[str, int] = {}

    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in self.WS:
            self.pos += 1

    def value(self, path: str) -> None:
        self.skip()
        self.lines.setdefault(path, self.line())
        char = self.text[self.pos : self.pos + 1]
        if char == "{":
            self.pos += 1
            self.skip()
            if self.text[self.pos : self.pos + 1] == "}":
                self.pos += 1
                return
            while True:
                self.skip()
                key_line = self.line()
                key = self.string()
                self.lines[f"{path}.{key}"] = key_line
                self.skip()
                self.expect(":")
                self.value(f"{path}.{key}")
                self.skip()
                if self.text[self.pos : self.pos + 1] == ",":
                    self.pos += 1
                    continue
                self.expect("}")
                return
        if char == "[":
            self.pos += 1
            self.skip()
            if self.text[self.pos : self.pos + 1] == "]":
                self.pos += 1
                return
            index = 0
            while True:
                self.value(f"{path}[{index}]")
                index += 1
                self.skip()
                if self.text[self.pos : self.pos + 1] == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return
        if char == '"':
            self.string()
            return
        match = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null").match(
            self.text, self.pos
        )
        if match is None:
            raise ValueError("unexpected character")
        self.pos = match.end()

    def string(self) -> str:
        self.expect('"')
        start = self.pos - 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return str(json.loads(self.text[start : self.pos]))
        raise ValueError("unterminated string")

    def expect(self, char: str) -> None:
        if self.text[self.pos : self.pos + 1] != char:
            raise ValueError(f"expected {char!r}")
        self.pos += 1


def json_lines(text: str) -> dict[str, int]:
    """JSON path -> 1-based line in ``text`` (as far as the text could be read)."""
    locator = _Locator(text)
    with contextlib.suppress(ValueError, IndexError):
        locator.value("$")
    return locator.lines


def error_line(text: str, path: str, keyword: str | None = None, message: str = "") -> int | None:
    """The editor line to mark for a schema error at ``path``."""
    lines = json_lines(text)
    if keyword == "additionalProperties":
        found = re.search(r"'([^']+)' was unexpected", message)
        if found and f"{path}.{found.group(1)}" in lines:
            return lines[f"{path}.{found.group(1)}"]
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return lines.get("$")
