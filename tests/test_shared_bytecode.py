"""Bytecode of a source two distributions share, when one of them is installed again.

The `nvidia-*-cu12` shape: both wheels ship the same `ns/__init__.py`. Installing
the second rewrites that file (same bytes, a new mtime), so the timestamp `.pyc`
compiled for the first no longer matches it. The RECORD of the distribution that is
kept must not go on claiming the old `.pyc`: `verify` would report it as changed the
moment the bytecode is compiled anew, by the apply or by Python at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.txsupport import install, ok, rebuild_env
from tests.wheelfactory import WheelSpec, build_wheel

SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
TAG = sys.implementation.cache_tag
SHARED_PYC = f"ns/__pycache__/__init__.{TAG}.pyc"


def _wheels(folder: Path) -> tuple[Path, Path]:
    """first and second, sharing `ns/__init__.py` byte for byte, each with a module."""
    shared = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    return (
        build_wheel(WheelSpec("first", files={"ns/__init__.py": shared, "ns/a.py": b""}), folder),
        build_wheel(WheelSpec("second", files={"ns/__init__.py": shared, "ns/b.py": b""}), folder),
    )


def _next_second() -> None:
    """Sleep past the current second, so what is written next gets another mtime (a
    timestamp `.pyc` holds whole seconds: within one, the bug hides)."""
    time.sleep(1.05 - time.time() % 1)


def _verified(python: Path) -> None:
    assert ok("verify", "--python", python).endswith("no problems\n")


def _imports(python: Path, *modules: str) -> None:
    """Import as a user would: Python writes the bytecode of a source whose `.pyc` is
    missing or stale, over a file a RECORD may list."""
    caching = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([python, "-c", f"import {', '.join(modules)}"], check=True, env=caching)


def _rows(record: Path) -> set[str]:
    return {line.split(",")[0] for line in record.read_text().splitlines()}


@pytest.mark.parametrize(
    ("compile_again", "reinstall"),
    [(True, False), (False, False), (True, True)],
    ids=["compiled", "not-compiled", "reinstalled"],
)
def test_a_kept_owner_claims_no_stale_bytecode_of_a_shared_source(
    tmp_path: Path, compile_again: bool, reinstall: bool
) -> None:
    """After the second owner's install (or the first owner's reinstall) every RECORD
    is true, also once Python has compiled what it imports, and stays true when the
    owner installed last is removed again."""
    first, second = _wheels(tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    site = env_dir / SITE
    install(python, [first], "--compile-bytecode")
    assert SHARED_PYC in _rows(site / "first-1.0.dist-info" / "RECORD")
    if reinstall:
        install(python, [second], "--compile-bytecode")
        again, kept, kept_module = first, "second", "ns.b"
    else:
        again, kept, kept_module = second, "first", "ns.a"
    options = ["--compile-bytecode"] if compile_again else []
    _next_second()
    install(python, [again], *options, *(["--reinstall"] if reinstall else []))
    _verified(python)
    _imports(python, "ns.a", "ns.b")
    _verified(python)
    # The kept owner still lists the source, but not bytecode it did not compile.
    kept_rows = _rows(site / f"{kept}-1.0.dist-info" / "RECORD")
    assert "ns/__init__.py" in kept_rows
    assert SHARED_PYC not in kept_rows

    ok("uninstall", "-y", "-q", "--python", python, "second" if kept == "first" else "first")
    assert (site / "ns" / "__init__.py").is_file()
    _verified(python)
    _imports(python, kept_module)
    _verified(python)


def test_removing_the_first_owner_keeps_the_bytecode_the_second_compiled(
    tmp_path: Path,
) -> None:
    """The distribution installed last lists the shared `.pyc` it compiled: removing the
    first owner leaves the source and that bytecode, each listed by a RECORD."""
    first, second = _wheels(tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    site = env_dir / SITE
    install(python, [first], "--compile-bytecode")
    _next_second()
    install(python, [second], "--compile-bytecode")
    ok("uninstall", "-y", "-q", "--python", python, "first")
    assert (site / SHARED_PYC).is_file()
    assert SHARED_PYC in _rows(site / "second-1.0.dist-info" / "RECORD")
    _verified(python)


def test_a_kept_owner_whose_metadata_lies_outside_keeps_its_rows(tmp_path: Path) -> None:
    """Its RECORD cannot be rewritten (never through a link leading outside): the second
    install is not refused for it, and nothing outside changes."""
    first, second = _wheels(tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [first], "--compile-bytecode")
    metadata = env_dir / SITE / "first-1.0.dist-info"
    outside = tmp_path / "outside" / "first-1.0.dist-info"
    outside.parent.mkdir()
    metadata.rename(outside)
    metadata.symlink_to(outside)
    record = (outside / "RECORD").read_bytes()
    _next_second()
    install(python, [second], "--compile-bytecode")
    assert (outside / "RECORD").read_bytes() == record
    assert SHARED_PYC in _rows(env_dir / SITE / "second-1.0.dist-info" / "RECORD")


def test_the_review_names_the_kept_record_it_rewrites(tmp_path: Path) -> None:
    first, second = _wheels(tmp_path / "wheels")
    python = rebuild_env(tmp_path / "env")
    install(python, [first], "--compile-bytecode")
    review = ok("plan", second, "--python", python)
    assert (
        "Installed distributions whose RECORD is rewritten without what they lose:\n"
        "  first: the bytecode of a source written again\n"
    ) in review
