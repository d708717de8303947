"""PEP 668: a Python another package manager owns is refused unless the user insists.

pip and uv refuse to install into an interpreter whose standard library folder holds
an EXTERNALLY-MANAGED marker (outside a virtual environment) unless given
--break-system-packages, and show the marker's message. These tests build a system
Python of their own (not a venv) and mark it, so they never touch the real one.
"""

from __future__ import annotations

import json
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import make_env, make_system_python, run_cli, snapshot
from tests.foldertools import FOLDERS, Folder
from tests.wheelfactory import WheelSpec, build_wheel

MESSAGE = "Install packages with the\n distro tool, or make a venv."


@pytest.fixture
def system_python(tmp_path: Path) -> Path:
    return make_system_python(tmp_path / "system")


def marker_of(interpreter: Path) -> Path:
    """Where the spec says the marker is: the default scheme's stdlib folder."""
    code = (
        "import os, sysconfig; print(os.path.join(sysconfig.get_path('stdlib',"
        " sysconfig.get_default_scheme()), 'EXTERNALLY-MANAGED'))"
    )
    answer = subprocess.run([interpreter, "-I", "-c", code], capture_output=True, text=True)
    return Path(answer.stdout.strip())


def mark(interpreter: Path, text: str = f"[externally-managed]\nError={MESSAGE}\n") -> Path:
    marker = marker_of(interpreter)
    marker.write_text(text, encoding="utf-8")
    return marker


def wheel(tmp_path: Path) -> Path:
    spec = WheelSpec(name="tool", files={"tool/__init__.py": b"VERSION = 1\n"})
    return build_wheel(spec, tmp_path / "wheels")


def only_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_the_fixture_is_a_system_python_of_its_own(system_python: Path) -> None:
    code = "import sys, sysconfig; print(sys.prefix == sys.base_prefix, sys.prefix)"
    answer = subprocess.run([system_python, "-I", "-c", code], capture_output=True, text=True)
    assert answer.stdout.split() == ["True", str(system_python.parent.parent)]
    assert not marker_of(system_python).exists()
    assert marker_of(system_python).parent != Path(sysconfig.get_path("stdlib"))


@pytest.mark.parametrize("command", ["plan", "install"])
def test_a_marked_python_is_refused_with_its_message(
    tmp_path: Path, system_python: Path, command: str
) -> None:
    marker = mark(system_python)
    home = system_python.parent.parent
    before = snapshot(home)
    result = run_cli(command, wheel(tmp_path), "--python", system_python, "--no-cache")
    assert only_error(result) == (
        f"error: {marker}: {system_python} is externally managed (PEP 668): Install packages"
        " with the distro tool, or make a venv. (--break-system-packages plans for it anyway)"
    )
    assert snapshot(home) == before


@pytest.mark.parametrize(
    "text",
    ["", "[other]\nError=not this one\n", "[externally-managed]\nNote=no Error key\n", "\x00["],
)
def test_a_marker_without_a_message_gets_ours(
    tmp_path: Path, system_python: Path, text: str
) -> None:
    marker = mark(system_python, text)
    result = run_cli("plan", wheel(tmp_path), "--python", system_python, "--no-cache")
    assert only_error(result).startswith(
        f"error: {marker}: {system_python} is externally managed (PEP 668): install into a"
        " virtual environment instead"
    )


def test_the_message_is_the_one_for_the_users_language(tmp_path: Path, system_python: Path) -> None:
    # Python reads the C.UTF-8 locale as en_US: Error-en_US, else Error-en, else Error.
    mark(system_python, "[externally-managed]\nError=default\nError-en=english\nError-fr=french\n")
    result = run_cli(
        "plan", wheel(tmp_path), "--python", system_python, "--no-cache", env={"LC_ALL": "C.UTF-8"}
    )
    assert "(PEP 668): english (" in only_error(result)
    result = run_cli(
        "plan", wheel(tmp_path), "--python", system_python, "--no-cache", env={"LC_ALL": "C"}
    )
    assert "(PEP 668): default (" in only_error(result)


def test_break_system_packages_plans_says_so_and_applies(
    tmp_path: Path, system_python: Path
) -> None:
    mark(system_python)
    plan = tmp_path / "plan.json"
    planned = run_cli(
        "plan", wheel(tmp_path), "--python", system_python, "--no-cache", "--break-system-packages",
        "-o", plan,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert "Another package manager owns this Python (PEP 668)" in planned.stdout
    assert json.loads(plan.read_text())["target"]["externally_managed"] is True
    applied = run_cli("apply", plan, "--no-cache", "--quiet")
    assert applied.returncode == 0, applied.stderr
    imported = subprocess.run(
        [system_python, "-c", "import tool; print(tool.VERSION)"], capture_output=True, text=True
    )
    assert imported.stdout == "1\n"


def test_install_into_a_staging_root_needs_no_flag_as_with_pip(
    tmp_path: Path, system_python: Path
) -> None:
    """pip skips the check under --root: the files go to a staging tree, not the
    Python's own folders. `plan` cannot know where its plan will go, so it refuses."""
    marker = mark(system_python)
    home = system_python.parent.parent
    before = snapshot(home)
    stage = tmp_path / "stage"
    args = ("install", wheel(tmp_path), "--python", system_python, "--no-cache", "--root", stage)
    dry = run_cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        "Another package manager owns this Python (PEP 668): planned for it anyway,"
        " as --break-system-packages (or install's staging --root) asks"
    ) in dry.stdout.splitlines()
    installed = run_cli(*args, "--quiet")
    assert installed.returncode == 0, installed.stderr
    assert snapshot(home) == before
    staged = stage / str(home).lstrip("/")
    assert [path.read_bytes() for path in staged.rglob("tool/__init__.py")] == [b"VERSION = 1\n"]
    planned = run_cli("plan", wheel(tmp_path), "--python", system_python, "--no-cache")
    assert only_error(planned).startswith(f"error: {marker}: ")


@FOLDERS
def test_a_folder_of_its_own_needs_no_flag_as_with_pip(
    tmp_path: Path, system_python: Path, folder: Folder
) -> None:
    """pip skips the check for --target and --prefix too: the folder is not the Python's own."""
    marker = mark(system_python)
    home = system_python.parent.parent
    before = snapshot(home)
    ours = tmp_path / "ours"
    plan = tmp_path / "plan.json"
    args = ("--python", system_python, "--no-cache", folder.option, ours)
    planned = run_cli("plan", wheel(tmp_path), *args, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    assert "PEP 668" not in planned.stdout
    # Apply runs the marked Python again, and still does not ask for the flag.
    applied = run_cli("apply", plan, "--no-cache", folder.option, ours, "--quiet")
    assert applied.returncode == 0, applied.stderr
    assert (ours / folder.library / "tool" / "__init__.py").read_bytes() == b"VERSION = 1\n"
    assert snapshot(home) == before
    assert marker.is_file()


def test_apply_refuses_a_python_marked_after_it_was_planned(
    tmp_path: Path, system_python: Path
) -> None:
    plan = tmp_path / "plan.json"
    planned = run_cli("plan", wheel(tmp_path), "--python", system_python, "--no-cache", "-o", plan)
    assert planned.returncode == 0, planned.stderr
    assert "PEP 668" not in planned.stdout
    assert json.loads(plan.read_text())["target"]["externally_managed"] is False
    marker = mark(system_python)
    home = system_python.parent.parent
    before = snapshot(home)
    line = only_error(run_cli("apply", plan, "--no-cache"))
    assert line == (
        f"error: {plan}: not the environment it was planned for: {system_python} is externally"
        f" managed (PEP 668, see {marker}) but was planned without --break-system-packages;"
        " plan again"
    )
    assert snapshot(home) == before


def test_a_venv_of_a_marked_python_is_not_managed(tmp_path: Path, system_python: Path) -> None:
    mark(system_python)
    venv = tmp_path / "venv"
    subprocess.run([system_python, "-m", "venv", "--without-pip", venv], check=True)
    result = run_cli("install", wheel(tmp_path), "--python", venv, "--no-cache", "--quiet")
    assert result.returncode == 0, result.stderr
    # And an ordinary venv of this Python, as every other test uses, is not either.
    other = make_env(tmp_path / "plain")
    assert run_cli("plan", wheel(tmp_path), "--python", other, "--no-cache").returncode == 0


def test_a_lock_install_is_refused_before_any_download(tmp_path: Path, system_python: Path) -> None:
    marker = mark(system_python)
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "tool"\n'
        'version = "1.0"\n\n[[packages.wheels]]\n'
        'url = "http://127.0.0.1:9/tool-1.0-py3-none-any.whl"\n'
        f'hashes = {{sha256 = "{"0" * 64}"}}\n'
    )
    downloads = tmp_path / "downloads"
    result = run_cli(
        "plan", "--lock", lock, "--python", system_python, "--wheel-dir", downloads, "--no-cache"
    )
    assert only_error(result).startswith(f"error: {marker}: {system_python} is externally managed")
    assert not downloads.exists()
