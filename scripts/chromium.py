"""What the Playwright suite and the browser benchmark share: how Debian's Chromium
is launched here, and an asyncio loop in a thread for the servers they talk to.

:class:`ChromiumRun` launches it so that a dead renderer can be explained afterwards:
Chromium's stderr (browser, renderers, GPU process) goes to a log file and crashpad's
minidumps to a directory of the run, and :meth:`ChromiumRun.explain` says whether the
renderer crashed (and on which signal) or was killed from outside (SIGKILL, as the
kernel's out-of-memory killer does: Chromium gives its renderers oom_score_adj 300,
so they are its first choice, whoever used the memory).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = [
    "CHROMIUM_ARGS",
    "ChromiumRun",
    "LoopThread",
    "Mark",
    "chromium_path",
    "mem_available_mib",
    "minidump_signal",
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # else Chromium keeps trying the internet
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    """Debian's Chromium (Playwright's own browser download cannot run here)."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        raise RuntimeError("Chromium is missing: `make test` installs Debian's chromium")
    return found


def mem_available_mib() -> int | None:
    """The kernel's estimate of the memory available now (MemAvailable), in MiB."""
    try:
        meminfo = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return None
    found = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo, re.M)
    return int(found.group(1)) // 1024 if found else None


# Warnings too (a killed renderer is a warning: "Tab Killed"), not the page's console.
LOGGING_ARGS = ["--enable-logging=stderr", "--log-level=1"]
# Lines of Chromium's stderr that say nothing about a renderer's death.
_NOISE = re.compile(
    r"dbus|D-Bus|IPH_|vaapi|idle_linux|InitializeSandbox|unexpected operator|vkCreate|cpufreq"
)


@dataclass(frozen=True)
class Mark:
    """A point in a :class:`ChromiumRun`: the time and how much it had logged."""

    time: float
    log_size: int


class ChromiumRun:
    """One Chromium for a whole run, launched with its stderr and minidumps kept in
    ``directory`` so that :meth:`explain` can say how a renderer died."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "chromium.log"
        self.log.touch()
        self.dumps = directory / "crash-dumps"
        self.dumps.mkdir(exist_ok=True)
        # Playwright reads the browser's stderr only to show it on a failed launch;
        # a launcher script is the one way to keep all of it (and the renderers').
        self.launcher = directory / "chromium"
        self.launcher.write_text(
            "#!/bin/sh\n"
            f'exec {shlex.quote(chromium_path())} "$@" 2>>{shlex.quote(str(self.log))}\n',
            encoding="utf-8",
        )
        self.launcher.chmod(0o755)

    def launch(self, playwright: Playwright) -> Browser:
        """Chromium with :data:`CHROMIUM_ARGS`; crashpad writes its minidumps here."""
        env: dict[str, str | float | bool] = {**os.environ}
        env["BREAKPAD_DUMP_LOCATION"] = str(self.dumps)
        mark = self.mark()
        try:
            return playwright.chromium.launch(
                executable_path=str(self.launcher), args=CHROMIUM_ARGS + LOGGING_ARGS, env=env
            )
        except Exception as exc:
            raise RuntimeError(f"Chromium did not start:\n{self.log_tail(mark)}") from exc

    def mark(self) -> Mark:
        return Mark(time.time(), self.log.stat().st_size)

    def logged_since(self, mark: Mark) -> str:
        with self.log.open("rb") as log:
            log.seek(mark.log_size)
            return log.read().decode("utf-8", errors="replace")

    def log_tail(self, mark: Mark, lines: int = 25) -> str:
        """The last lines Chromium wrote to stderr since ``mark``, noise left out."""
        kept = [
            line
            for line in self.logged_since(mark).splitlines()
            if line.strip() and not _NOISE.search(line)
        ]
        return "\n".join("  " + line[:300] for line in kept[-lines:]) or "  (nothing)"

    def dumps_since(self, mark: Mark) -> list[Path]:
        found = [dump for dump in self.dumps.rglob("*.dmp") if dump.stat().st_mtime >= mark.time]
        return sorted(found, key=lambda dump: dump.stat().st_mtime)

    def explain(self, mark: Mark, wait: float = 3.0) -> str:
        """How renderers died since ``mark``: crashed on a signal (crashpad left a
        minidump) or killed from outside (SIGKILL); Chromium's log says which."""
        deadline = time.monotonic() + wait
        while not self._died_since(mark) and time.monotonic() < deadline:
            time.sleep(0.1)  # crashpad may still be writing while the crash is reported
        lines = [
            f"crashed with {minidump_signal(dump)} (minidump {dump})"
            for dump in self.dumps_since(mark)
        ]
        if "Tab Killed" in self.logged_since(mark):
            lines.append(
                "Chromium logged 'Tab Killed': the renderer got SIGKILL from outside, as the"
                " kernel's out-of-memory killer does (renderers run with oom_score_adj 300,"
                " so they go first whoever used the memory; `dmesg` names its victims)"
            )
        return "\n".join(lines) or "no minidump was written and Chromium logged no kill"

    def _died_since(self, mark: Mark) -> bool:
        return bool(self.dumps_since(mark)) or "Tab Killed" in self.logged_since(mark)


class LoopThread:
    """An asyncio loop in a thread, for servers that sync Playwright code talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], Any], timeout: float = 30) -> Any:
        async def wrapper() -> Any:
            return fn()

        return self.run(wrapper(), timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def minidump_signal(dump: Path) -> str:
    """The signal in a Linux minidump's exception stream (crashpad writes it there)."""
    try:
        data = dump.read_bytes()
        magic, _version, streams, directory = struct.unpack_from("<4sIII", data, 0)
        if magic != b"MDMP":
            return "an unreadable minidump"
        for i in range(streams):
            kind, _size, where = struct.unpack_from("<III", data, directory + 12 * i)
            if kind == 6:  # MINIDUMP_EXCEPTION_STREAM: thread id, padding, then the code
                (number,) = struct.unpack_from("<I", data, where + 8)
                try:
                    return signal.Signals(number).name
                except ValueError:
                    return f"signal {number}"
    except (OSError, struct.error):
        return "an unreadable minidump"
    return "no exception recorded"
