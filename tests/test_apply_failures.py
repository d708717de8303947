"""An apply that cannot finish leaves the target exactly as it was.

Refusals come before the first write (a stale wheel, a changed target, a plan that
is not what the planner wrote); a RECORD hash mismatch found while streaming stops
every worker and rolls back whatever was written.
"""

from __future__ import annotations

import errno
import json
import os
import random
import select
import signal
import subprocess
import threading
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from applier import journal, recovery, unitwriter, wheelindex, workers
from applier import preflight as preflight_module
from applier.apply import apply_plan
from applier.atomic import fsync_dir, write_atomic
from applier.bytecode import Compiled, write_pycs
from applier.links import Linker
from applier.options import Options
from applier.preflight import start_preflight
from applier.records import write_record
from applier.streams import write_file
from applier.validate import validate
from planner.errors import Refused
from planner.plan import Distribution, Source, Target
from planner.planjson import digest_of, dumps, loads
from planner.target import BackgroundProbe
from tests.applytools import SCHEMES, plan_for, with_units, writes_of
from tests.conftest import exact_snapshot, give_to_another_user
from tests.hostile import RESERVED
from tests.wheelfactory import Member, WheelSpec, build_wheel, record_hash

Cli = Callable[..., subprocess.CompletedProcess[str]]
WRONG_HASH = "sha256=" + "A" * 43


def many_files(name: str, count: int = 60, version: str = "1.0") -> dict[str, bytes | Member]:
    return {f"{name}/m{index:03}.py": b"# %d\n" % index * 50 for index in range(count)}


def corrupt(path: str, data: bytes) -> Member:
    """A member whose RECORD row has the right size and the wrong hash."""
    return Member(path, data, record_row=f"{path},{WRONG_HASH},{len(data)}")


def assert_refused(completed: subprocess.CompletedProcess[str], *words: str) -> None:
    assert completed.returncode == 1, completed.stdout
    lines = completed.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), completed.stderr
    assert "Traceback" not in completed.stderr
    for word in words:
        assert word in completed.stderr


def test_a_wheel_changed_after_planning_is_refused(tmp_path: Path, target: Path, cli: Cli) -> None:
    spec = WheelSpec("fresh", files={"fresh/__init__.py": b"VALUE = 1\n"})
    wheel = build_wheel(spec, tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    assert cli("plan", "--python", target, "-o", plan, wheel).returncode == 0
    env = target.parent.parent
    before = exact_snapshot(env)
    build_wheel(
        WheelSpec("fresh", files={"fresh/__init__.py": b"VALUE = 2\n"}), tmp_path / "wheels"
    )
    assert_refused(cli("apply", plan), "changed since the plan was made", wheel.name)
    assert exact_snapshot(env) == before
    moved = tmp_path / "moved"
    moved.mkdir()
    wheel.rename(moved / wheel.name)
    # A wheel moved away since the plan: the error says how to point the apply at it.
    assert cli("apply", plan).stderr == (
        f"error: {wheel}: cannot read wheel: No such file or directory; if the wheels are in"
        " another folder, give it with --wheel-dir DIR\n"
    )
    assert exact_snapshot(env) == before
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert cli("apply", plan, "--wheel-dir", elsewhere).stderr == (
        f"error: {elsewhere / wheel.name}: cannot read wheel: No such file or directory\n"
    )
    assert exact_snapshot(env) == before


def test_a_target_changed_after_planning_is_refused(tmp_path: Path, target: Path, cli: Cli) -> None:
    first = build_wheel(WheelSpec("first", files={"first/__init__.py": b""}), tmp_path / "w")
    other = build_wheel(WheelSpec("other", files={"other/__init__.py": b""}), tmp_path / "w")
    plan = tmp_path / "plan.json"
    assert cli("plan", "--python", target, "-o", plan, first).returncode == 0
    assert cli("install", "--python", target, other).returncode == 0
    env = target.parent.parent
    before = exact_snapshot(env)
    assert_refused(cli("apply", plan), "target changed since the plan was made")
    assert exact_snapshot(env) == before


def _change(cli: Cli, target: Path, wheels: dict[str, Path], kind: str) -> None:
    """Change the target as another tool would between a plan and its apply."""
    if kind == "install":
        later = sorted(name for name in wheels if name not in ("gone", "edited", "fresh"))
        assert (
            cli("install", "--python", target, "--quiet", *map(wheels.get, later)).returncode == 0
        )
    elif kind == "uninstall":
        assert cli("uninstall", "--python", target, "--quiet", "gone").returncode == 0
    else:  # a RECORD with a row more, as a tool that adds a file to a distribution leaves it
        (site,) = target.parent.parent.glob("lib/python3*/site-packages")
        record = site / "edited-1.0.dist-info" / "RECORD"
        record.write_text(record.read_text() + "edited/added.py,,\n")


def _stale_refusal(
    tmp_path: Path, target: Path, cli: Cli, kinds: Sequence[str], later: Sequence[str]
) -> str:
    """The error of applying a plan of `fresh`, made where `gone` and `edited` are
    installed, after the changes `kinds` (installing `later`); the apply changes nothing."""
    wheels = {
        name: build_wheel(WheelSpec(name, files={f"{name}/__init__.py": b""}), tmp_path / "w")
        for name in ("gone", "edited", "fresh", *later)
    }
    installed = cli("install", "--python", target, "--quiet", wheels["gone"], wheels["edited"])
    assert installed.returncode == 0, installed.stderr
    plan = tmp_path / "plan.json"
    assert cli("plan", "--python", target, "-o", plan, wheels["fresh"]).returncode == 0
    for kind in kinds:
        _change(cli, target, wheels, kind)
    env = target.parent.parent
    before = exact_snapshot(env)
    refused = cli("apply", plan)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert exact_snapshot(env) == before
    return refused.stderr


@pytest.mark.parametrize("plan_args", [("--remove", "mine"), ("--reinstall", "WHEEL")])
def test_a_file_gone_since_the_plan_is_refused_before_anything_changes(
    tmp_path: Path, target: Path, cli: Cli, plan_args: tuple[str, str]
) -> None:
    """A file the plan removes or replaces, deleted since by hand (the RECORDs that tell
    a stale plan are as they were), is named with the way out, before the transaction
    begins: not found missing only once files are being moved aside."""
    files = {"mine/__init__.py": b"", "mine/extra.py": b"X = 1\n"}
    wheel = build_wheel(WheelSpec("mine", files=files), tmp_path / "w")
    assert cli("install", "--python", target, "--quiet", wheel).returncode == 0
    plan = tmp_path / "plan.json"
    args = [wheel if arg == "WHEEL" else arg for arg in plan_args]
    assert cli("plan", "--python", target, "-o", plan, *args).returncode == 0
    env = target.parent.parent
    (gone,) = env.glob("lib/python3*/site-packages/mine/extra.py")
    gone.unlink()
    before = exact_snapshot(env)
    refused = cli("apply", plan)
    assert (refused.returncode, refused.stderr) == (
        1,
        f"error: {gone.relative_to(env)}: is missing from the target but the plan expected"
        " it; plan again\n",
    )
    assert exact_snapshot(env) == before


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("install", "installed since: later-1.0.dist-info"),
        ("uninstall", "removed since: gone-1.0.dist-info"),
        ("relist", "file list changed: edited-1.0.dist-info"),
    ],
)
def test_a_stale_plan_names_the_distribution_that_changed(
    tmp_path: Path, target: Path, cli: Cli, kind: str, named: str
) -> None:
    """pip and uv users are told what changed, not only that something did."""
    env = target.parent.parent
    assert _stale_refusal(tmp_path, target, cli, [kind], ["later"]) == (
        f"error: {env}: the target changed since the plan was made ({named}); plan again\n"
    )


def test_a_stale_plan_names_a_few_of_each_change_and_counts_the_rest(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """One line however much changed: three names of each kind, then how many more."""
    env = target.parent.parent
    kinds = ["install", "uninstall", "relist"]
    assert _stale_refusal(tmp_path, target, cli, kinds, list("edcba")) == (
        f"error: {env}: the target changed since the plan was made (installed since:"
        " a-1.0.dist-info, b-1.0.dist-info, c-1.0.dist-info and 2 more; removed since:"
        " gone-1.0.dist-info; file list changed: edited-1.0.dist-info); plan again\n"
    )


def _beside_junk(tmp_path: Path, target: Path, cli: Cli, names: list[bytes]) -> list[bytes]:
    """Metadata folders named `names` (with empty RECORDs) in the target's site folder,
    and a plan applied beside them; returns their paths."""
    (site,) = target.parent.parent.glob("lib/python3*/site-packages")
    junk = [os.fsencode(site) + b"/" + name for name in names]
    for folder in junk:
        os.mkdir(folder)
        with open(folder + b"/RECORD", "wb"):
            pass
    plan = tmp_path / "first.json"
    first = build_wheel(WheelSpec("first", files={"first/__init__.py": b""}), tmp_path / "w")
    assert cli("plan", "--python", target, "-o", plan, first).returncode == 0
    applied = cli("apply", plan)
    assert applied.returncode == 0, applied.stderr
    return junk


def _refused_once_relisted(tmp_path: Path, target: Path, cli: Cli, changed: list[bytes]) -> str:
    """What an apply says of a plan made before the RECORDs of `changed` grew a row,
    leaving the target as it was; the rows are taken out again."""
    second = build_wheel(WheelSpec("second", files={"second/__init__.py": b""}), tmp_path / "w")
    plan = tmp_path / "second.json"
    assert cli("plan", "--python", target, "-o", plan, second).returncode == 0
    for folder in changed:
        with open(folder + b"/RECORD", "ab") as record:
            record.write(b"junk/added.py,,\n")
    env = target.parent.parent
    before = exact_snapshot(env)
    refused = cli("apply", plan)
    assert exact_snapshot(env) == before
    for folder in changed:
        with open(folder + b"/RECORD", "wb"):
            pass
    return refused.stderr.replace(str(env), "ENV")


def test_a_metadata_folder_whose_name_is_no_text_is_planned_and_named_escaped(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """Junk in a site folder (a control character, bytes that are not UTF-8) never
    stopped a plan or its apply; the plan holds its name escaped, and an apply names it
    so when its list changed."""
    junk = _beside_junk(tmp_path, target, cli, [b"junk\x01-1.0.dist-info", b"\xff-1.0.dist-info"])
    assert _refused_once_relisted(tmp_path, target, cli, junk) == (
        "error: ENV: the target changed since the plan was made (file list changed:"
        " \\udcff-1.0.dist-info, junk\\x01-1.0.dist-info); plan again\n"
    )


def test_metadata_folders_whose_names_escape_alike_are_held_once(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A folder named with a control character and one named with the backslash text
    that escapes it were both held under one name, a plan that every apply refused
    as not sorted; they are held once, and a change to either is still told."""
    twins = _beside_junk(
        tmp_path, target, cli, [b"junk\x01-1.0.dist-info", b"junk\\x01-1.0.dist-info"]
    )
    for changed in twins:
        assert _refused_once_relisted(tmp_path, target, cli, [changed]) == (
            "error: ENV: the target changed since the plan was made (file list changed:"
            " junk\\x01-1.0.dist-info); plan again\n"
        )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("format", "format 99 is not supported"),
        ("digest", "digest does not match"),
        ("../escaped.py", "'..'"),
        ("/etc/escaped.py", "absolute"),
        (".wheelplan-journal/escaped.py", RESERVED),
        ("repeated", "key 'files' appears twice"),
    ],
)
def test_a_plan_that_is_not_the_planners_is_refused(
    tmp_path: Path, target: Path, cli: Cli, damage: str, message: str
) -> None:
    wheel = build_wheel(WheelSpec("plain", files={"plain/__init__.py": b""}), tmp_path / "w")
    plan = tmp_path / "plan.json"
    assert cli("plan", "--python", target, "-o", plan, wheel).returncode == 0
    data = json.loads(plan.read_text())
    if damage == "format":
        data["format"] = 99
    elif damage == "digest":
        data["files"][0]["owners"] = ["someone-else"]
    elif damage == "repeated":
        pass  # the text below shows a reviewer no files, and a parser every file
    else:
        # A destination moved out of the environment, digest and units kept consistent.
        entry = next(e for e in data["files"] if e["path"].endswith("plain/__init__.py"))
        moved = entry["path"]
        entry["path"] = damage
        for unit in data["units"]:
            unit["paths"] = [damage if path == moved else path for path in unit["paths"]]
        data["digest"] = digest_of(data)
    text = json.dumps(data)
    if damage == "repeated":
        text = text.replace('"files": [', '"files": [], "files": [', 1)
    plan.write_text(text)
    env = target.parent.parent
    before = exact_snapshot(env)
    assert_refused(cli("apply", plan), message, str(plan))
    assert exact_snapshot(env) == before
    assert not (env.parent / "escaped.py").exists()


def test_a_hash_mismatch_mid_stream_leaves_a_fresh_target_as_it_was(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    files = many_files("broken") | {
        "broken/zz_last.py": corrupt("broken/zz_last.py", b"# not what RECORD says\n" * 10)
    }
    good = build_wheel(WheelSpec("good", files=many_files("good")), tmp_path / "w")
    bad = build_wheel(
        WheelSpec("broken", files=files, entry_points="[console_scripts]\nb = broken:m\n"),
        tmp_path / "w",
    )
    env = target.parent.parent
    before = exact_snapshot(env)
    completed = cli("install", "--python", target, "--jobs", "2", good, bad)
    assert_refused(completed, "broken/zz_last.py", "RECORD hash", "rolled back")
    assert len(completed.stderr.splitlines()) == 1
    assert exact_snapshot(env) == before


def test_a_hash_mismatch_in_a_large_streamed_member_leaves_an_upgrade_undone(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    old = build_wheel(WheelSpec("big", version="1.0", files=many_files("big")), tmp_path / "old")
    assert cli("install", "--python", target, old).returncode == 0
    env = target.parent.parent
    before = exact_snapshot(env)
    # Found only after several 1 MiB chunks were written.
    payload = random.Random(3).randbytes(6 * 1024 * 1024)
    files = many_files("big") | {"big/payload.bin": corrupt("big/payload.bin", payload)}
    new = build_wheel(WheelSpec("big", version="2.0", files=files), tmp_path / "new")
    assert_refused(cli("install", "--python", target, new), "big/payload.bin", "rolled back")
    assert exact_snapshot(env) == before


def test_a_worker_killed_before_it_reports_fails_the_apply_and_rolls_back(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A worker process SIGKILLed mid-apply (the OOM killer) never reports: the apply
    says which worker died, exits 1 and leaves the target as it was. Unnoticed, its
    files went missing from the results, and the apply ended in a KeyError."""
    rng = random.Random(13)
    files = {f"demo/m{index:02}.bin": rng.randbytes(256 * 1024) for index in range(16)}
    wheel = build_wheel(WheelSpec("demo", files=dict(files)), tmp_path / "w")
    env = target.parent.parent
    before = exact_snapshot(env)
    killed = tmp_path / "killed"
    seams = {"WHEELPLAN_TEST_KILL": "demo/m15.bin", "WHEELPLAN_TEST_KILLED": str(killed)}
    completed = cli(
        *("install", "--python", target, "--jobs", "2", "--no-cache", wheel),
        env={**seams, "WHEELPLAN_WORKERS": "", "WHEELPLAN_FAULT": ""},
        module="tests.clihooks",
    )
    pid, written = map(int, killed.read_text().split())
    assert written > 0  # it had written files of its own: the kill came mid-apply
    assert_refused(
        completed,
        f"error: {env}: apply failed and was rolled back: ",
        f"worker process {pid} died (signal {signal.SIGKILL.value}) before reporting",
    )
    assert len(completed.stderr.splitlines()) == 1
    assert exact_snapshot(env) == before


@pytest.mark.parametrize("kind", ["processes", "threads"])
def test_a_failing_worker_stops_the_others_and_nothing_remains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Many units, many workers: the failure in one stops the others, which write no
    file past the one they are on, and still rolls back every unit's files.

    Each other worker, once it has written its first file, waits until it should have
    been stopped: a forked one until the driver, having heard the error, reads its
    pipes again (it kills them first), a thread until the failing one has returned
    (having set the flag the others read before each file). Never stopped, it writes
    the rest of its unit."""
    prefix = tmp_path / "env"
    prefix.mkdir()
    files = many_files("multi", 200) | {"multi/m000.py": corrupt("multi/m000.py", b"#\n")}
    wheel = build_wheel(WheelSpec("multi", files=files), tmp_path / "w")
    plan = plan_for([wheel], prefix)
    writes = sorted(writes_of(plan))
    (bad,) = (path for path in writes if path.endswith("multi/m000.py"))
    writes.remove(bad)
    groups = [writes[index::8] for index in range(8)]
    groups[0].insert(0, bad)  # one unit a worker: this worker fails on its first file
    plan = with_units(plan, groups)
    if kind == "threads":
        monkeypatch.setenv("WHEELPLAN_WORKERS", "threads")
    else:
        monkeypatch.delenv("WHEELPLAN_WORKERS", raising=False)
        monkeypatch.delenv("WHEELPLAN_FAULT", raising=False)

    tried = tmp_path / "tried"  # a file a worker: the files it began to write
    tried.mkdir()
    held: set[str] = set()
    gate, opening = os.pipe()
    write = unitwriter.write_file

    def writing(destination: str, *args: Any, **kwargs: Any) -> tuple[str, int]:
        worker = tried / f"{os.getpid()}-{threading.get_ident()}"
        with worker.open("a") as log:
            log.write(destination.removeprefix(f"{prefix}/") + "\n")
        result = write(destination, *args, **kwargs)
        if worker.name not in held:
            held.add(worker.name)
            os.read(gate, 1)
        return result

    released: list[bool] = []

    def release() -> None:
        if not released:
            released.append(True)
            os.write(opening, b"." * len(groups))

    def gathering(readers: list[Any], *rest: Any) -> Any:
        if any(isinstance(child, workers.Child) and child.abort.requested for child in readers):
            release()
        return select.select(readers, *rest)

    work = workers._thread_work

    def working(context: Any, units: Any, slot: unitwriter.Slot, abort: workers.Abort) -> None:
        work(context, units, slot, abort)
        if slot.error is not None:
            release()

    monkeypatch.setattr(unitwriter, "write_file", writing)
    monkeypatch.setattr(workers, "select", types.SimpleNamespace(select=gathering))
    monkeypatch.setattr(workers, "_thread_work", working)
    try:
        with pytest.raises(Refused) as refused:
            apply_plan(plan, "plan.json", Options(confirm_target=False, jobs=8))
    finally:
        os.close(gate)
        os.close(opening)
    assert "multi/m000.py" in str(refused.value)
    assert os.listdir(prefix) == []
    began = {log.name: log.read_text().splitlines() for log in tried.iterdir()}
    assert [paths for paths in began.values() if bad in paths] == [[bad]]
    # Each of the others stopped at its first file (or before, killed while it logged
    # that file: an empty log), not at its 25th.
    assert all(len(paths) <= 1 for paths in began.values()), began


def test_the_wheels_are_hashed_once_from_when_the_plan_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`loads` hands the target and distributions over before the files; apply uses the
    preflight begun there when it is for the same plan and options, and begins again
    when it is not."""
    first = build_wheel(WheelSpec("first", files={"first/__init__.py": b""}), tmp_path / "w")
    second = build_wheel(WheelSpec("second", files={"second/__init__.py": b""}), tmp_path / "w")
    prefix = tmp_path / "env"
    prefix.mkdir()
    plan = plan_for([first], prefix)
    options = Options(confirm_target=False)
    handed: list[tuple[Target, tuple[Distribution, ...]]] = []
    assert loads(dumps(plan), "plan", lambda *header: handed.append(header)) == plan
    assert handed == [(plan.target, plan.distributions)]

    started: list[Sequence[str]] = []
    real = wheelindex.Digests

    def counting(paths: Sequence[str], index: wheelindex.WheelIndex | None, *rest: Any) -> Any:
        started.append(paths)
        return real(paths, index, *rest)

    monkeypatch.setattr(wheelindex, "Digests", counting)
    apply_plan(plan, "plan", options, preflight=start_preflight(*handed[0], options))
    assert started == [[str(first)]]
    # Hashing begun for another plan's target and wheels is not trusted for this one.
    elsewhere = tmp_path / "other-env"
    elsewhere.mkdir()
    other = plan_for([second], elsewhere)
    apply_plan(
        other,
        "other",
        options,
        preflight=start_preflight(plan.target, plan.distributions, options),
    )
    assert started[1:] == [[str(first)], [str(second)]]
    assert (elsewhere / SCHEMES["purelib"] / "second" / "__init__.py").is_file()


@pytest.mark.parametrize(
    ("interpreter", "confirm", "root", "runs"),
    [
        ("/usr/bin/python3", True, None, True),
        ("python3", True, None, False),  # not absolute: validation refuses the plan
        ("/usr/bin/python3\n/bin/sh", True, None, False),  # a control character
        ("/usr/bin/python3", False, None, False),
        ("/usr/bin/python3", True, "/stage", False),  # --root: the interpreter may not exist
    ],
)
def test_the_preflight_runs_only_an_interpreter_validation_accepts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interpreter: str,
    confirm: bool,
    root: str | None,
    runs: bool,
) -> None:
    """The interpreter is asked before the plan's files are validated, so the check that
    validation makes of the interpreter itself comes first."""
    wheel = build_wheel(WheelSpec("fresh", files={"fresh/__init__.py": b""}), tmp_path / "w")
    plan = plan_for([wheel], tmp_path)
    target = attrs.evolve(plan.target, interpreter=interpreter)
    asked: list[str | None] = []

    def probe(python: str | None, planning: bool, place: object) -> object:
        assert place is None  # an environment's plan
        asked.append(python)
        return object()

    monkeypatch.setattr(preflight_module, "BackgroundProbe", probe)
    options = Options(confirm_target=confirm, root=root)
    preflight = start_preflight(target, plan.distributions, options)
    assert asked == ([interpreter] if runs else [])
    assert (preflight.confirming is not None) == runs
    if interpreter != "/usr/bin/python3":
        with pytest.raises(Refused, match="target interpreter"):
            validate(attrs.evolve(plan, target=target), "plan")


def test_malformed_distributions_are_not_handed_over(tmp_path: Path) -> None:
    wheel = build_wheel(WheelSpec("fresh", files={"fresh/__init__.py": b""}), tmp_path / "w")
    data = json.loads(dumps(plan_for([wheel], tmp_path)))
    data["distributions"][0]["wheel_path"] = 7
    data["digest"] = digest_of(data)
    handed: list[object] = []
    with pytest.raises(Refused, match="wheel_path"):
        loads(json.dumps(data), "plan", lambda *header: handed.append(header))
    assert handed == []


def test_a_probe_answers_the_same_however_often_asked(tmp_path: Path, target: Path) -> None:
    """The probe runs once, as a child process; `result()` may be asked again (the
    answer or the refusal stays), and a failure to start is raised there, not before."""
    probing = BackgroundProbe(str(target), planning=False)
    first = probing.result()
    assert probing.result() is first
    assert first.prefix == str(target.parent.parent)
    missing = BackgroundProbe(str(tmp_path / "no-python"))
    for _ in range(2):
        with pytest.raises(Refused, match="does not exist"):
            missing.result()


def _write_inline(target: Path, scratch: Path) -> None:
    content = "print('hello')\n"
    source = Source("inline", record_hash(content.encode()), len(content), 0o644, content=content)
    write_file(str(target), source, None, b"#!python", umask=0o022, fsync=True)


def _write_atomically(target: Path, scratch: Path) -> None:
    write_atomic(str(target), b"marker", fsync=True)


def _copy_from_cache(target: Path, scratch: Path) -> None:
    cached = scratch / "cached"
    cached.write_bytes(b"cached bytes")
    Linker(("copy",), 0o022, fsync=True).place(str(cached), str(target), 0o644, 12)


def _write_bytecode(target: Path, scratch: Path) -> None:
    (target.parent / "module.py").write_text("")
    compiled = Compiled({target.name: "module.py"}, (), {target.name: b"bytecode"})
    write_pycs(str(target.parent), compiled, fsync=True)


def _write_a_record(target: Path, scratch: Path) -> None:
    write_record(str(target), b"pkg/__init__.py,,\n", fsync=True, mtime=None)


def _flush_a_folder(target: Path, scratch: Path) -> None:
    target.mkdir()
    fsync_dir(str(target))


@pytest.mark.parametrize(
    "write",
    [
        _write_inline,
        _write_atomically,
        _copy_from_cache,
        _write_bytecode,
        _write_a_record,
        _flush_a_folder,
    ],
)
def test_a_failed_write_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Callable[[Path, Path], None]
) -> None:
    """A write that fails says only why (EIO, ENOSPC); the error line must say where."""

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    target = tmp_path / "env" / "file.bin"
    target.parent.mkdir()
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError) as caught:
        write(target, tmp_path)
    assert caught.value.filename == str(target)
    assert str(caught.value) == f"[Errno 5] Input/output error: '{target}'"


def test_a_failed_atomic_write_leaves_the_old_file_and_nothing_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's intent, the cache's markers and a plan file are written whole or not
    at all: a write that fails (EIO, ENOSPC) leaves no temporary file in their folder."""

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    target = tmp_path / "plan.json"
    target.write_bytes(b"old")
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        write_atomic(str(target), b"new", fsync=True)
    assert [path.name for path in tmp_path.iterdir()] == ["plan.json"]
    assert target.read_bytes() == b"old"


def test_a_failed_log_of_a_removed_folder_names_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's log of removed folders is written as the other files are."""
    base = tmp_path / "env"
    (base / "emptied").mkdir(parents=True)
    transaction = journal.Journal(str(base), fsync=True)
    transaction.begin(journal.Intent((), (), ()))

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError) as caught:
        transaction.remove_dir("emptied")
    log = base / ".wheelplan-journal" / journal.REMOVED_DIRS
    assert str(caught.value) == f"[Errno 5] Input/output error: '{log}'"
    assert (base / "emptied").is_dir()


@pytest.mark.parametrize(
    "values",
    [
        {"mode": 2**64},
        {"mode": -1},
        {"mode": True},
        {"mode": 0o40755},
        {"uid": 2**64},
        {"gid": -5},
        {"uid": "0"},
    ],
)
def test_a_logged_folder_no_folder_can_be_is_refused_before_recovery_changes_anything(
    tmp_path: Path, values: dict[str, Any]
) -> None:
    """Each value once stopped a recovery midway with a traceback, in chmod or chown."""
    base = tmp_path / "env"
    (base / "made").mkdir(parents=True)
    (base / "made" / "new.txt").write_text("written by the apply")
    root = base / ".wheelplan-journal"
    (root / "backup").mkdir(parents=True)
    intent = {"created_dirs": ["made"], "new_files": ["made/new.txt"], "moved": []}
    (root / "intent.json").write_text(json.dumps(intent))
    entry = {"path": "gone", "mode": 0o755, "uid": os.getuid(), "gid": os.getgid(), **values}
    (root / journal.REMOVED_DIRS).write_text(json.dumps(entry) + "\n")
    before = exact_snapshot(base)
    with pytest.raises(Refused) as caught:
        recovery.recover(str(base))
    (problem,) = caught.value.problems
    assert "has a mode, uid or gid no folder can have" in problem.message
    assert exact_snapshot(base) == before


@pytest.mark.parametrize("mode", [0o750, 0o2775, 0o1777], ids=["plain", "setgid", "sticky"])
def test_a_logged_folder_is_recreated_with_its_mode(tmp_path: Path, mode: int) -> None:
    """The check above passes what `remove_dir` writes: a shared folder's setgid or
    sticky bit too, which decide who may change what is put in it again."""
    base = tmp_path / "env"
    (base / "gone").mkdir(parents=True)
    os.chmod(base / "gone", mode)
    transaction = journal.Journal(str(base), fsync=False)
    transaction.begin(journal.Intent((), (), ()))
    transaction.remove_dir("gone")
    assert not (base / "gone").exists()
    assert recovery.recover(str(base)) == "rolled back"
    assert (base / "gone").stat().st_mode & 0o7777 == mode


def test_a_logged_folder_is_recreated_with_its_owner(tmp_path: Path) -> None:
    """A folder the apply removed comes back another user's when it was theirs."""
    base = tmp_path / "env"
    (base / "gone").mkdir(parents=True)
    os.chmod(base / "gone", 0o750)
    owner = give_to_another_user(base / "gone")
    transaction = journal.Journal(str(base), fsync=False)
    transaction.begin(journal.Intent((), (), ()))
    transaction.remove_dir("gone")
    assert not (base / "gone").exists()
    assert recovery.recover(str(base)) == "rolled back"
    info = (base / "gone").lstat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (*owner, 0o750)
