"""``python -m tests.pyodide [pytest args]``: run tests under Pyodide's Python in Node.

Without arguments it runs ``-v -rfE tests/peer tests/emulator``; paths are relative to
the repository. Exits with the inner pytest's exit code (3 when no report came back).
"""

from __future__ import annotations

import sys

from .harness import DEFAULT_ARGS, run_suite, summary


def main(argv: list[str]) -> int:
    run = run_suite(argv or DEFAULT_ARGS, echo=lambda line: print(line, flush=True))
    inner = run.inner
    if run.report is None:
        print(summary(run), file=sys.stderr)
        return 3
    print(
        f"Pyodide run: {run.seconds:.1f} s (boot {run.report['boot_seconds']:.1f} s), "
        f"Python {inner['python']}, {inner['selected']} selected, "
        f"{len(inner['deselected'])} deselected, outcomes {inner['outcomes']}",
        flush=True,
    )
    return int(inner["exit_code"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
