"""The peer's and the emulator's tests run again under Pyodide's own Python (3.14, in
Node), so that a difference between CPython and the browser's Python fails the build.

``harness`` (CPython) starts ``boot.mjs`` (Node), which calls ``in_pyodide`` (Pyodide);
``memory_server`` stands in for the socket server and client there. Run it with
``python -m tests.pyodide`` or as ``tests/browser/test_pyodide_suite.py``.
"""
