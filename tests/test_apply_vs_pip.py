"""wheelplan against pip: the same real wheels give the same environment, byte for byte.

Both installs go to the same path, one after the other (snapshot, delete, recreate),
so interpreter paths inside shebangs and direct_url.json agree without rewriting.
The only differences allowed are the ones wheelplan makes on purpose: INSTALLER's
content, the text of generated script wrappers (their names, exec bits and behaviour
must agree) and RECORD's formatting (its set of paths must agree, and every row must
verify against the disk).
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import marshal
import os
import posixpath
import random
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import CodeType

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.readback import MAX_READ_BACK
from tests import conftest
from tests.conftest import make_env, pips_mode, run_cli, snapshot
from tests.realwheels import NVIDIA, PIP_DIFFERENTIAL, download
from tests.recordcheck import read_records, verify_records
from tests.wheelfactory import Member, WheelSpec, build_wheel

SITE = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
HEADERS = "include/site/python{}.{}".format(*sys.version_info[:2])
# Pure wheels, one with `#!python` scripts: enough to compare bytecode without the big ones.
COMPILE_PINS = ("six==1.16.0", "idna==3.7", "click==8.1.7", "docutils==0.19", "PyYAML==6.0.2")
EPOCH = "1700000000"

Tree = dict[str, tuple[str, int]]


@attrs.frozen
class Install:
    """One installer's result, kept after its environment is deleted."""

    tree: Tree
    records: dict[str, list[tuple[str, str, str]]]
    # Wrapper name -> (exit code, stdout) of `wrapper --help`.
    runs: dict[str, tuple[int, str]]
    # .pyc path -> (16-byte header, code object).
    pycs: dict[str, tuple[bytes, CodeType]]
    stdout: str = ""


@attrs.frozen
class Compared:
    prefix: Path
    fresh: Tree
    pip: Install
    ours: Install
    wrappers: list[str]


def _wrapper_names(wheels: Iterable[Path]) -> list[str]:
    """Console and GUI script names, read straight from each wheel's entry_points.txt."""
    names = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            found = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
            if not found:
                continue
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(archive.read(found[0]).decode())
        for section in ("console_scripts", "gui_scripts"):
            if parser.has_section(section):
                names += list(parser[section])
    return sorted(names)


def _run_wrappers(prefix: Path, names: Sequence[str]) -> dict[str, tuple[int, str]]:
    runs = {}
    for name in names:
        completed = subprocess.run(
            [str(prefix / "bin" / name), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        runs[name] = (completed.returncode, completed.stdout)
    return runs


def _pycs(prefix: Path, tree: Tree) -> dict[str, tuple[bytes, CodeType]]:
    pycs = {}
    for path in tree:
        if path.endswith(".pyc"):
            data = (prefix / path).read_bytes()
            code = marshal.loads(data[16:])
            assert isinstance(code, CodeType)
            pycs[path] = (data[:16], code)
    return pycs


def _capture(prefix: Path, names: Sequence[str], stdout: str = "") -> Install:
    tree = snapshot(prefix)
    return Install(
        tree, read_records(prefix), _run_wrappers(prefix, names), _pycs(prefix, tree), stdout
    )


def _pip_install(interpreter: Path, wheels: Sequence[Path], *, compile_bytecode: bool) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(interpreter),
            "install",
            "--no-deps",
            "--no-index",
            "--compile" if compile_bytecode else "--no-compile",
            "--disable-pip-version-check",
            "--quiet",
            *map(str, wheels),
        ],
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull, "SOURCE_DATE_EPOCH": EPOCH},
    )


def compare(prefix: Path, wheels: Sequence[Path], *, compile_bytecode: bool) -> Compared:
    """Install `wheels` at `prefix` with pip, capture, delete; then with wheelplan."""
    names = _wrapper_names(wheels)
    interpreter = make_env(prefix)
    fresh = snapshot(prefix)
    _pip_install(interpreter, wheels, compile_bytecode=compile_bytecode)
    pip = _capture(prefix, names)
    shutil.rmtree(prefix)
    interpreter = make_env(prefix)
    assert snapshot(prefix) == fresh, "a fresh venv at the same path must be the same"
    flags = ["--compile-bytecode"] if compile_bytecode else []
    completed = run_cli(
        "install", "--python", interpreter, *flags, *wheels, env={"SOURCE_DATE_EPOCH": EPOCH}
    )
    assert completed.returncode == 0, completed.stderr
    return Compared(prefix, fresh, pip, _capture(prefix, names, completed.stdout), names)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Compared:
    wheels = download(PIP_DIFFERENTIAL + NVIDIA)
    # wheelplan's install stays at the prefix for the tests that read its files.
    return compare(tmp_path_factory.mktemp("vs-pip") / "env", wheels, compile_bytecode=False)


def _on_purpose(path: str, wrappers: Iterable[str]) -> bool:
    """The files wheelplan writes differently from pip by design."""
    generated = posixpath.dirname(path).endswith(".dist-info") and posixpath.basename(path) in (
        "INSTALLER",
        "RECORD",
    )
    return generated or path in {f"bin/{wrapper}" for wrapper in wrappers}


def test_same_files_byte_for_byte_with_the_same_modes(both: Compared) -> None:
    assert set(both.pip.tree) == set(both.ours.tree)
    differing = {
        path: (both.pip.tree[path], both.ours.tree[path])
        for path in both.pip.tree
        if both.pip.tree[path] != both.ours.tree[path] and not _on_purpose(path, both.wrappers)
    }
    assert differing == {}
    # The comparison covered every kind of file the wheels bring.
    new = set(both.ours.tree) - set(both.fresh)
    assert f"{SITE}/nvidia/__init__.py" in new
    assert f"{SITE}/yaml/_yaml.cpython-311-x86_64-linux-gnu.so" in new
    assert f"{HEADERS}/greenlet/greenlet.h" in new
    assert "share/jupyter/labextensions/jupyterlab_pygments/package.json" in new
    assert {"bin/rst2html.py", "bin/ruff"} <= new
    assert sum(1 for path in new if path.endswith(".dist-info/direct_url.json")) == 20
    assert sum(1 for path in new if path.endswith(".dist-info/REQUESTED")) == 20


def test_data_scripts_get_the_target_interpreter(both: Compared) -> None:
    script = (both.prefix / "bin" / "rst2html.py").read_bytes()
    assert script.split(b"\n", 1)[0] == b"#!" + str(both.prefix / "bin" / "python").encode()
    assert both.ours.tree["bin/rst2html.py"][1] == 0o755
    assert both.ours.tree["bin/ruff"][1] == 0o755


def test_wrappers_have_the_same_names_modes_and_behaviour(both: Compared) -> None:
    assert len(both.wrappers) >= 5
    for name in both.wrappers:
        assert both.pip.tree[f"bin/{name}"][1] == both.ours.tree[f"bin/{name}"][1] == 0o755
        first = (both.prefix / "bin" / name).read_bytes().split(b"\n", 1)[0]
        assert first == b"#!" + str(both.prefix / "bin" / "python").encode()
    assert both.ours.runs == both.pip.runs
    assert all(code == 0 and out for code, out in both.ours.runs.values()), both.ours.runs


def test_installer_names_wheelplan(both: Compared) -> None:
    installers = sorted((both.prefix / SITE).glob("*.dist-info/INSTALLER"))
    assert len(installers) == 20
    assert {path.read_bytes() for path in installers} == {b"wheelplan\n"}
    assert {path for path in both.pip.tree if path.endswith("/INSTALLER")} == {
        str(path.relative_to(both.prefix)) for path in installers
    }


def test_records_list_the_same_paths_as_pips_in_sorted_rows(both: Compared) -> None:
    assert len(both.ours.records) == 20
    assert set(both.ours.records) == set(both.pip.records)
    for record, rows in both.ours.records.items():
        assert {row[0] for row in rows} == {row[0] for row in both.pip.records[record]}, record
        assert [row[0] for row in rows] == sorted(row[0] for row in rows)


def test_every_record_row_verifies_and_every_file_is_listed(both: Compared) -> None:
    verify_records(both.prefix, both.ours.records, both.fresh)
    # nvidia/__init__.py is shared: every owner's RECORD lists it.
    owners = [
        record
        for record, rows in both.ours.records.items()
        if "nvidia/__init__.py" in {row[0] for row in rows}
    ]
    assert len(owners) == 3


def test_summary_counts_every_file_written(both: Compared) -> None:
    new = set(both.ours.tree) - set(both.fresh)
    new_files = [path for path in new if both.ours.tree[path][0] != "dir"]
    summary = f"applied 20 distributions to {both.prefix}: {len(new_files)} files written ("
    assert summary in both.ours.stdout


def test_bytecode_matches_pips(tmp_path: Path) -> None:
    """With SOURCE_DATE_EPOCH both write checked-hash .pyc files for the same sources, with
    equal headers and code. (Their bytes may differ: marshal's output depends on reference
    counts, and pip names a script's code by its un-normalised ../../../bin path.)"""
    both = compare(tmp_path / "env", download(COMPILE_PINS), compile_bytecode=True)
    tag = sys.implementation.cache_tag
    assert set(both.ours.pycs) == set(both.pip.pycs)
    assert f"bin/__pycache__/rst2html.{tag}.pyc" in both.ours.pycs
    assert len(both.ours.pycs) > 100
    for path, (header, code) in both.ours.pycs.items():
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b11, f"{path} is not checked-hash"
        assert (header, code) == both.pip.pycs[path], path
        source = posixpath.join(posixpath.dirname(posixpath.dirname(path)), _source_of(path))
        assert code.co_filename == str(both.prefix / source)
    for record, rows in both.ours.records.items():
        assert {row[0] for row in rows} == {row[0] for row in both.pip.records[record]}, record
    verify_records(both.prefix, both.ours.records, both.fresh)


def _source_of(pyc: str) -> str:
    return posixpath.basename(pyc).split(".", 1)[0] + ".py"


# First bytes of a `.data/scripts` file: only an exact `#!python` is rewritten, as pip does.
_SCRIPT_STARTS = (
    b"#!python\n",
    b"#!python3\n",
    b"#!pythonw\n",
    b"#!python -u\n",
    b"#!python\r\n",
    b"#! python\n",
    b"#!/usr/bin/env python\n",
    b"",
    b"\x7fELF\x02\x01",
)
_PLACES = ("module", "package", "purelib", "platlib", "headers", "scripts", "data")
_STEMS = ("f", "d e", "\u00e9t\u00e9", "x.y")
_ENTRY_POINTS = (
    None,
    "[console_scripts]\nlayout-cli = layout:main\n",
    "[gui_scripts]\nlayout-gui = layout:main\n",
)


@st.composite
def layouts(draw: st.DrawFn) -> WheelSpec:
    """One wheel putting files in any of the places a wheel can put them, under a name
    spelled any way METADATA may spell it (headers go in a folder named after it)."""
    name = draw(st.sampled_from(("layout", "Lay.Out", "lay_out", "LAY-out")))
    data = f"{WheelSpec(name).distribution}-1.0.data"
    files: dict[str, bytes | Member] = {}
    places = draw(st.lists(st.sampled_from(_PLACES), min_size=1, max_size=6))
    for index, place in enumerate(places):
        stem = f"{draw(st.sampled_from(_STEMS))}{index}"
        body = draw(st.binary(max_size=40))
        path = {
            "module": f"layout_{index}.py",
            "package": f"layout/{stem}.txt",
            "purelib": f"{data}/purelib/layout_p/{stem}.py",
            "platlib": f"{data}/platlib/layout_q/{stem}.py",
            "headers": f"{data}/headers/{stem}.h",
            "scripts": f"{data}/scripts/{stem.replace(' ', '_')}",
            "data": f"{data}/data/share/layout/{stem}",
        }[place]
        if place == "scripts":
            start = draw(st.sampled_from(_SCRIPT_STARTS))
            mode = draw(st.sampled_from((0o644, 0o755)))
            files[path] = Member(path, start + body, mode=mode)
        else:
            files[path] = body
    return WheelSpec(
        name,
        files=files,
        entry_points=draw(st.sampled_from(_ENTRY_POINTS)),
        root_is_purelib=draw(st.booleans()),
    )


@settings(max_examples=12, deadline=None)
@given(spec=layouts())
def test_any_wheel_layout_installs_as_pip_installs_it(
    spec: WheelSpec, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same files, bytes and modes as pip's install, whatever a wheel holds where,
    but for what wheelplan writes differently on purpose."""
    root = tmp_path_factory.mktemp("layout")
    both = compare(root / "env", [build_wheel(spec, root / "wheels")], compile_bytecode=False)
    assert set(both.pip.tree) == set(both.ours.tree)
    for path, (digest, mode) in both.pip.tree.items():
        ours = both.ours.tree[path]
        if ours == (digest, mode) or _on_purpose(path, both.wrappers):
            continue
        # Also on purpose (see the README): every `.data/scripts` file is made executable.
        assert path.startswith("bin/") and ours == (digest, 0o755), (path, (digest, mode), ours)


def _modes(prefix: Path) -> dict[str, int]:
    return {path: mode for path, (_, mode) in snapshot(prefix).items()}


@pytest.mark.parametrize("umask", [0o002, 0o027, 0o077])
def test_modes_follow_the_umask_as_pips_do(umask: int, tmp_path: Path) -> None:
    """pip creates a file as `open` does (0o666 less the umask) and gives an executable
    every execute bit (`0o777 & ~umask | 0o111`). wheelplan's modes are pip's under any
    umask, whether a file is written from the wheel, into a new cache entry, or linked
    or copied from one; only the entry-point wrappers differ, which pip's script maker
    makes 0o755 whatever the umask, and which follow the rule here as uv's do."""
    spec = WheelSpec(
        "modes",
        files={
            "modes/__init__.py": b"def main():\n    print('modes')\n",
            "modes/native.so": Member("modes/native.so", b"\x7fELF", 0o755),
            "modes-1.0.data/scripts/modes-tool": Member(
                "modes-1.0.data/scripts/modes-tool", b"#!python\nprint(1)\n", 0o755
            ),
            "modes-1.0.data/data/share/modes/notes.txt": b"notes\n",
        },
        entry_points="[console_scripts]\nmodes-cli = modes:main\n",
    )
    wheel = build_wheel(spec, tmp_path / "wheels")
    prefix = tmp_path / "env"
    cache = tmp_path / "cache"
    module = prefix / SITE / "modes" / "__init__.py"
    with conftest.umask(umask):
        _pip_install(make_env(prefix), [wheel], compile_bytecode=False)
        pips = _modes(prefix)
        installs = []
        for link_mode in ("auto", "auto", "copy"):
            shutil.rmtree(prefix)
            interpreter = make_env(prefix)
            completed = run_cli(
                "install",
                "--python",
                interpreter,
                "--cache-dir",
                cache,
                "--link-mode",
                link_mode,
                wheel,
            )
            assert completed.returncode == 0, completed.stderr
            installs.append((_modes(prefix), module.stat().st_nlink))
    executable = pips_mode(True, umask)
    assert pips[f"{SITE}/modes/__init__.py"] == pips_mode(False, umask)
    assert pips[f"{SITE}/modes/native.so"] == pips["bin/modes-tool"] == executable
    (first, written), (warm, linked), (copied, copies) = installs
    assert first == warm == copied
    assert {path: mode for path, mode in first.items() if path != "bin/modes-cli"} == {
        path: mode for path, mode in pips.items() if path != "bin/modes-cli"
    }
    assert first["bin/modes-cli"] == executable
    # The first install filled the cache and linked its files from the new entry, the
    # second linked them from it (each install's environment is gone before the next),
    # and the third copied them from it.
    assert (written, linked, copies) == (2, 2, 1)
    # Under the usual umask the entry's modes are not the ones wanted: its files are
    # copied from it, never hardlinked (test_cache shows they are not written from the wheel).
    shutil.rmtree(prefix)
    with conftest.umask(0o022):
        interpreter = make_env(prefix)
        completed = run_cli("install", "--python", interpreter, "--cache-dir", cache, wheel)
    assert completed.returncode == 0, completed.stderr
    assert (module.stat().st_mode & 0o777, module.stat().st_nlink) == (0o644, 1)
    assert (prefix / SITE / "modes" / "native.so").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("compile_bytecode", [False, True], ids=["sources", "bytecode"])
def test_a_wheel_pip_installed_is_unchanged_when_planned_again(
    tmp_path: Path, compile_bytecode: bool
) -> None:
    """pip lists a `.data/scripts` file it skipped for an entry point's wrapper under
    its `.data` path, where nothing is: the same wheel again was a reinstall."""
    spec = WheelSpec(
        "Alpha.Pkg",
        files={
            "alpha_pkg/__init__.py": b"def main():\n    return 0\n",
            "Alpha_Pkg-1.0.data/scripts/alpha-cli": b"#!python\nprint('setuptools wrapper')\n",
            "Alpha_Pkg-1.0.data/scripts/plain": b"#!/bin/sh\necho plain\n",
            "Alpha_Pkg-1.0.data/scripts/tool": b"#!python\nprint('tool')\n",
            "Alpha_Pkg-1.0.data/data/share/alpha.txt": b"data\n",
        },
        entry_points="[console_scripts]\nalpha-cli = alpha_pkg:main\n",
    )
    wheel = build_wheel(spec, tmp_path / "wheels")
    interpreter = make_env(tmp_path / "env")
    _pip_install(interpreter, [wheel], compile_bytecode=compile_bytecode)
    result = run_cli("plan", wheel, "--python", interpreter, "--json")
    assert result.returncode == 0, result.stderr
    assert [dist["action"] for dist in json.loads(result.stdout)["distributions"]] == ["unchanged"]


@pytest.mark.parametrize(("pips", "ours"), [("sha256", "sha512"), ("sha512", "sha256")])
def test_the_same_files_pip_installed_under_another_hash_algorithm_are_unchanged(
    tmp_path: Path, pips: str, ours: str
) -> None:
    """pip keeps each wheel's own RECORD algorithm: a rebuild of the installed version
    with the same bytes, hashed with another algorithm, was a reinstall every time."""
    spec = WheelSpec(
        "algo",
        files={
            "algo/__init__.py": b"def main():\n    return 0\n",
            # Past what is read back whole to compare a script: hashed as it streams.
            "algo/large.txt": random.Random(0).randbytes(MAX_READ_BACK // 2 + 1).hex().encode(),
            "algo-1.0.data/data/share/algo.txt": b"data\n",
            "algo-1.0.data/scripts/tool": b"#!python\nprint('tool')\n",
        },
        entry_points="[console_scripts]\nalgo = algo:main\n",
    )
    installed, planned = (
        build_wheel(attrs.evolve(spec, record_algorithm=algorithm), tmp_path / algorithm)
        for algorithm in (pips, ours)
    )
    interpreter = make_env(tmp_path / "env")
    _pip_install(interpreter, [installed], compile_bytecode=False)
    record = (tmp_path / "env" / SITE / "algo-1.0.dist-info" / "RECORD").read_text()
    assert f"algo/__init__.py,{pips}=" in record
    result = run_cli("plan", planned, "--python", interpreter, "--json")
    assert result.returncode == 0, result.stderr
    assert [dist["action"] for dist in json.loads(result.stdout)["distributions"]] == ["unchanged"]
