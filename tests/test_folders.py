"""`--target DIR` and `--prefix DIR`: a folder of its own instead of the interpreter's
environment, as pip and uv make one.

`--target` is a plain folder put on sys.path (a Lambda layer, a zipapp, a vendored
tree); `--prefix` is laid out as a venv there would be (an image build's stage that is
copied over /usr/local). The checks, for both: the files land where pip puts them and
run from there, upgrades and removals see only what the folder holds, and a saved plan
is applied only to the folder the user names again, in the same way.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from planner.notafolder import not_a_folder
from planner.planjson import digest_of
from planner.target import DIRECTORY_SCHEMES
from tests.conftest import run_cli, snapshot
from tests.foldertools import FOLDERS, PREFIX, SITE, TARGET, Folder
from tests.realwheels import PIP_TARGET_SCRIPT
from tests.recordcheck import read_records, verify_records
from tests.wheelfactory import Member, WheelSpec, build_wheel

DATA = "layered-1.0.data"
LAYERED = WheelSpec(
    name="layered",
    files={
        "layered/__init__.py": b"VALUE = 1\n\n\ndef main():\n    print('layered', VALUE)\n",
        "layered/table.json": b'{"rows": 3}\n',
        f"{DATA}/purelib/layered_extra.py": b"EXTRA = 2\n",
        f"{DATA}/scripts/layered-tool": Member(
            f"{DATA}/scripts/layered-tool", b"#!python\nprint('tool runs')\n", 0o755
        ),
        f"{DATA}/data/share/layered/notes.txt": b"notes\n",
    },
    entry_points="[console_scripts]\nlayered = layered:main\n",
)
# Files whose bytes every installer writes its own way: not compared with pip's.
GENERATED = {"INSTALLER", "RECORD", "direct_url.json", "REQUESTED"}


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), lines
    return lines


def _pip_install(wheel: Path, *options: str | os.PathLike[str]) -> None:
    """`wheel` installed by pip, for the Python that runs it, offline."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile"),
            *("--disable-pip-version-check", "--quiet", *options, wheel),
        ],
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )


def _installed_files(tree: dict[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """Files (not folders) by path; generated ones by mode alone, wrappers by name."""
    files = {}
    for path, (digest, mode) in tree.items():
        if digest == "dir":
            continue
        generated = path.rsplit("/", 1)[-1] in GENERATED or path == "bin/layered"
        files[path] = ("generated" if generated else digest, mode & 0o111)
    return files


@FOLDERS
def test_the_folder_is_laid_out_as_pip_lays_it_out(tmp_path: Path, folder: Folder) -> None:
    # For the Python that runs pip, as pip's --target and --prefix are: the same
    # `#!python` rewrites.
    python = sys.executable
    wheel = build_wheel(LAYERED, tmp_path / "wheels")
    by_pip = tmp_path / "by-pip"
    _pip_install(wheel, folder.option, by_pip)
    ours = tmp_path / "ours"
    result = run_cli("install", wheel, "--python", python, folder.option, ours)
    assert result.returncode == 0, result.stderr
    assert f"to {ours}:" in result.stdout
    files = _installed_files(snapshot(ours))
    assert files == _installed_files(snapshot(by_pip))
    library = folder.library
    assert posixpath.join(library, "layered/__init__.py") in files
    assert posixpath.join(library, "layered_extra.py") in files
    assert "bin/layered-tool" in files and "share/layered/notes.txt" in files
    # RECORD rows are relative to the library folder; each holds, and lists every file.
    records = read_records(ours)
    rows = records[posixpath.join(library, "layered-1.0.dist-info/RECORD")]
    assert {posixpath.normpath(posixpath.join(library, row[0])) for row in rows} == set(files)
    verify_records(ours, records, before=())
    # On sys.path (as a layer, or as after copying the prefix over the Python's own).
    env = {**os.environ, "PYTHONPATH": str(ours / library)}
    script = subprocess.run([ours / "bin" / "layered"], capture_output=True, text=True, env=env)
    assert script.stdout == "layered 1\n", script.stderr
    assert (ours / "bin" / "layered").read_text().startswith(f"#!{python}\n")
    tool = subprocess.run([ours / "bin" / "layered-tool"], capture_output=True, text=True)
    assert tool.stdout == "tool runs\n"


@FOLDERS
def test_headers_go_where_uv_puts_them(tmp_path: Path, target: Path, folder: Folder) -> None:
    # pip puts them in include/site/pythonX.Y/NAME under --target, include/pythonX.Y/NAME
    # under --prefix.
    spec = WheelSpec(name="with-headers", files={"with_headers-1.0.data/headers/api.h": b"/**/\n"})
    ours = tmp_path / "ours"
    wheel = build_wheel(spec, tmp_path / "w")
    result = run_cli("install", wheel, "--python", target, folder.option, ours)
    assert result.returncode == 0, result.stderr
    assert (ours / folder.headers / "with-headers" / "api.h").read_bytes() == b"/**/\n"


@FOLDERS
def test_the_apply_command_a_review_gives_runs_as_pasted(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    """A folder plan applies only where named again: the command must name it, quoted."""
    wheel = build_wheel(LAYERED, tmp_path / "wheels")
    ours = tmp_path / "my folder"
    plan = tmp_path / "the plan.json"
    planned = run_cli("plan", wheel, "--python", target, folder.option, ours, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    hint = shlex.split(planned.stdout.rsplit("apply it with: wheelplan ", 1)[1])
    assert hint == ["apply", str(plan), folder.option, str(ours)]
    applied = run_cli(*hint, "--quiet")
    assert applied.returncode == 0, applied.stderr


@FOLDERS
def test_a_saved_plan_applies_only_to_the_folder_named_again(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    wheel = build_wheel(LAYERED, tmp_path / "wheels")
    ours = tmp_path / "ours"
    plan = tmp_path / "plan.json"
    planned = run_cli("plan", wheel, "--python", target, folder.option, ours, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith(f"Plan for {folder.named} {ours} ")
    data = json.loads(plan.read_text())
    assert (
        data["target"]["layout"] == {"--target": "directory", "--prefix": "prefix"}[folder.option]
    )
    assert data["target"]["prefix"] == str(ours)
    assert data["target"]["schemes"]["purelib"] == folder.library
    before = snapshot(tmp_path)
    # The plan names the folder; nothing vouches for it but the user.
    assert _errors(run_cli("apply", plan)) == [
        f"error: {plan}: planned for {folder.named} {ours}; apply it with {folder.option} {ours}"
    ]
    elsewhere = tmp_path / "elsewhere"
    assert _errors(run_cli("apply", plan, folder.option, elsewhere)) == [
        f"error: {plan}: planned for {folder.named} {ours}, not {elsewhere}; apply it with"
        f" {folder.option} {ours}, or plan again with {folder.option} {elsewhere}"
    ]
    other = PREFIX if folder == TARGET else TARGET
    assert _errors(run_cli("apply", plan, other.option, ours)) == [
        f"error: {plan}: planned for {folder.named} {ours}, not {other.named} {ours}; apply it"
        f" with {folder.option} {ours}, or plan again with {other.option} {ours}"
    ]
    assert snapshot(tmp_path) == before
    applied = run_cli("apply", plan, folder.option, ours, "--quiet")
    assert applied.returncode == 0, applied.stderr
    assert (ours / folder.library / "layered" / "__init__.py").is_file()
    # A relative folder names the same one.
    again = run_cli(
        "plan", wheel, "--python", target, folder.option, "ours", "--reinstall", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert f"Plan for {folder.named} {ours} " in again.stdout


def test_a_target_directory_has_the_layout_target_makes(tmp_path: Path, target: Path) -> None:
    plan = tmp_path / "plan.json"
    wheel = build_wheel(LAYERED, tmp_path / "w")
    planned = run_cli("plan", wheel, "--python", target, "--target", tmp_path / "layer", "-o", plan)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(plan.read_text())["target"]["schemes"] == dict(DIRECTORY_SCHEMES)


def test_a_prefix_has_the_scheme_paths_its_interpreter_gives(tmp_path: Path, target: Path) -> None:
    prefix = tmp_path / "prefix"
    plan = tmp_path / "plan.json"
    wheel = build_wheel(LAYERED, tmp_path / "w")
    planned = run_cli("plan", wheel, "--python", target, "--prefix", prefix, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    # A plan whose scheme paths were moved (its digest recomputed) is not what the
    # interpreter lays out in that prefix.
    data = json.loads(plan.read_text())
    data["target"]["schemes"]["scripts"] = SITE
    data["digest"] = digest_of(data)
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(data))
    before = snapshot(tmp_path)
    (error,) = _errors(run_cli("apply", moved, "--prefix", prefix))
    assert error.startswith(
        f"error: {moved}: not the environment it was planned for: the scheme paths are"
    )
    assert snapshot(tmp_path) == before


@FOLDERS
def test_an_environment_plan_is_not_applied_to_a_folder(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    plan = tmp_path / "plan.json"
    planned = run_cli("plan", build_wheel(LAYERED, tmp_path / "w"), "--python", target, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    env = target.parent.parent
    before = snapshot(env)
    ours = tmp_path / "ours"
    (error,) = _errors(run_cli("apply", plan, folder.option, ours))
    assert f"not for {folder.named} {ours}; apply it without {folder.option}" in error
    assert snapshot(env) == before
    assert not ours.exists()


@FOLDERS
def test_upgrade_verify_and_uninstall_see_only_the_folder(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    old = build_wheel(
        WheelSpec(name="layered", files={"layered/old.py": b"", "layered/a.py": b""}),
        tmp_path / "w",
    )
    new = build_wheel(
        WheelSpec(name="layered", version="2.0", files={"layered/a.py": b"A = 2\n"}),
        tmp_path / "w",
    )
    # The interpreter's environment holds its own copy, which the folder never sees.
    assert run_cli("install", old, "--python", target).returncode == 0
    env = target.parent.parent
    before = snapshot(env)
    ours = tmp_path / "ours"
    library = ours / folder.library
    base = ("--python", target, folder.option, ours)
    first = run_cli("install", old, *base)
    assert first.returncode == 0, first.stderr
    assert "install    layered 1.0" in first.stdout
    upgraded = run_cli("install", new, *base)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgrade    layered 1.0 -> 2.0" in upgraded.stdout
    assert not (library / "layered" / "old.py").exists()
    assert not (library / "layered-1.0.dist-info").exists()
    assert (library / "layered" / "a.py").read_bytes() == b"A = 2\n"
    verified = run_cli("verify", *base)
    assert verified.returncode == 0, verified.stderr
    listed = len(read_records(library)["layered-2.0.dist-info/RECORD"])
    assert verified.stdout == f"verified {ours}: 1 distribution, {listed} files; no problems\n"
    (library / "layered" / "a.py").write_bytes(b"changed\n")
    (changed,) = _errors(run_cli("verify", *base))
    assert changed.startswith(f"error: {library / 'layered' / 'a.py'}: changed since it was")
    removed = run_cli("uninstall", "layered", *base)
    assert removed.returncode == 0, removed.stderr
    assert not (library / "layered").exists()
    assert not list(library.glob("layered-*"))
    assert snapshot(env) == before


@FOLDERS
def test_verify_takes_uv_s_lock_file_at_the_top_as_uv_s(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    """`uv pip install --target` and `--prefix` leave the empty `.lock` they lock the
    folder with at its top (uv 0.13.9), as in a venv; one anywhere else is a stray file."""
    ours = tmp_path / "ours"
    base = ("--python", target, folder.option, ours)
    installed = run_cli("install", build_wheel(LAYERED, tmp_path / "w"), *base)
    assert installed.returncode == 0, installed.stderr
    (ours / ".lock").write_bytes(b"")
    verified = run_cli("verify", *base)
    assert (verified.returncode, verified.stderr) == (0, "")
    (ours / folder.library / "layered" / ".lock").write_bytes(b"")
    assert _errors(run_cli("verify", *base)) == [
        f"error: {ours / folder.library / 'layered' / '.lock'}: unowned: not listed in any RECORD"
    ]


def test_a_pip_target_folder_s_script_row_names_its_bin_and_nothing_above(
    tmp_path: Path, target: Path, real_wheels
) -> None:
    """pip --target lists a script as '../../bin/normalizer', relative to the lib/python
    of the folder it moved it from: the folder's bin/normalizer, which verify checks and
    a removal takes, never the file of that name two folders up."""
    (wheel,) = real_wheels(PIP_TARGET_SCRIPT)
    ours = tmp_path / "up" / "in" / "ours"
    _pip_install(wheel, "--target", ours)
    record = ours / "charset_normalizer-3.3.2.dist-info" / "RECORD"
    assert "\n../../bin/normalizer," in f"\n{record.read_text()}"
    there = tmp_path / "up" / "bin" / "normalizer"
    there.parent.mkdir()
    there.write_text("not charset-normalizer's\n")
    (ours / "charset_normalizer" / "version.py").write_text("changed\n")
    base = ("--python", target, "--target", ours)
    assert _errors(run_cli("verify", *base)) == [
        f"error: {ours / 'charset_normalizer' / 'version.py'}: changed since it was installed"
        " (its RECORD hash differs) (listed in the RECORD of charset-normalizer 3.3.2)",
    ]
    planned = run_cli("plan", build_wheel(LAYERED, tmp_path / "w"), *base)
    assert planned.returncode == 0, planned.stderr
    outside = {path: state for path, state in snapshot(tmp_path).items() if "ours" not in path}
    removed = run_cli("uninstall", "charset-normalizer", *base)
    assert (removed.returncode, removed.stderr) == (0, "")
    assert {path: state for path, state in snapshot(tmp_path).items() if "ours" not in path} == (
        outside
    )
    assert [path for path, (kind, _) in snapshot(ours).items() if kind != "dir"] == []


def _pip_target(tmp_path: Path) -> tuple[Path, tuple[str | Path, ...]]:
    """A folder `pip install --target` made with LAYERED, whose RECORD lists its scripts
    and data two folders up, and the options that name it for the Python that ran pip
    (so its `#!python` shebangs are the ones wheelplan writes)."""
    ours = tmp_path / "ours"
    _pip_install(build_wheel(LAYERED, tmp_path / "w"), "--target", ours)
    rows = {row[0] for row in read_records(ours)["layered-1.0.dist-info/RECORD"]}
    climbing = {"../../bin/layered", "../../bin/layered-tool", "../../share/layered/notes.txt"}
    assert climbing <= rows
    return ours, ("--python", sys.executable, "--target", ours)


def _installed_alone(spec: WheelSpec, tmp_path: Path) -> dict[str, tuple[str, int]]:
    """What wheelplan installs of `spec` into an empty --target folder."""
    fresh = tmp_path / f"fresh-{spec.version}"
    wheel = build_wheel(spec, tmp_path / "w")
    result = run_cli("install", wheel, "--python", sys.executable, "--target", fresh)
    assert result.returncode == 0, result.stderr
    return _installed_files(snapshot(fresh))


def test_verify_checks_what_pip_target_moved_out_of_its_library(tmp_path: Path) -> None:
    ours, base = _pip_target(tmp_path)
    verified = run_cli("verify", *base)
    assert (verified.returncode, verified.stderr) == (0, "")
    listed = len(read_records(ours)["layered-1.0.dist-info/RECORD"])
    assert verified.stdout == f"verified {ours}: 1 distribution, {listed} files; no problems\n"
    (ours / "share" / "layered" / "notes.txt").write_text("changed\n")
    assert _errors(run_cli("verify", *base)) == [
        f"error: {ours / 'share' / 'layered' / 'notes.txt'}: changed since it was installed"
        " (its RECORD hash differs) (listed in the RECORD of layered 1.0)"
    ]


def test_a_script_won_from_a_pip_target_folder_drops_its_row_from_that_record(
    tmp_path: Path,
) -> None:
    """pip --target lists layered's bin/layered-tool as '../../bin/layered-tool'; a
    wheel preferred over it there takes the file, and layered's RECORD, rewritten,
    loses that row and keeps the rest."""
    ours, base = _pip_target(tmp_path)
    record = ours / "layered-1.0.dist-info" / "RECORD"
    rows = record.read_text().splitlines()
    tool = Member("rival-1.0.data/scripts/layered-tool", b"#!python\nprint('rival')\n", 0o755)
    rival = build_wheel(
        WheelSpec("rival", files={tool.path: tool, "rival/__init__.py": b""}), tmp_path / "r"
    )
    done = run_cli("install", rival, "--prefer", "rival", *base)
    assert (done.returncode, done.stderr) == (0, "")
    assert "print('rival')" in (ours / "bin" / "layered-tool").read_text()
    kept = [row for row in rows if not row.startswith("../../bin/layered-tool,")]
    assert len(kept) == len(rows) - 1
    assert record.read_text().splitlines() == kept


def test_a_pip_target_folder_is_unchanged_then_reinstalled(tmp_path: Path) -> None:
    ours, base = _pip_target(tmp_path)
    wheel = build_wheel(LAYERED, tmp_path / "w")
    before = snapshot(ours)
    same = run_cli("install", wheel, *base)
    assert (same.returncode, same.stderr) == (0, "")
    assert same.stdout == f"nothing to change in {ours}: 1 distribution already installed\n"
    assert snapshot(ours) == before
    again = run_cli("install", wheel, "--reinstall", *base)
    assert (again.returncode, again.stderr) == (0, "")
    assert _installed_files(snapshot(ours)) == _installed_alone(LAYERED, tmp_path)
    verify_records(ours, read_records(ours), before=())


def test_a_pip_target_folder_is_upgraded_without_its_old_scripts(tmp_path: Path) -> None:
    ours, base = _pip_target(tmp_path)
    new = WheelSpec(
        name="layered",
        version="2.0",
        files={"layered/__init__.py": b"def main():\n    print('layered 2')\n"},
        entry_points=LAYERED.entry_points,
    )
    upgraded = run_cli("install", build_wheel(new, tmp_path / "w"), *base)
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    assert "upgrade    layered 1.0 -> 2.0" in upgraded.stdout
    assert not (ours / "bin" / "layered-tool").exists()
    assert not (ours / "share").exists()
    assert _installed_files(snapshot(ours)) == _installed_alone(new, tmp_path)
    verify_records(ours, read_records(ours), before=())
    env = {**os.environ, "PYTHONPATH": str(ours)}
    script = subprocess.run([ours / "bin" / "layered"], capture_output=True, text=True, env=env)
    assert script.stdout == "layered 2\n", script.stderr


def test_a_pip_target_folder_is_uninstalled_with_its_scripts(tmp_path: Path) -> None:
    ours, base = _pip_target(tmp_path)
    removed = run_cli("uninstall", "layered", *base)
    assert (removed.returncode, removed.stderr) == (0, "")
    assert [path for path, (kind, _) in snapshot(ours).items() if kind != "dir"] == []


def test_other_rows_climbing_out_of_a_pip_target_folder_name_nothing_in_it(
    tmp_path: Path,
) -> None:
    """Only '../../REST' outside lib/ is what pip's move put in the folder; rows that
    climb otherwise are reported and left, and so are the files a looser reading of
    them would take."""
    ours, base = _pip_target(tmp_path)
    record = ours / "layered-1.0.dist-info" / "RECORD"
    rows = ["../../lib/x", "../../../x", "../x"]
    record.write_text(record.read_text() + "".join(f"{row},,\n" for row in rows))
    for stray in (ours / "lib" / "x", ours / "x", tmp_path / "x"):
        stray.parent.mkdir(exist_ok=True)
        stray.write_text("no one's\n")
    outside = "".join(f"{row!r}, " for row in rows)[: -len(", ")]
    assert _errors(run_cli("verify", *base)) == sorted(
        [
            *(
                f"error: {record}: layered 1.0: row {row!r} points outside the environment;"
                " what it names is not checked"
                for row in rows
            ),
            f"error: {ours / 'lib' / 'x'}: unowned: not listed in any RECORD",
            f"error: {ours / 'x'}: unowned: not listed in any RECORD",
        ]
    )
    removed = run_cli("uninstall", "layered", *base)
    assert (removed.returncode, removed.stderr) == (
        0,
        f"warning: layered 1.0: its RECORD lists {outside} outside the environment;"
        " left as it is\n",
    )
    assert sorted(p for p, (kind, _) in snapshot(ours).items() if kind != "dir") == ["lib/x", "x"]
    assert (tmp_path / "x").read_text() == "no one's\n"


@FOLDERS
@pytest.mark.parametrize("below", [False, True], ids=["folder", "below"])
@pytest.mark.parametrize("kind", ["file", "link-to-file", "link-to-nothing", "link-loop"])
def test_no_folder_on_the_way_to_the_folder_is_named_so_by_every_command(
    tmp_path: Path, target: Path, folder: Folder, kind: str, below: bool
) -> None:
    """Of a symlink to nothing, install said 'File exists' and verify that the
    environment does not exist; recover said a file 'does not exist'; of a file or a
    symlink to nothing above the folder, plan wrote a plan and the others quoted an
    errno ('Not a directory', 'No such file or directory'); a symlink to itself was
    called one to nothing. What is there stays."""
    given = tmp_path / "ours"
    named = given / "sub" if below else given
    wheel = build_wheel(LAYERED, tmp_path / "w")
    plan = tmp_path / "plan.json"
    planned = run_cli("plan", wheel, "--python", target, folder.option, named, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    if kind == "file":
        given.write_text("not a folder\n")
    elif kind == "link-loop":
        given.symlink_to(given)
    else:
        given.symlink_to(tmp_path / ("mine" if kind == "link-to-file" else "nowhere"))
        if kind == "link-to-file":
            (tmp_path / "mine").write_text("not a folder\n")
    what = {
        "link-to-nothing": "a symlink whose target does not exist",
        "link-loop": "a symlink in a loop of symlinks",
    }.get(kind, "a file")
    expected = f"error: {given}: is {what}, not a folder: {folder.option} names"
    expected += f" {named}" if below else " it"
    before = snapshot(tmp_path)
    for command in (
        ("plan", wheel, "--python", target, "-o", tmp_path / "again.json"),
        ("install", wheel, "--python", target),
        ("apply", plan),
        ("uninstall", "layered", "--python", target),
        ("verify", "--python", target),
        ("recover", "--python", target),
    ):
        result = run_cli(*command, folder.option, named)
        assert _errors(result) == [expected], command
    assert snapshot(tmp_path) == before


def test_a_folder_this_user_may_not_look_in_is_named_on_the_way_to_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below a folder without search permission, install -t said 'six.py: cannot tell
    whether it exists: Permission denied' of a file in the target, naming neither that
    folder nor the option. Root may look in any folder, so the kernel's refusal of
    anyone else is made here."""
    locked = tmp_path / "locked"
    locked.mkdir()
    stat = os.stat

    def refusing(path: str | os.PathLike[str], *args: object, **kwargs: object) -> object:
        if Path(path).parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", refusing)
    named = locked / "sub" / "deeper"
    blocked = not_a_folder(str(named))
    assert blocked is not None
    assert [str(problem) for problem in blocked.refused(str(named), "--target names").problems] == [
        f"{locked}: is a folder this user may not look in (Permission denied): --target names"
        f" {named}"
    ]


def test_target_and_prefix_are_not_taken_together(tmp_path: Path, target: Path) -> None:
    wheel = build_wheel(LAYERED, tmp_path / "w")
    both = run_cli("plan", wheel, "--python", target, "--prefix", "a", "--target", "b")
    assert both.returncode == 2
    assert "argument -t/--target: not allowed with argument --prefix" in both.stderr


@FOLDERS
def test_an_interrupted_apply_sends_the_user_to_recover_the_folder(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    ours = tmp_path / "ours"
    (ours / ".wheelplan-journal").mkdir(parents=True)
    wheel = build_wheel(LAYERED, tmp_path / "w")
    (error,) = _errors(run_cli("plan", wheel, "--python", target, folder.option, ours))
    assert f"run `wheelplan recover {folder.option} {ours}` first" in error
    recovered = run_cli("recover", "--python", target, folder.option, ours)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout == f"{ours}: clean\n"
    assert not (ours / ".wheelplan-journal").exists()


@FOLDERS
def test_a_folder_that_is_not_there_is_named_so_by_verify_and_recover(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    # Neither checks nor recovers a folder that was never made (a mistyped name): each
    # says so of the folder, as pip says "does not exist", not of a file in it, and calls
    # it the folder the option names (it was called 'the environment'); staged under
    # --root, the staged prefix.
    missing = tmp_path / "mistyped"
    root = tmp_path / "root"
    root.mkdir()
    staged = root / str(missing).lstrip("/")
    for command in ("verify", "recover"):
        result = run_cli(command, "--python", target, folder.option, missing)
        assert _errors(result) == [
            f"error: {missing}: the {folder.option} folder does not exist"
        ], command
        result = run_cli(command, "--python", target, folder.option, missing, "--root", root)
        assert _errors(result) == [f"error: {staged}: the staged prefix does not exist"], command
    assert not missing.exists()
    assert os.listdir(root) == []


@FOLDERS
def test_without_python_a_folder_is_for_the_python3_on_path(tmp_path: Path, folder: Folder) -> None:
    # No environment is active and none is near: as uv does for --target and --prefix,
    # the python3 on PATH (the folder is its own; that Python's environment is not changed).
    path = tmp_path / "path"
    path.mkdir()
    (path / "python3").symlink_to(sys.executable)
    wheel = build_wheel(LAYERED, tmp_path / "w")
    plan = tmp_path / "plan.json"
    unset = {"VIRTUAL_ENV": "", "CONDA_PREFIX": "", "PATH": f"{path}:{os.environ['PATH']}"}
    result = run_cli("plan", wheel, folder.option, "ours", "-o", plan, env=unset, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(plan.read_text())["target"]["interpreter"] == str(path / "python3")
    # An environment must still be found or named when no folder is given.
    (error,) = _errors(run_cli("plan", wheel, env=unset, cwd=tmp_path))
    assert error.startswith("error: --python: no target given")


@FOLDERS
def test_what_the_python_has_installed_does_not_count_in_the_folder(
    tmp_path: Path, target: Path, folder: Folder
) -> None:
    # The folder is used without the interpreter's environment.
    dep = build_wheel(WheelSpec(name="dep", files={"dep.py": b""}), tmp_path / "w")
    app = build_wheel(WheelSpec(name="app", requires=("dep",)), tmp_path / "w")
    assert run_cli("install", dep, "--python", target).returncode == 0
    in_env = run_cli("plan", app, "--python", target)
    assert in_env.returncode == 0, in_env.stderr
    assert "app requires dep, which is not installed or planned" not in in_env.stdout
    ours = tmp_path / "ours"
    in_folder = run_cli("plan", app, "--python", target, folder.option, ours)
    assert in_folder.returncode == 0, in_folder.stderr
    assert "app requires dep, which is not installed or planned" in in_folder.stdout
    assert (
        run_cli("plan", app, "--python", target, folder.option, ours, "--strict").returncode == 1
    ), "--strict refuses it"
