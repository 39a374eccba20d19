#!/usr/bin/env python3
"""Fetch the official OCPP JSON schemas from the MIT-licensed ``ocpp`` wheel.

Downloads ``ocpp==2.1.0`` with pip, checks the wheel against a pinned sha256 and
writes its schemas, byte for byte, to ``browser_ocpp/rpc/schemas/<protocol>/`` with
normalized names (``<Action>Request.json`` / ``<Action>Response.json``), plus the
wheel's license as ``browser_ocpp/rpc/schemas/LICENSE``.

Usage::

    python3 scripts/fetch_schemas.py            # (re)write the schema folders
    python3 scripts/fetch_schemas.py --check    # exit 1 if they differ from the wheel
    python3 scripts/fetch_schemas.py --wheel ocpp-2.1.0-py3-none-any.whl  # no download
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from browser_ocpp.runtime.fetch import fetch_wheel, sha256_file
from browser_ocpp.runtime.pins import LockedWheel

WHEEL = LockedWheel(
    name="ocpp",
    version="2.1.0",
    file_name="ocpp-2.1.0-py3-none-any.whl",
    sha256="0e452c14c21e2995431334ce1513d5ad8246ecb5c8fb90ed4143e2ecdd9e2845",
)
LICENSE_MEMBER = "ocpp-2.1.0.dist-info/LICENSE"
LICENSE_HEADER = (
    b"The JSON schemas in this folder come from the `ocpp` package 2.1.0 by"
    b" The Mobility House (MIT license, below).\n"
    b"They are copied byte for byte from the wheel and only renamed to"
    b" <Action>Request.json / <Action>Response.json (see scripts/fetch_schemas.py).\n"
    b"The OCPP 2.1 files carry their own comment: (c) OCA, Creative Commons"
    b" Attribution-NoDerivatives 4.0 International Public License.\n"
    b"\n"
)

# Folder inside the wheel -> protocol folder we ship.
SOURCES: dict[str, str] = {
    "ocpp/v16/schemas": "ocpp1.6",
    "ocpp/v201/schemas": "ocpp2.0.1",
    "ocpp/v21/schemas": "ocpp2.1",
}

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_ROOT = REPO_ROOT / "browser_ocpp" / "rpc" / "schemas"
RPC_INIT = REPO_ROOT / "browser_ocpp" / "rpc" / "__init__.py"
MAX_REPORTED = 20
RPC_INIT_TEXT = '"""Sans-I/O OCPP-J core: frames, errors, versions, validation."""\n'


def normalized_name(name: str) -> str:
    """``<Action>Request.json`` or ``<Action>Response.json`` for a schema file name.

    1.6 names requests ``<Action>.json``; 2.1's ``NotifyPeriodicEventStream.json`` is a
    SEND message (a request with no response).  Both become ``<Action>Request.json``.
    """
    if not name.endswith(".json"):
        raise ValueError(f"not a JSON file: {name}")
    if name.endswith(("Request.json", "Response.json")):
        return name
    return name[: -len(".json")] + "Request.json"


def verify_sha256(wheel: Path) -> None:
    """Exit unless ``wheel`` (one given with --wheel) has the pinned sha256."""
    digest = sha256_file(wheel)
    if digest != WHEEL.sha256:
        raise SystemExit(f"sha256 mismatch for {wheel.name}: {digest} != {WHEEL.sha256}")


def expected_files(wheel: Path) -> dict[PurePosixPath, bytes]:
    """The files the schema folder should hold, relative to it, from the wheel."""
    files: dict[PurePosixPath, bytes] = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in sorted(archive.namelist()):
            path = PurePosixPath(member)
            protocol = SOURCES.get(str(path.parent))
            if protocol is None or path.suffix != ".json":
                continue
            target = PurePosixPath(protocol, normalized_name(path.name))
            if target in files:
                raise SystemExit(f"two schemas map to {target}")
            files[target] = archive.read(member)
        files[PurePosixPath("LICENSE")] = LICENSE_HEADER + archive.read(LICENSE_MEMBER)
    for protocol in SOURCES.values():
        if not any(target.parts[0] == protocol for target in files):
            raise SystemExit(f"the wheel has no schemas for {protocol}")
    return files


def actual_files() -> dict[PurePosixPath, bytes]:
    """The files now in the three protocol folders, plus LICENSE and ``__init__.py``."""
    files: dict[PurePosixPath, bytes] = {}
    for protocol in SOURCES.values():
        folder = SCHEMA_ROOT / protocol
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    relative = PurePosixPath(path.relative_to(SCHEMA_ROOT).as_posix())
                    files[relative] = path.read_bytes()
    for name in ("LICENSE", "__init__.py"):
        path = SCHEMA_ROOT / name
        if path.is_file():
            files[PurePosixPath(name)] = path.read_bytes()
    return files


def differences(expected: dict[PurePosixPath, bytes]) -> list[str]:
    """Human-readable differences between the schema folders and ``expected``."""
    actual = actual_files()
    problems: list[str] = []
    for path in sorted(expected.keys() - actual.keys()):
        problems.append(f"missing: {path}")
    for path in sorted(actual.keys() - expected.keys()):
        problems.append(f"unexpected: {path}")
    for path in sorted(expected.keys() & actual.keys()):
        if expected[path] != actual[path]:
            problems.append(f"differs: {path}")
    return problems


def write(expected: dict[PurePosixPath, bytes]) -> None:
    """Clear the three protocol folders and write ``expected`` (idempotent)."""
    SCHEMA_ROOT.mkdir(parents=True, exist_ok=True)
    for protocol in SOURCES.values():
        shutil.rmtree(SCHEMA_ROOT / protocol, ignore_errors=True)
        (SCHEMA_ROOT / protocol).mkdir()
    # The schemas are package data, not a package.
    (SCHEMA_ROOT / "__init__.py").unlink(missing_ok=True)
    for relative, data in expected.items():
        (SCHEMA_ROOT / Path(*relative.parts)).write_bytes(data)
    if not RPC_INIT.exists():
        RPC_INIT.write_text(RPC_INIT_TEXT, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on change")
    parser.add_argument("--wheel", type=Path, help="use this wheel instead of downloading")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.wheel is not None:
            wheel: Path = args.wheel
            verify_sha256(wheel)
        else:  # pip download, sha256-checked
            wheel = fetch_wheel(WHEEL, Path(tmp), print)
        expected = expected_files(wheel)
    if args.check:
        problems = differences(expected)
        for problem in problems[:MAX_REPORTED]:
            print(problem, file=sys.stderr)
        if len(problems) > MAX_REPORTED:
            print(f"... and {len(problems) - MAX_REPORTED} more", file=sys.stderr)
        if problems:
            print(f"{len(problems)} difference(s); run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"schemas up to date ({len(expected)} files)")
        return 0
    write(expected)
    print(f"wrote {len(expected)} files under {SCHEMA_ROOT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
