"""Building the runtime folder, once: ``pyodide/`` (the npm tarball's files, the pinned
wheels, our own wheel and a generated ``pyodide-lock.json``) and ``pyscript/`` (the
``dist/`` of ``@pyscript/core``). A stamp of what each part was built from makes a
second start a quick check that needs no network."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from packaging.utils import canonicalize_name

from .errors import RuntimeBuildError
from .fetch import Log, extract_tar_folder, fetch_npm, fetch_wheel
from .pins import RuntimeLock, load_lock
from .pyodide_lock import environment_for, lock_entries, verify_pyodide_lock
from .wheels import PROJECT, WheelInfo, build_own_wheel, own_files, read_wheel

__all__ = ["default_runtime_dir", "ensure_runtime"]

STAMP_NAME = ".stamp.json"
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")


def default_runtime_dir() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/browser-ocpp/runtime`` (``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "browser-ocpp" / "runtime"


def _builder_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def input_digests(lock: RuntimeLock) -> dict[str, str]:
    """What each part of the runtime is built from, hashed."""
    common = hashlib.sha256((lock.text + _builder_digest()).encode()).hexdigest()
    package = hashlib.sha256(common.encode())
    for name, path in own_files():
        package.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return {"pyodide": package.hexdigest(), "pyscript": common}


def _read_stamp(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_stamp(path: Path, stamp: dict[str, str]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One builder at a time (test workers, a server and a terminal)."""
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace_dir(staging: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".old-{final.name}")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(final)


@contextmanager
def _staging(runtime: Path, part: str) -> Iterator[Path]:
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{part}-", dir=runtime))
    staging.chmod(0o755)  # mkdtemp makes it 0700; a server may run as another user
    try:
        yield staging
        _replace_dir(staging, runtime / part)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_pyodide(runtime: Path, lock: RuntimeLock, log: Log) -> None:
    cache = runtime / ".cache"
    tarball = fetch_npm(lock.pyodide, cache / "npm", log)
    with _staging(runtime, "pyodide") as staging:
        extract_tar_folder(tarball, "package/", staging)
        info = json.loads((staging / "pyodide-lock.json").read_text(encoding="utf-8"))["info"]
        wheels: list[WheelInfo] = []
        for pin in lock.wheels:
            shutil.copy2(fetch_wheel(pin, cache / "wheels", log), staging / pin.file_name)
            wheel = read_wheel(staging / pin.file_name)
            if wheel.name != canonicalize_name(pin.name) or wheel.version != pin.version:
                raise RuntimeBuildError(
                    f"{pin.file_name} is {wheel.name} {wheel.version}, "
                    f"pinned as {pin.name} {pin.version}"
                )
            wheels.append(wheel)
        own = read_wheel(build_own_wheel(staging))
        if own.name != PROJECT:
            raise RuntimeBuildError(f"our own wheel is named {own.name!r}")
        wheels.append(own)
        packages = lock_entries(wheels, environment_for(str(info["python"])))
        (staging / "pyodide-lock.json").write_text(
            json.dumps({"info": info, "packages": packages}, indent=2) + "\n", encoding="utf-8"
        )
        problems = verify_pyodide_lock(staging)
        if problems:
            raise RuntimeBuildError("generated pyodide-lock.json: " + "; ".join(problems))
        log(f"made {own.path.name} ({own.path.stat().st_size / 1e3:.0f} kB) and the package lock")


def _build_pyscript(runtime: Path, lock: RuntimeLock, log: Log) -> None:
    tarball = fetch_npm(lock.pyscript, runtime / ".cache" / "npm", log)
    with _staging(runtime, "pyscript") as staging:
        extract_tar_folder(tarball, "package/dist/", staging)


def _present(runtime: Path, lock: RuntimeLock) -> dict[str, bool]:
    pyodide = runtime / "pyodide"
    return {
        "pyodide": all((pyodide / name).is_file() for name in PYODIDE_FILES)
        and all((pyodide / wheel.file_name).is_file() for wheel in lock.wheels),
        "pyscript": (runtime / "pyscript" / "core.js").is_file(),
    }


def ensure_runtime(directory: Path | None = None, *, force: bool = False, log: Log = print) -> Path:
    """Build or refresh the runtime in ``directory`` (default: the per-user cache) as
    pinned, and return it. Quick and offline when nothing changed since the last build."""
    runtime = (directory or default_runtime_dir()).expanduser().resolve()
    try:
        runtime.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RuntimeBuildError(f"cannot create the runtime folder {runtime}: {exc}") from exc
    lock = load_lock()
    started = time.monotonic()
    with _exclusive(runtime / ".lock"):
        digests = input_digests(lock)
        stamp = _read_stamp(runtime / STAMP_NAME)
        present = _present(runtime, lock)
        stale = [
            p
            for p in ("pyodide", "pyscript")
            if force or not present[p] or stamp.get(p) != digests[p]
        ]
        if stale:
            log(f"browser runtime: preparing {', '.join(stale)} in {runtime}")
        for part in stale:
            (_build_pyodide if part == "pyodide" else _build_pyscript)(runtime, lock, log)
            stamp[part] = digests[part]
            _write_stamp(runtime / STAMP_NAME, stamp)
    if stale:
        log(f"browser runtime: ready in {time.monotonic() - started:.1f} s")
    return runtime
