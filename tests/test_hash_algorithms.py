"""One file's bytes, hashed with other algorithms: by its wheel's RECORD, by another
wheel's, or by an installed RECORD.

The spec lets a RECORD hash with sha256 or anything stronger; pip and uv keep each
wheel's own algorithm in the installed RECORD, and install the same bytes alike
whatever algorithm names them. So must wheelplan: it installs, shares and recognises
bytes, not hash texts.
"""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import attrs
import pytest

from applier import streams
from tests.conftest import make_env
from tests.txsupport import install, ok, refused, refused_unchanged, save_plan
from tests.wheelfactory import Member, WheelSpec, build_wheel, corrupt_member, record_hash

SITE = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
ALGORITHMS = ("sha256", "sha512", "blake2b")
SCRIPT = b"#!python\nprint('tool')\n"
# Past `streams.SMALL`: streamed through the inflater, not read whole.
LARGE = b"a line of a large member\n" * (streams.SMALL // 25 + 1)
# Scripts with no `#!python` line to rewrite: written as the wheel holds them.
PLAIN = b"#!/bin/sh\necho plain\n"
LARGE_PLAIN = b"#!/bin/sh\n" + b"# a line of a large script\n" * (streams.SMALL // 27 + 1)
SPEC = WheelSpec(
    "algo",
    files={
        "algo/__init__.py": b"def main():\n    return 0\n",
        "algo/large.txt": LARGE,
        "algo-1.0.data/data/share/algo.txt": b"data\n",
        "algo-1.0.data/scripts/tool": SCRIPT,
        "algo-1.0.data/scripts/plain": PLAIN,
        "algo-1.0.data/scripts/large-plain": LARGE_PLAIN,
    },
    entry_points="[console_scripts]\nalgo = algo:main\n",
)


def record_rows(env: Path, dist_info: str) -> dict[str, tuple[str, str]]:
    """An installed RECORD's rows: path (as RECORD gives it) -> (hash, size)."""
    with open(env / SITE / dist_info / "RECORD", newline="", encoding="utf-8") as stream:
        return {path: (hash_text, size) for path, hash_text, size in csv.reader(stream)}


def planned(plan: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(plan.read_text())
    return data


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_wheel_planned_again_over_its_own_install_is_unchanged(
    tmp_path: Path, algorithm: str
) -> None:
    """The installed RECORD gave every file its sha256: a wheel hashed with another
    algorithm was never found installed, and was planned as a reinstall every time."""
    wheel = build_wheel(attrs.evolve(SPEC, record_algorithm=algorithm), tmp_path / "wheels")
    env = tmp_path / "env"
    python = make_env(env)
    install(python, [wheel])
    rows = record_rows(env, "algo-1.0.dist-info")
    # A member written as it is keeps its wheel's row, as pip and uv keep it (a script
    # with no `#!python` line too); a script whose `#!python` line is rewritten is hashed
    # as written, with sha256, as pip does.
    for member, where in (
        ("algo/__init__.py", "algo/__init__.py"),
        ("algo/large.txt", "algo/large.txt"),
        ("algo-1.0.data/data/share/algo.txt", "../../../share/algo.txt"),
        ("algo-1.0.data/scripts/plain", "../../../bin/plain"),
        ("algo-1.0.data/scripts/large-plain", "../../../bin/large-plain"),
    ):
        data = SPEC.files[member]
        assert isinstance(data, bytes)
        assert rows[where] == (record_hash(data, algorithm), str(len(data)))
    written = (env / "bin" / "tool").read_bytes()
    assert rows["../../../bin/tool"] == (record_hash(written), str(len(written)))
    ok("verify", "--python", python)

    plan = tmp_path / "again.json"
    save_plan(python, plan, [wheel])
    data = planned(plan)
    assert [dist["action"] for dist in data["distributions"]] == ["unchanged"]
    assert data["files"] == []


SHARED = b"# a namespace every wheel of the family ships\n"


def sharing(name: str, algorithm: str, shared: bytes = SHARED) -> WheelSpec:
    """A wheel of its own module, and `shared/` that others ship too."""
    return WheelSpec(
        name,
        files={
            f"{name}/__init__.py": b"",
            "shared/__init__.py": shared,
            "shared/large.txt": LARGE,
        },
        record_algorithm=algorithm,
    )


@pytest.mark.parametrize(("first", "second"), [("sha512", "sha256"), ("sha256", "blake2b")])
def test_a_file_installed_under_another_algorithm_is_shared_by_its_bytes(
    tmp_path: Path, first: str, second: str
) -> None:
    """A kept distribution's RECORD hashing a file with another algorithm than the
    planned wheel's said "different content": the second wheel of a family was refused
    where pip and uv install it."""
    wheels = tmp_path / "wheels"
    aa, bb = (
        build_wheel(sharing(name, algorithm), wheels)
        for name, algorithm in (("aa", first), ("bb", second))
    )
    cc = build_wheel(sharing("cc", second, b"# other bytes\n"), wheels)
    env = tmp_path / "env"
    python = make_env(env)
    install(python, [aa])
    install(python, [bb])
    for name, algorithm in (("aa", first), ("bb", second)):
        rows = record_rows(env, f"{name}-1.0.dist-info")
        assert rows["shared/__init__.py"] == (record_hash(SHARED, algorithm), str(len(SHARED)))
        assert rows["shared/large.txt"] == (record_hash(LARGE, algorithm), str(len(LARGE)))
    ok("verify", "--python", python)

    # Other bytes are still other bytes, whatever hashes them.
    result = refused("install", cc, "--python", python)
    assert result.stderr == (
        f"error: {SITE}/shared/__init__.py: aa 1.0 (installed) has different content than"
        " cc (cc-1.0-py3-none-any.whl); upgrade or remove aa too, or --prefer cc,"
        " or --prefer aa to keep its file\n"
        f"error: {SITE}/shared/__init__.py: bb 1.0 (installed) has different content than"
        " cc (cc-1.0-py3-none-any.whl); upgrade or remove bb too, or --prefer cc,"
        " or --prefer bb to keep its file\n"
    )
    install(python, [cc], "--prefer", "cc")
    assert (env / SITE / "shared" / "__init__.py").read_bytes() == b"# other bytes\n"
    ok("verify", "--python", python)


def test_a_member_that_cannot_be_compared_is_refused_saying_why(tmp_path: Path) -> None:
    """A member whose bytes do not have its own RECORD hash cannot be told the same as
    a kept file hashed with another algorithm: refused, naming it, before anything is
    written (the apply would refuse its bytes)."""
    wheels = tmp_path / "wheels"
    aa = build_wheel(sharing("aa", "sha256"), wheels)
    lying = f"shared/__init__.py,{record_hash(b'# not these bytes', 'sha512')},{len(SHARED)}"
    spec = sharing("bb", "sha512")
    files = {
        **spec.files,
        "shared/__init__.py": Member("shared/__init__.py", SHARED, record_row=lying),
    }
    bb = build_wheel(attrs.evolve(spec, files=files), wheels)
    env = tmp_path / "env"
    python = make_env(env)
    install(python, [aa])
    assert refused_unchanged(env, "install", bb, "--python", python) == (
        f"error: {SITE}/shared/__init__.py: aa 1.0 (installed) lists it, and"
        " 'shared/__init__.py' of bb-1.0-py3-none-any.whl cannot be read back to compare"
        " (its bytes do not have its RECORD hash, or the wheel changed); upgrade or remove"
        " aa too, or --prefer bb, or --prefer aa to keep its file\n"
    )


def test_a_shared_file_whose_bytes_are_corrupt_is_refused_naming_its_wheel(
    tmp_path: Path,
) -> None:
    """Another owner's hash of a shared file is checked against its bytes only once they
    have their own RECORD hash: bytes that do not are their wheel's fault, refused as
    the apply writes them, naming that wheel (not the other owner's hash, which holds)."""
    wheels = tmp_path / "wheels"
    spec = sharing("aa", "sha256")
    stored = Member("shared/__init__.py", SHARED, compress_type=zipfile.ZIP_STORED)
    aa = build_wheel(attrs.evolve(spec, files={**spec.files, "shared/__init__.py": stored}), wheels)
    corrupt_member(aa, "shared/__init__.py")
    bb = build_wheel(sharing("bb", "sha512"), wheels)
    env = tmp_path / "env"
    python = make_env(env)
    assert refused_unchanged(env, "install", aa, bb, "--python", python) == (
        "error: aa-1.0-py3-none-any.whl: 'shared/__init__.py' does not match its RECORD hash"
        " or size (the wheel is corrupt or was changed); the apply was rolled back, nothing"
        " was changed\n"
    )


def family(name: str, algorithm: str, shared: bytes = SHARED, mode: int = 0o644) -> WheelSpec:
    """`sharing`, and a `#!python` script every wheel of the family ships too."""
    spec = sharing(name, algorithm, shared)
    files = {
        **spec.files,
        "shared/__init__.py": Member("shared/__init__.py", shared, mode=mode),
        f"{name}-1.0.data/scripts/family-tool": SCRIPT,
    }
    return attrs.evolve(spec, files=files)


def test_the_same_bytes_two_wheels_hash_with_other_algorithms_are_written_once(
    tmp_path: Path,
) -> None:
    """Planned together, wheels shipping the same bytes under RECORD hashes of other
    algorithms were refused as different content, where pip and uv install them."""
    wheels = tmp_path / "wheels"
    algorithms = {"aa": "sha512", "bb": "sha256", "cc": "blake2b"}
    built = [build_wheel(family(name, algorithm), wheels) for name, algorithm in algorithms.items()]
    env = tmp_path / "env"
    python = make_env(env)
    plan = tmp_path / "plan.json"
    save_plan(python, plan, built)
    data = planned(plan)
    shared = [f"{SITE}/shared/__init__.py", f"{SITE}/shared/large.txt", "bin/family-tool"]
    assert {c["path"]: (c["kind"], c["resolution"]) for c in data["conflicts"]} == {
        path: ("identical", "shared") for path in shared
    }
    files = {entry["path"]: entry for entry in data["files"]}
    units = [path for unit in data["units"] for path in unit["paths"]]
    for path in shared:
        # One write, from the first owner's member, listed by every owner.
        assert files[path]["owners"] == ["aa", "bb", "cc"]
        assert files[path]["source"]["wheel"] == "aa-1.0-py3-none-any.whl"
        assert units.count(path) == 1
    # Each other owner's own hash of those bytes, for the apply to check and list.
    member = {path: data for path, data in zip(shared, (SHARED, LARGE, SCRIPT), strict=True)}
    assert data["owner_hashes"] == [
        {"path": path, "owner": owner, "hash": record_hash(member[path], algorithms[owner])}
        for path in sorted(shared)
        for owner in ("bb", "cc")
    ]
    # The review calls them what they are: one content, shared.
    shown = ok("show", plan)
    assert " identical content (written once, listed in every owner's RECORD):\n" in shown
    for path in shared:
        assert f"  {path}: aa, bb, cc -> shared\n" in shown
    ok("apply", plan, "--quiet")
    written = (env / "bin" / "family-tool").read_bytes()
    for name, algorithm in algorithms.items():
        rows = record_rows(env, f"{name}-1.0.dist-info")
        assert rows["shared/__init__.py"] == (record_hash(SHARED, algorithm), str(len(SHARED)))
        assert rows["shared/large.txt"] == (record_hash(LARGE, algorithm), str(len(LARGE)))
        # A rewritten script is hashed as written, by every owner alike, as pip does.
        assert rows["../../../bin/family-tool"] == (record_hash(written), str(len(written)))
    ok("verify", "--python", python)
    ok("uninstall", "aa", "--python", python, "--quiet")
    assert (env / SITE / "shared" / "__init__.py").read_bytes() == SHARED
    ok("verify", "--python", python)


def test_other_bytes_under_other_algorithms_are_still_an_overlap(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    aa = build_wheel(family("aa", "sha256"), wheels)
    bb = build_wheel(family("bb", "sha512", b"# other bytes\n"), wheels)
    cc = build_wheel(family("cc", "blake2b"), wheels)
    dd = build_wheel(family("dd", "sha512", mode=0o755), wheels)
    env = tmp_path / "env"
    python = make_env(env)
    assert refused_unchanged(env, "install", aa, bb, cc, "--python", python) == (
        f"error: {SITE}/shared/__init__.py: different content from aa"
        " (aa-1.0-py3-none-any.whl), bb (bb-1.0-py3-none-any.whl), cc"
        " (cc-1.0-py3-none-any.whl); choose one with --prefer NAME\n"
    )
    assert refused_unchanged(env, "install", aa, dd, "--python", python) == (
        f"error: {SITE}/shared/__init__.py: the same bytes with different file modes"
        " (aa (aa-1.0-py3-none-any.whl): 0o644, dd (dd-1.0-py3-none-any.whl): 0o755);"
        " choose one with --prefer NAME\n"
    )
    # The winner's bytes, shared with the owner whose are the same by another algorithm.
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [aa, bb, cc], "--prefer", "aa")
    data = planned(plan)
    (entry,) = (e for e in data["files"] if e["path"] == f"{SITE}/shared/__init__.py")
    assert (entry["owners"], entry["source"]["wheel"]) == (["aa", "cc"], "aa-1.0-py3-none-any.whl")
    assert {(h["path"], h["owner"]) for h in data["owner_hashes"]} == {
        (f"{SITE}/shared/__init__.py", "cc"),
        (f"{SITE}/shared/large.txt", "bb"),
        (f"{SITE}/shared/large.txt", "cc"),
        ("bin/family-tool", "bb"),
        ("bin/family-tool", "cc"),
    }
    ok("apply", plan, "--quiet")
    assert (env / SITE / "shared" / "__init__.py").read_bytes() == SHARED
    assert "shared/__init__.py" not in record_rows(env, "bb-1.0.dist-info")
    ok("verify", "--python", python)
