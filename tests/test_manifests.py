"""Wheel manifests (applier/manifests.py): a wheel whose sha256 the index knows is taken
from what the reader made of it before, and the plan is byte for byte the plan of a
fresh read; anything that is not exactly that wheel, read that way, is read afresh."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from applier import manifests as manifests_module
from applier import wheelindex
from applier.manifests import DIRECTORY, Manifests, dump, framed, parse
from planner import archive, hashing, wheelhash, wheelreader
from planner.build import Request, make_plan
from planner.entrypoints import EntryScript
from planner.errors import Refused
from planner.limits import Limits
from planner.planjson import dumps
from planner.target import TargetInfo
from planner.wheelreader import read_wheel, read_wheels
from planner.wheels import Member, Wheel
from tests.imagetools import LockPackage, wheel_entry, write_pylock
from tests.plannertools import fake_target
from tests.wheelfactory import Member as Zipped
from tests.wheelfactory import WheelSpec, build_wheel
from wheelplan import cli

Reads = list[str]


@pytest.fixture(autouse=True)
def _index_fresh_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wheels built a moment ago are indexed (the index waits two seconds otherwise)."""
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """The paths read_wheels reads from their archives."""
    done: Reads = []
    real = wheelreader.read_wheel

    def counting(path: str, *args: Any) -> Wheel:
        done.append(path)
        return real(path, *args)

    monkeypatch.setattr(wheelreader, "read_wheel", counting)
    return done


def demo_spec(name: str = "demo", version: str = "1.0") -> WheelSpec:
    """Entry points, .data scripts and data, an executable, a stored member and warnings
    (a case collision, a setuid bit, a __pycache__ member, Wheel-Version 1.1)."""
    data = f"{name}-{version}.data"
    return WheelSpec(
        name,
        version=version,
        files={
            f"{name}/__init__.py": b"def main():\n    return 0\n",
            f"{name}/Readme.txt": b"upper\n",
            f"{name}/readme.txt": b"lower\n",
            f"{name}/stored.bin": Zipped(
                f"{name}/stored.bin", b"\0" * 300, compress_type=zipfile.ZIP_STORED
            ),
            f"{name}/run.sh": Zipped(f"{name}/run.sh", b"#!/bin/sh\n", mode=0o4755),
            f"{name}/__pycache__/x.cpython-311.pyc": b"bytecode",
            f"{data}/scripts/{name}-tool": Zipped(
                f"{data}/scripts/{name}-tool", b"#!python\nprint(1)\n", mode=0o755
            ),
            f"{data}/data/share/{name}.txt": b"shared\n",
            f"{data}/headers/{name}.h": b"int x;\n",
        },
        entry_points=f"[console_scripts]\n{name}-cli = {name}:main\n"
        f"[gui_scripts]\n{name}-gui = {name}:main [extra]\n",
        requires=("attrs>=20", "packaging; python_version > '3'"),
        requires_python=">=3.8",
        wheel_text="Wheel-Version: 1.1\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    )


def target_at(directory: Path) -> TargetInfo:
    prefix = directory / "prefix"
    prefix.mkdir(exist_ok=True)
    return fake_target(prefix)


def outcome(read: Callable[[], list[Wheel]], paths: list[str], target: TargetInfo) -> str:
    """The plan's text as `cli plan --json` writes it, or the refusal's problems."""
    try:
        request = Request(wheels=tuple(paths), read=tuple(read()))
        return dumps(make_plan(request, target))
    except Refused as refused:
        return "refused:\n" + "\n".join(map(str, refused.problems))


def cached_read(paths: list[str], cache: Path, limits: Limits | None = None) -> list[Wheel]:
    """read_wheels as `plan` calls it with a cache: index and manifests, saved after."""
    index = wheelindex.WheelIndex(str(cache))
    manifests = Manifests(str(cache))
    try:
        return read_wheels(paths, limits or Limits(), index, manifests)
    finally:
        manifests.save(index)
        index.save()


def manifest_files(cache: Path) -> list[Path]:
    return sorted((cache / DIRECTORY).rglob("*.json"))


# --- the same plan, read or remembered ---------------------------------------------


def test_a_hit_gives_the_wheel_and_plan_of_a_fresh_read(tmp_path: Path, reads: Reads) -> None:
    paths = [str(build_wheel(demo_spec(name), tmp_path / "wheels")) for name in ("one", "two")]
    target = target_at(tmp_path)
    cache = tmp_path / "cache"
    fresh = read_wheels(paths, Limits())
    assert fresh[0].warnings and fresh[0].entry_points  # the wheels exercise both
    assert any(member.name.startswith("one-1.0.data/") for member in fresh[0].members)
    uncached = outcome(lambda: read_wheels(paths, Limits()), paths, target)
    reads.clear()
    first = outcome(lambda: cached_read(paths, cache), paths, target)
    assert reads == paths  # a miss: read, and the manifests written
    assert len(manifest_files(cache)) == 2
    reads.clear()
    remembered = cached_read(paths, cache)
    assert reads == []  # a hit: not read
    assert remembered == fresh
    second = outcome(lambda: cached_read(paths, cache), paths, target)
    assert uncached == first == second
    assert not uncached.startswith("refused")


def test_a_hit_neither_reads_the_archive_nor_hashes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    expected = cached_read(paths, cache)

    def forbidden(*args: object) -> Any:
        raise AssertionError("the archive was read or hashed")

    monkeypatch.setattr(wheelreader, "read_wheel", forbidden)
    monkeypatch.setattr(archive, "read_entries", forbidden)
    monkeypatch.setattr(wheelhash, "mapped_sha256", forbidden)
    monkeypatch.setattr(hashing, "mapped_sha256", forbidden)
    monkeypatch.setattr(wheelindex, "file_sha256", forbidden)
    assert cached_read(paths, cache) == expected


def test_the_manifest_holds_every_field_of_the_wheel(tmp_path: Path) -> None:
    """Every field of Wheel, Member and EntryScript is in the manifest, by its name: one
    added later reaches it, and a manifest without it is a miss."""
    wheel = read_wheel(str(build_wheel(demo_spec(), tmp_path)))
    text = dump(wheel, Limits())
    framing = json.loads(text)
    assert set(framing) == {"crc32", "manifest"}
    data = framing["manifest"]
    assert set(data) == {"reader", "limits", "wheel"}
    assert set(data["wheel"]) == {field.name for field in attrs.fields(Wheel)}
    assert set(data["wheel"]["members"][0]) == {field.name for field in attrs.fields(Member)}
    scripts = data["wheel"]["entry_points"]
    assert set(scripts[0]) == {field.name for field in attrs.fields(EntryScript)}
    assert parse(text, wheel.path, wheel.sha256, wheel.size, Limits()) == wheel
    # The same wheel is always written as the same bytes: its tags, a set, sorted.
    tags = [f"py3{minor}-none-any" for minor in range(10)]
    many = json.loads(dump(attrs.evolve(wheel, tags=frozenset(tags)), Limits()))
    assert many["manifest"]["wheel"]["tags"] == sorted(tags)


# Member paths under the wheel's package, or under its .data folder by scheme.
_PATHS = ("__init__.py", "a.py", "A.py", "sub/b.py", "sub/__pycache__/b.pyc", "x.bin")
_DATA = ("scripts/tool", "data/share/doc.txt", "headers/h.h", "purelib/extra.py")
_CONTENTS = (b"", b"one\n", b"#!python\nprint(1)\n", b"two\n" * 500)
_MODES = (0o644, 0o755, 0o2755)


@st.composite
def wheel_specs(draw: st.DrawFn, name: str) -> WheelSpec:
    files: dict[str, bytes | Zipped] = {}
    for path in draw(st.lists(st.sampled_from(_PATHS + _DATA), unique=True, max_size=8)):
        full = f"{name}/{path}" if path in _PATHS else f"{name}-1.0.data/{path}-{name}"
        files[full] = Zipped(
            full,
            draw(st.sampled_from(_CONTENTS)),
            mode=draw(st.sampled_from(_MODES)),
            compress_type=draw(st.sampled_from((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED))),
        )
    scripts = draw(st.lists(st.sampled_from(("cli", "other")), unique=True))
    return WheelSpec(
        name,
        files=files,
        entry_points="[console_scripts]\n"
        + "".join(f"{name}-{script} = {name}.mod:run\n" for script in scripts)
        if scripts
        else None,
        requires=tuple(draw(st.lists(st.sampled_from(("attrs", "idna>=3")), unique=True))),
        # Met, unmet (the plan is refused) and unreadable (a warning).
        requires_python=draw(st.sampled_from((None, ">=3.8", "<3", ">=3.x"))),
        root_is_purelib=draw(st.booleans()),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(("alpha", "beta", "gamma")), min_size=1, unique=True).flatmap(
        lambda names: st.tuples(*(wheel_specs(name) for name in names))
    )
)
def test_generated_wheels_plan_the_same_uncached_read_and_remembered(
    specs: tuple[WheelSpec, ...],
) -> None:
    with tempfile.TemporaryDirectory(prefix="wheelplan-manifests-") as folder:
        directory = Path(folder)
        paths = [str(build_wheel(spec, directory / "wheels")) for spec in specs]
        target = target_at(directory)
        cache = directory / "cache"
        uncached = outcome(lambda: read_wheels(paths, Limits()), paths, target)
        first = outcome(lambda: cached_read(paths, cache), paths, target)
        remembered = Manifests(str(cache))
        for path in paths:
            wheel = read_wheel(path)
            assert remembered.known(wheel.path, wheel.sha256, wheel.size, Limits()) == wheel
        second = outcome(lambda: cached_read(paths, cache), paths, target)
        assert uncached == first == second


# --- misses -------------------------------------------------------------------------


def _stamp(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """An edit to what the manifest says, framed with its new CRC-32 as an editor who
    read manifests.py would frame it: only the other checks can find it."""

    def damage(manifest: Path) -> None:
        data = json.loads(manifest.read_bytes())["manifest"]
        change(data)
        manifest.write_bytes(framed(json.dumps(data).encode()))

    return damage


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """An edit (see `_stamp`) to the manifest's wheel (the object under "wheel")."""
    return _stamp(lambda data: change(data["wheel"]))


def _unframed(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """A change to the manifest's bytes, under the CRC-32 of the old ones: damage."""

    def damage(manifest: Path) -> None:
        manifest.write_bytes(change(manifest.read_bytes()))

    return damage


def _member(change: Callable[[dict[str, Any]], None], within: str = "") -> Callable[[Path], None]:
    """A damage that changes the first member whose name holds `within`."""
    return _edit(lambda wheel: change(next(m for m in wheel["members"] if within in m["name"])))


def _script(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """A damage that changes the first entry point script."""
    return _edit(lambda wheel: change(wheel["entry_points"][0]))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": lambda manifest: manifest.write_bytes(manifest.read_bytes()[:-40]),
    "empty": lambda manifest: manifest.write_bytes(b""),
    "not utf-8": lambda manifest: manifest.write_bytes(b"\xff\xfe{"),
    "deeply nested": lambda manifest: manifest.write_bytes(b"[" * 100_000),
    "a list": lambda manifest: manifest.write_text("[]"),
    "a digit changed": _unframed(lambda text: text.replace(b'"offset":0,', b'"offset":1,', 1)),
    "unframed": _unframed(lambda text: text[text.index(b'"manifest":') + 11 : -1]),
    "framed twice": _unframed(framed),
    "a list framed": _unframed(lambda text: framed(b"[]")),
    "other reader": _stamp(lambda data: data["reader"].__setitem__(0, data["reader"][0] + 1)),
    "other interpreter": _stamp(lambda data: data["reader"].__setitem__(1, "2.7")),
    "reader too short": _stamp(lambda data: data["reader"].pop()),
    "limits missing": _stamp(lambda data: data.pop("limits")),
    "wheel missing": _stamp(lambda data: data.pop("wheel")),
    "field missing": _edit(lambda wheel: wheel.pop("warnings")),
    "size is a string": _edit(lambda wheel: wheel.__setitem__("size", str(wheel["size"]))),
    "purelib is a number": _edit(lambda wheel: wheel.__setitem__("root_is_purelib", 1)),
    "offset is a string": _edit(lambda wheel: wheel["members"][0].__setitem__("offset", "30")),
    "offset is a boolean": _edit(lambda wheel: wheel["members"][0].__setitem__("offset", True)),
    "member field missing": _edit(lambda wheel: wheel["members"][0].pop("hash")),
    "member is a string": _edit(lambda wheel: wheel["members"].__setitem__(0, "abcdefg")),
    "script field missing": _edit(lambda wheel: wheel["entry_points"][0].pop("section")),
    "a warning is a number": _edit(lambda wheel: wheel["warnings"].append(1)),
    "tags is a string": _edit(lambda wheel: wheel.__setitem__("tags", "py3-none-any")),
    "other sha256": _edit(lambda wheel: wheel.__setitem__("sha256", "0" * 64)),
    "other path": _edit(lambda wheel: wheel.__setitem__("path", wheel["path"] + "x")),
    "other file name": _edit(lambda wheel: wheel.__setitem__("filename", "x.whl")),
    "other size": _edit(lambda wheel: wheel.__setitem__("size", wheel["size"] + 1)),
    # Values the reader never gives: each is a miss, not a plan that apply refuses (or,
    # for names and scripts, not one it could not tell from a good one).
    "offset is negative": _member(lambda member: member.__setitem__("offset", -1)),
    "size is negative": _member(lambda member: member.__setitem__("size", -1)),
    "compressed size past any file": _member(
        lambda member: member.__setitem__("compressed_size", 2**63)
    ),
    "compression is bzip2": _member(lambda member: member.__setitem__("compression", 12)),
    "mode is setuid": _member(lambda member: member.__setitem__("mode", 0o4755)),
    "hash is md5": _member(lambda member: member.__setitem__("hash", "md5=AAAA")),
    "hash is empty": _member(lambda member: member.__setitem__("hash", "sha256=")),
    "hash is padded": _member(lambda member: member.__setitem__("hash", member["hash"] + "=")),
    "a .data key no scheme has": _member(
        lambda member: member.__setitem__("name", "demo-1.0.data/bogus/x"), ".data/"
    ),
    "a file in place of the .data folder": _member(
        lambda member: member.__setitem__("name", "demo-1.0.data"), ".data/"
    ),
    "a file in place of a .data scheme": _member(
        lambda member: member.__setitem__("name", "demo-1.0.data/scripts"), ".data/"
    ),
    "script module is code": _script(
        lambda script: script.__setitem__("module", "os; os.system('id'); import demo")
    ),
    "script attr is code": _script(lambda script: script.__setitem__("attr", "main(); id()")),
    "script section is unknown": _script(lambda script: script.__setitem__("section", "daemon")),
    "script name is a path": _script(lambda script: script.__setitem__("name", "sub/demo-cli")),
    "script name is dot-dot": _script(lambda script: script.__setitem__("name", "..")),
    "another name": _edit(lambda wheel: wheel.__setitem__("name", "other")),
    "another version": _edit(lambda wheel: wheel.__setitem__("version", "2.0")),
    "other tags": _edit(lambda wheel: wheel.__setitem__("tags", ["cp27-cp27m-win32"])),
    "dist-info elsewhere": _edit(
        lambda wheel: wheel.__setitem__("dist_info", "../demo-1.0.dist-info")
    ),
    "dist-info of another": _edit(
        lambda wheel: wheel.__setitem__("dist_info", "other-1.0.dist-info")
    ),
    "dist-info respelled": _edit(
        lambda wheel: wheel.update(dist_info="Demo-1.0.0.dist-info", data_dir="Demo-1.0.0.data")
    ),
    "dist-info version past int": _edit(
        lambda wheel: wheel.update(
            dist_info=f"demo-{'1' * 5000}.dist-info", data_dir=f"demo-{'1' * 5000}.data"
        )
    ),
    "data folder elsewhere": _edit(lambda wheel: wheel.__setitem__("data_dir", "other-1.0.data")),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_manifest_is_a_miss_and_is_replaced(
    tmp_path: Path, reads: Reads, damage: Callable[[Path], None]
) -> None:
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    expected = cached_read(paths, cache)
    (manifest,) = manifest_files(cache)
    damage(manifest)
    reads.clear()
    assert cached_read(paths, cache) == expected
    assert reads == paths
    reads.clear()
    assert cached_read(paths, cache) == expected  # the fresh manifest is used
    assert reads == []


def test_a_manifest_of_more_members_than_max_entries_is_a_miss(
    tmp_path: Path, reads: Reads
) -> None:
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    limits = Limits(max_entries=15)
    expected = cached_read(paths, cache, limits)
    (manifest,) = manifest_files(cache)
    _edit(lambda wheel: wheel["members"].extend(wheel["members"]))(manifest)
    reads.clear()
    assert cached_read(paths, cache, limits) == expected
    assert reads == paths


def test_other_limits_are_a_miss(tmp_path: Path, reads: Reads) -> None:
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    cached_read(paths, cache)
    reads.clear()
    strict = Limits(max_entries=3)
    with pytest.raises(Refused, match="more than the limit of 3"):
        cached_read(paths, cache, strict)
    assert reads == paths
    other = Limits(max_ratio=150)
    expected = read_wheels(paths, other)
    reads.clear()
    assert cached_read(paths, cache, other) == expected
    assert reads == paths


def test_a_wheel_rewritten_with_other_bytes_is_read_again(tmp_path: Path, reads: Reads) -> None:
    path = build_wheel(demo_spec(), tmp_path / "wheels")
    cache = tmp_path / "cache"
    first = cached_read([str(path)], cache)
    spec = attrs.evolve(demo_spec(), files={"demo/__init__.py": b"changed = True\n"})
    os.replace(build_wheel(spec, tmp_path / "new"), path)
    reads.clear()
    second = cached_read([str(path)], cache)
    assert reads == [str(path)]
    assert second == read_wheels([str(path)], Limits())
    assert second[0].sha256 != first[0].sha256
    assert len(manifest_files(cache)) == 2


def test_the_same_bytes_under_another_name_are_read_again(tmp_path: Path, reads: Reads) -> None:
    """Warnings name the file: a manifest is for one path."""
    original = build_wheel(demo_spec(), tmp_path / "wheels")
    cache = tmp_path / "cache"
    first = cached_read([str(original)], cache)
    for copy in (
        tmp_path / "elsewhere" / original.name,
        tmp_path / "wheels" / "demo-1.0-1build-py3-none-any.whl",
    ):
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(original, copy)
        # The index knows the copy, so only the manifest's path tells them apart.
        index = wheelindex.WheelIndex(str(cache))
        index.remember(str(copy), os.stat(copy), first[0].sha256)
        index.save()
        reads.clear()
        (wheel,) = cached_read([str(copy)], cache)
        assert reads == [str(copy)]
        assert wheel == read_wheel(str(copy))
        assert wheel.sha256 == first[0].sha256
        assert all(warning.startswith(f"{copy.name}: ") for warning in wheel.warnings)


def test_an_unindexed_wheel_is_read_whatever_its_manifest(tmp_path: Path, reads: Reads) -> None:
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    cached_read(paths, cache)
    (cache / wheelindex.INDEX).unlink()
    reads.clear()
    cached_read(paths, cache)
    assert reads == paths


def test_a_wheel_too_new_to_index_gets_no_manifest(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an indexed wheel is ever taken from its manifest: writing one is wasted."""
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 10**18)
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    cached_read(paths, cache)
    assert manifest_files(cache) == []
    monkeypatch.setattr(wheelindex, "_SETTLED_NS", 0)
    cached_read(paths, cache)
    assert len(manifest_files(cache)) == 1
    reads.clear()
    cached_read(paths, cache)
    assert reads == []


def test_a_refused_wheel_leaves_no_manifest(tmp_path: Path) -> None:
    bad = build_wheel(
        attrs.evolve(demo_spec(), omit=frozenset({"demo-1.0.dist-info/WHEEL"})), tmp_path
    )
    cache = tmp_path / "cache"
    with pytest.raises(Refused, match="WHEEL file is missing"):
        cached_read([str(bad)], cache)
    assert manifest_files(cache) == []


def test_a_wheel_path_json_cannot_hold_gets_no_manifest(tmp_path: Path) -> None:
    """A plan refuses a wheel path that is not UTF-8; saving the manifests of the wheels
    read must not fail on one first (a traceback in place of that refusal)."""
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/not-utf8-\xff"))
    paths = [str(build_wheel(demo_spec(), folder))]
    cache = tmp_path / "cache"
    assert [wheel.path for wheel in cached_read(paths, cache)] == paths
    assert manifest_files(cache) == []


def test_an_unwritable_cache_is_no_error(tmp_path: Path) -> None:
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / DIRECTORY).write_bytes(b"a file where the folder belongs")
    assert cached_read(paths, cache) == read_wheels(paths, Limits())


# --- the command line ---------------------------------------------------------------


def cli_plan(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    assert cli.main(["plan", "--json", *map(str, args)]) == 0
    return capsys.readouterr().out


@pytest.fixture
def cli_wheels(tmp_path: Path) -> list[Path]:
    return [build_wheel(demo_spec(name), tmp_path / "wheels") for name in ("one", "two")]


def assert_plans_use_and_fill(
    capsys: pytest.CaptureFixture[str], reads: Reads, cache: Path, common: tuple[str | Path, ...]
) -> None:
    """Planned without the cache, then filling it, then from it: the same plan each
    time, and no wheel read the last time."""
    uncached = cli_plan(capsys, *common, "--no-cache")
    first = cli_plan(capsys, *common, "--cache-dir", cache)
    assert len(manifest_files(cache)) == 2
    reads.clear()
    second = cli_plan(capsys, *common, "--cache-dir", cache)
    assert reads == []
    assert uncached == first == second


def test_plan_uses_and_fills_the_manifests(
    tmp_path: Path,
    target: Path,
    cli_wheels: list[Path],
    reads: Reads,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache"
    common = (*cli_wheels, "--python", target)
    assert_plans_use_and_fill(capsys, reads, cache, common)


def test_no_cache_neither_reads_nor_writes_manifests(
    tmp_path: Path,
    target: Path,
    cli_wheels: list[Path],
    reads: Reads,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "cache"
    common = (*cli_wheels, "--python", target, "--cache-dir", cache)
    expected = cli_plan(capsys, *common)

    def tree() -> dict[str, int]:
        return {str(path): path.stat().st_mtime_ns for path in cache.rglob("*")}

    before = tree()

    def forbidden(*args: object) -> Any:
        raise AssertionError("the cache was used under --no-cache")

    monkeypatch.setattr(manifests_module.Manifests, "known", forbidden)
    monkeypatch.setattr(manifests_module.Manifests, "save", forbidden)
    reads.clear()
    assert cli_plan(capsys, *common, "--no-cache") == expected
    assert reads == [str(wheel) for wheel in cli_wheels]
    assert tree() == before
    shutil.rmtree(cache)
    cli_plan(capsys, *common, "--no-cache")
    assert not cache.exists()


def test_a_wheel_that_cannot_be_opened_is_refused_whatever_its_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [str(build_wheel(demo_spec(), tmp_path / "wheels"))]
    cache = tmp_path / "cache"
    cached_read(paths, cache)

    def denied(path: str) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(wheelreader, "open_regular", denied)
    with pytest.raises(Refused, match="cannot read wheel: Permission denied"):
        cached_read(paths, cache)


def test_a_lock_plan_uses_and_fills_the_manifests(
    tmp_path: Path,
    target: Path,
    cli_wheels: list[Path],
    reads: Reads,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lock = write_pylock(
        tmp_path / "pylock.toml",
        [
            LockPackage(name, wheels=(wheel_entry(wheel, path=f"wheels/{wheel.name}"),))
            for name, wheel in zip(("one", "two"), cli_wheels, strict=True)
        ],
    )
    cache = tmp_path / "cache"
    common = ("--lock", lock, "--python", target, "--wheel-dir", tmp_path / "downloads")
    assert_plans_use_and_fill(capsys, reads, cache, common)
