"""The browser runtime the console and our pages load: Pyodide, PyScript and the wheels
they install, pinned in ``runtime.lock.json`` and built once into a folder (the
per-user cache by default). CPython only: the browser never imports this package."""

from .build import default_runtime_dir, ensure_runtime
from .errors import RuntimeBuildError

__all__ = ["RuntimeBuildError", "default_runtime_dir", "ensure_runtime"]
