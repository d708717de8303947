"""`--target DIR`: a plain folder instead of an environment, as pip and uv make one.

A Lambda layer, a zipapp or a vendored tree is a folder put on sys.path. The checks:
the files land where pip's `--target` puts them (modules and data at the top, scripts
in DIR/bin), they import and run from there, upgrades and removals see only what the
folder holds, and a saved plan is applied only to the folder the user names again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from planner.target import DIRECTORY_SCHEMES
from tests.conftest import run_cli, snapshot
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


def _installed_files(tree: dict[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """Files (not folders) by path; generated ones by mode alone, wrappers by name."""
    files = {}
    for path, (digest, mode) in tree.items():
        if digest == "dir":
            continue
        generated = path.rsplit("/", 1)[-1] in GENERATED or path == "bin/layered"
        files[path] = ("generated" if generated else digest, mode & 0o111)
    return files


def test_a_target_directory_is_laid_out_as_pip_lays_it_out(tmp_path: Path) -> None:
    # For the Python that runs pip, as pip's --target is: the same `#!python` rewrites.
    python = sys.executable
    wheel = build_wheel(LAYERED, tmp_path / "wheels")
    by_pip = tmp_path / "pip-layer"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile"),
            *("--disable-pip-version-check", "--quiet", "--target", str(by_pip), str(wheel)),
        ],
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    layer = tmp_path / "layer"
    result = run_cli("install", wheel, "--python", python, "--target", layer)
    assert result.returncode == 0, result.stderr
    assert f"to {layer}:" in result.stdout
    ours = _installed_files(snapshot(layer))
    assert ours == _installed_files(snapshot(by_pip))
    assert "layered/__init__.py" in ours and "bin/layered-tool" in ours
    assert "share/layered/notes.txt" in ours and "layered_extra.py" in ours
    # RECORD paths are relative to the folder, and every row holds.
    records = read_records(layer)
    assert {row[0] for row in records["layered-1.0.dist-info/RECORD"]} == set(ours)
    verify_records(layer, records, before=())
    # The folder works as a layer: on sys.path, with the target's Python.
    env = {**os.environ, "PYTHONPATH": str(layer)}
    script = subprocess.run([layer / "bin" / "layered"], capture_output=True, text=True, env=env)
    assert script.stdout == "layered 1\n", script.stderr
    assert (layer / "bin" / "layered").read_text().startswith(f"#!{python}\n")
    tool = subprocess.run([layer / "bin" / "layered-tool"], capture_output=True, text=True)
    assert tool.stdout == "tool runs\n"


def test_headers_go_to_include_by_name_as_uv_puts_them(tmp_path: Path, target: Path) -> None:
    spec = WheelSpec(name="with-headers", files={"with_headers-1.0.data/headers/api.h": b"/**/\n"})
    layer = tmp_path / "layer"
    result = run_cli("install", build_wheel(spec, tmp_path / "w"), "--python", target, "-t", layer)
    assert result.returncode == 0, result.stderr
    assert (layer / "include" / "with-headers" / "api.h").read_bytes() == b"/**/\n"


def test_a_saved_plan_applies_only_to_the_folder_named_again(tmp_path: Path, target: Path) -> None:
    wheel = build_wheel(LAYERED, tmp_path / "wheels")
    layer = tmp_path / "layer"
    plan = tmp_path / "plan.json"
    planned = run_cli("plan", wheel, "--python", target, "--target", layer, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith(f"Plan for the target directory {layer} ")
    data = json.loads(plan.read_text())
    assert data["target"]["layout"] == "directory"
    assert data["target"]["schemes"] == dict(DIRECTORY_SCHEMES)
    assert data["target"]["prefix"] == str(layer)
    before = snapshot(tmp_path)
    # The plan names the folder; nothing vouches for it but the user.
    assert _errors(run_cli("apply", plan)) == [
        f"error: {plan}: planned for the target directory {layer}; apply it with --target {layer}"
    ]
    elsewhere = tmp_path / "elsewhere"
    assert _errors(run_cli("apply", plan, "--target", elsewhere)) == [
        f"error: {plan}: planned for the target directory {layer}, not {elsewhere}; plan again"
    ]
    assert snapshot(tmp_path) == before
    applied = run_cli("apply", plan, "--target", layer, "--quiet")
    assert applied.returncode == 0, applied.stderr
    assert (layer / "layered" / "__init__.py").is_file()
    # A relative --target names the same folder.
    again = run_cli("plan", wheel, "--python", target, "-t", "layer", "--reinstall", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"Plan for the target directory {layer} " in again.stdout


def test_an_environment_plan_is_not_applied_to_a_target_directory(
    tmp_path: Path, target: Path
) -> None:
    plan = tmp_path / "plan.json"
    planned = run_cli("plan", build_wheel(LAYERED, tmp_path / "w"), "--python", target, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    env = target.parent.parent
    before = snapshot(env)
    (error,) = _errors(run_cli("apply", plan, "--target", tmp_path / "layer"))
    assert "not for a target directory" in error
    assert snapshot(env) == before
    assert not (tmp_path / "layer").exists()


def test_upgrade_verify_and_uninstall_see_only_the_folder(tmp_path: Path, target: Path) -> None:
    old = build_wheel(
        WheelSpec(name="layered", files={"layered/old.py": b"", "layered/a.py": b""}),
        tmp_path / "w",
    )
    new = build_wheel(
        WheelSpec(name="layered", version="2.0", files={"layered/a.py": b"A = 2\n"}),
        tmp_path / "w",
    )
    layer = tmp_path / "layer"
    base = ("--python", target, "--target", layer)
    assert run_cli("install", old, *base).returncode == 0
    upgraded = run_cli("install", new, *base)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgrade    layered 1.0 -> 2.0" in upgraded.stdout
    assert not (layer / "layered" / "old.py").exists()
    assert not (layer / "layered-1.0.dist-info").exists()
    assert (layer / "layered" / "a.py").read_bytes() == b"A = 2\n"
    # The venv itself was not touched, and counts for nothing in the folder.
    assert not list((target.parent.parent / "lib").glob("*/site-packages/layered*"))
    verified = run_cli("verify", *base)
    assert verified.returncode == 0, verified.stderr
    listed = len(read_records(layer)["layered-2.0.dist-info/RECORD"])
    assert verified.stdout == f"verified {layer}: 1 distribution, {listed} files; no problems\n"
    (layer / "layered" / "a.py").write_bytes(b"changed\n")
    (changed,) = _errors(run_cli("verify", *base))
    changed_file = layer / "layered" / "a.py"
    assert changed.startswith(f"error: {changed_file}: changed since it was installed")
    removed = run_cli("uninstall", "layered", *base)
    assert removed.returncode == 0, removed.stderr
    assert not (layer / "layered").exists()
    assert not list(layer.glob("layered-*"))


def test_a_file_is_not_a_target_directory(tmp_path: Path, target: Path) -> None:
    file = tmp_path / "layer"
    file.write_text("not a folder\n")
    (error,) = _errors(
        run_cli("plan", build_wheel(LAYERED, tmp_path / "w"), "--python", target, "-t", file)
    )
    assert error == f"error: {file}: --target names a file, not a folder"


def test_an_interrupted_apply_sends_the_user_to_recover_the_folder(
    tmp_path: Path, target: Path
) -> None:
    layer = tmp_path / "layer"
    (layer / ".wheelplan-journal").mkdir(parents=True)
    (error,) = _errors(
        run_cli("plan", build_wheel(LAYERED, tmp_path / "w"), "--python", target, "-t", layer)
    )
    assert f"run 'wheelplan recover --target {layer}' first" in error


def test_without_python_a_target_directory_is_for_the_python3_on_path(tmp_path: Path) -> None:
    # No environment is active and none is near: as uv does for --target, the python3
    # on PATH (the folder is its own; that Python's environment is not changed).
    path = tmp_path / "path"
    path.mkdir()
    (path / "python3").symlink_to(sys.executable)
    wheel = build_wheel(LAYERED, tmp_path / "w")
    plan = tmp_path / "plan.json"
    unset = {"VIRTUAL_ENV": "", "CONDA_PREFIX": "", "PATH": f"{path}:{os.environ['PATH']}"}
    result = run_cli("plan", wheel, "-t", "layer", "-o", plan, env=unset, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(plan.read_text())["target"]["interpreter"] == str(path / "python3")
    # An environment must still be found or named when there is no --target.
    (error,) = _errors(run_cli("plan", wheel, env=unset, cwd=tmp_path))
    assert error.startswith("error: --python: no target given")


def test_what_the_python_has_installed_does_not_count_in_the_folder(
    tmp_path: Path, target: Path
) -> None:
    # The folder is used without the interpreter's environment (a layer, a zipapp).
    dep = build_wheel(WheelSpec(name="dep", files={"dep.py": b""}), tmp_path / "w")
    app = build_wheel(WheelSpec(name="app", requires=("dep",)), tmp_path / "w")
    assert run_cli("install", dep, "--python", target).returncode == 0
    in_env = run_cli("plan", app, "--python", target)
    assert in_env.returncode == 0, in_env.stderr
    assert "app requires dep, which is not installed or planned" not in in_env.stdout
    layer = tmp_path / "layer"
    in_folder = run_cli("plan", app, "--python", target, "-t", layer)
    assert in_folder.returncode == 0, in_folder.stderr
    assert "app requires dep, which is not installed or planned" in in_folder.stdout
    assert run_cli("plan", app, "--python", target, "-t", layer, "--strict").returncode == 1, (
        "--strict refuses it"
    )
