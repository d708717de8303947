"""The applier as a new user meets it: one-step install, the summary line, the
progress bar on a terminal (and none elsewhere), and bytecode on request."""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import re
import subprocess
import sys
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from planner import target as target_module
from planner.plan import Plan
from planner.planjson import digest_of
from tests.conftest import run_in_pty, snapshot
from tests.recordcheck import read_records, respelled, verify_records
from tests.txsupport import installed_by_metadata
from tests.wheelfactory import WheelSpec, build_wheel
from wheelplan import cli

Cli = Callable[..., subprocess.CompletedProcess[str]]
FULL_BAR = "[" + "#" * 30 + "]"
SUMMARY = re.compile(
    r"applied (\d+) distributions? to (/\S+): (\d+) files? written \(([\d.]+ [KMG]?B)\),"
    r" (\d+) removed, in [\d.]+ s"
)


def demo_wheels(directory: Path) -> list[Path]:
    payload = random.Random(1).randbytes(3 * 1024 * 1024)
    return [
        build_wheel(
            WheelSpec(
                "alpha",
                files={
                    "alpha/__init__.py": b"def main():\n    print('alpha says hi')\n",
                    "alpha/blob.bin": payload,
                },
                entry_points="[console_scripts]\nalpha = alpha:main\n",
            ),
            directory,
        ),
        build_wheel(WheelSpec("beta", files={"beta/__init__.py": b"NAME = 'beta'\n"}), directory),
    ]


def test_a_plan_is_not_applied_over_a_journal_left_since_it_was_made(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A journal that an apply killed since the plan was made left is what `recover`
    needs: the apply is refused, naming that command, and changes nothing, the journal
    included."""
    env = target.parent.parent
    plan = tmp_path / "plan.json"
    planned = cli("plan", "--python", target, "-o", plan, demo_wheels(tmp_path / "wheels")[1])
    assert planned.returncode == 0, planned.stderr
    (env / ".wheelplan-journal").mkdir()
    before = snapshot(env)
    result = cli("apply", plan)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: {env}: an interrupted apply left a journal here; run"
        f" `wheelplan recover --python {target}` first\n"
    )
    assert snapshot(env) == before


def test_install_in_one_step_with_a_summary_that_counts_everything(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    env = target.parent.parent
    before = snapshot(env)
    completed = cli("install", "--python", target, *demo_wheels(tmp_path / "wheels"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""  # not a terminal: no progress bar
    imported = subprocess.run(
        [target, "-c", "import alpha, beta; print(beta.NAME)"], capture_output=True, text=True
    )
    assert imported.stdout == "beta\n"
    assert subprocess.run([env / "bin/alpha"], capture_output=True, text=True).stdout == (
        "alpha says hi\n"
    )
    after = snapshot(env)
    new_files = [path for path in set(after) - set(before) if after[path][0] != "dir"]
    written = sum((env / path).stat().st_size for path in new_files)
    match = SUMMARY.search(completed.stdout)
    assert match, completed.stdout
    assert match.group(1, 2, 3, 5) == ("2", str(env), str(len(new_files)), "0")
    assert match.group(4) == f"{written / 1e6:.1f} MB"
    verify_records(env, read_records(env), before)


def test_install_names_each_change_after_its_summary(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """pip and uv list what they installed; `install` prints no review, so it names the
    changed distributions as the review does (unchanged ones are left out)."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("Up_Grade", version="1.0"), wheels / "old")
    new = build_wheel(WheelSpec("Up_Grade", version="2.0"), wheels / "new")
    kept, gone = (build_wheel(WheelSpec(name), wheels) for name in ("kept", "gone"))
    first = cli("install", "--python", target, "--no-cache", old, kept, gone)
    assert first.returncode == 0, first.stderr
    summary, *changes = first.stdout.splitlines()
    assert SUMMARY.fullmatch(summary), summary
    assert changes == [
        "  install    gone 1.0",
        "  install    kept 1.0",
        "  install    Up_Grade 1.0",
    ]
    second = cli("install", "--python", target, "--no-cache", "--sync", new, kept)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[1:] == [
        "  remove     gone 1.0",
        "  upgrade    Up_Grade 1.0 -> 2.0",
    ]
    quiet = cli("install", "--python", target, "--no-cache", "-q", "--reinstall", new)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    # Nothing to do is said as such (pip: "already satisfied", uv: "Audited").
    again = cli("install", "--python", target, "--no-cache", new, kept)
    assert again.returncode == 0, again.stderr
    env = target.parent.parent
    assert again.stdout == f"nothing to change in {env}: 2 distributions already installed\n"


def test_sync_keeps_the_packaging_tools_it_is_not_given(tmp_path: Path, cli: Cli) -> None:
    """`uv pip sync` keeps pip, setuptools, wheel and uv, and pip-sync never removes
    pip: a venv made with pip still runs `python -m pip` after a sync."""
    env = tmp_path / "env"
    venv.create(env, with_pip=True, symlinks=True)
    python = env / "bin" / "python"
    wheels = tmp_path / "wheels"
    tools = [build_wheel(WheelSpec(name), wheels) for name in ("wheel", "uv", "wheelplan")]
    kept, gone = (build_wheel(WheelSpec(name), wheels) for name in ("kept", "gone"))
    first = cli("install", "--python", python, "--no-cache", "-q", *tools, kept, gone)
    assert first.returncode == 0, first.stderr
    before = installed_by_metadata(python)
    # ensurepip installs setuptools besides pip before Python 3.12.
    tools_kept = {"pip", "wheel", "uv", "wheelplan"} | ({"setuptools"} & set(before))
    review = cli("plan", "--python", python, "--no-cache", "--sync", kept)
    assert review.returncode == 0, review.stderr
    assert "gone 1.0 is removed (--sync)" in review.stdout
    assert not [name for name in tools_kept if f"{name} {before[name]} is removed" in review.stdout]
    # The review says what --sync kept, one warning each.
    assert {
        f"  {name} {before[name]}: kept by --sync, a packaging tool (--remove {name} removes it)"
        for name in tools_kept
    } <= set(review.stdout.splitlines())
    synced = cli("install", "--python", python, "--no-cache", "--sync", kept)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.splitlines()[1:] == ["  remove     gone 1.0"]
    assert set(installed_by_metadata(python)) == tools_kept | {"kept"}
    works = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True)
    assert works.returncode == 0, works.stderr


def test_sync_removes_a_packaging_tool_named_with_remove(tmp_path: Path, cli: Cli) -> None:
    """--remove is what the user asked for, not --sync's sweep: the named tool goes,
    the others stay."""
    env = tmp_path / "env"
    venv.create(env, with_pip=True, symlinks=True)
    python = env / "bin" / "python"
    kept = build_wheel(WheelSpec("kept"), tmp_path / "wheels")
    tool = build_wheel(WheelSpec("wheel"), tmp_path / "wheels")
    first = cli("install", "--python", python, "--no-cache", "-q", kept, tool)
    assert first.returncode == 0, first.stderr
    before = installed_by_metadata(python)
    removed = cli("install", "--python", python, "--no-cache", "--sync", "--remove", "pip", kept)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[1:] == [f"  remove     pip {before['pip']}"]
    gone = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True)
    assert gone.returncode != 0 and "No module named pip" in gone.stderr
    assert installed_by_metadata(python) == {
        name: version for name, version in before.items() if name != "pip"
    }


def _tool_with_needs(
    tmp_path: Path, cli: Cli, requires: tuple[str, ...], *others: WheelSpec
) -> tuple[Path, Path]:
    """A venv (no pip) with a wheelplan 0.1 that `requires`, `others` and `kept`;
    return its python and the `kept` wheel."""
    env = tmp_path / "env"
    venv.create(env, symlinks=True)
    python = env / "bin" / "python"
    wheels = tmp_path / "wheels"
    tool = build_wheel(WheelSpec("wheelplan", "0.1", requires=requires), wheels)
    kept = build_wheel(WheelSpec("kept"), wheels)
    built = [build_wheel(spec, wheels) for spec in others]
    first = cli("install", "--python", python, "--no-cache", "-q", tool, kept, *built)
    assert first.returncode == 0, first.stderr
    return python, kept


def _removed(review: str) -> set[str]:
    """The distributions a review's summary removes, as "NAME VERSION"."""
    return set(re.findall(r"^  remove +(\S+ \S+)", review, re.MULTILINE))


def test_sync_keeps_what_a_kept_tool_requires_transitively(tmp_path: Path, cli: Cli) -> None:
    """A tool kept without what it imports cannot run: wheelplan needs attrs, wheel
    needs packaging. What they need stays, and what that needs."""
    python, kept = _tool_with_needs(
        tmp_path,
        cli,
        ("needed>=1",),
        WheelSpec("needed", "2.0", requires=("deeper",)),
        WheelSpec("deeper"),
        WheelSpec("gone"),
    )
    review = cli("plan", "--python", python, "--no-cache", "--sync", kept)
    assert review.returncode == 0, review.stderr
    assert _removed(review.stdout) == {"gone 1.0"}
    lines = review.stdout.splitlines()
    assert "  needed 2.0: kept by --sync, required by wheelplan" in lines
    assert "  deeper 1.0: kept by --sync, required by needed" in lines
    synced = cli("install", "--python", python, "--no-cache", "-q", "--sync", kept)
    assert synced.returncode == 0, synced.stderr
    assert installed_by_metadata(python) == {
        "wheelplan": "0.1",
        "needed": "2.0",
        "deeper": "1.0",
        "kept": "1.0",
    }


def test_sync_removes_a_tool_requirement_its_marker_leaves_out(tmp_path: Path, cli: Cli) -> None:
    """Only what the tool needs on this target stays: a requirement for another Python
    or for an extra (not asked for) does not keep a distribution."""
    python, kept = _tool_with_needs(
        tmp_path,
        cli,
        ("needed; python_version >= '3'", "old; python_version < '3'", "testing; extra == 'test'"),
        WheelSpec("needed"),
        WheelSpec("old"),
        WheelSpec("testing"),
    )
    review = cli("plan", "--python", python, "--no-cache", "--sync", kept)
    assert review.returncode == 0, review.stderr
    assert _removed(review.stdout) == {"old 1.0", "testing 1.0"}
    assert "  needed 1.0: kept by --sync, required by wheelplan" in review.stdout.splitlines()


def test_sync_removes_a_tool_requirement_named_with_remove(tmp_path: Path, cli: Cli) -> None:
    """--remove of what a tool needs is the user's call: it goes, with the usual
    warning, and what only it needed is no longer kept."""
    python, kept = _tool_with_needs(
        tmp_path,
        cli,
        ("needed", "other"),
        WheelSpec("needed", requires=("deeper",)),
        WheelSpec("deeper"),
        WheelSpec("other"),
    )
    review = cli("plan", "--python", python, "--no-cache", "--sync", "--remove", "needed", kept)
    assert review.returncode == 0, review.stderr
    assert _removed(review.stdout) == {"needed 1.0", "deeper 1.0"}
    lines = review.stdout.splitlines()
    assert "  wheelplan 0.1 (installed) requires needed, which is not installed or planned" in lines
    assert [line for line in lines if "kept by --sync" in line] == [
        "  other 1.0: kept by --sync, required by wheelplan",
        "  wheelplan 0.1: kept by --sync, a packaging tool (--remove wheelplan removes it)",
    ]


def test_sync_does_not_keep_a_tool_requirement_the_plan_replaces(tmp_path: Path, cli: Cli) -> None:
    """A requirement given in the sync is the plan's: replaced, not reported as kept."""
    python, kept = _tool_with_needs(tmp_path, cli, ("needed",), WheelSpec("needed"))
    newer = build_wheel(WheelSpec("needed", "2.0"), tmp_path / "newer")
    review = cli("plan", "--python", python, "--no-cache", "--sync", kept, newer)
    assert review.returncode == 0, review.stderr
    assert "  upgrade    needed 1.0 -> 2.0" in review.stdout
    assert [line for line in review.stdout.splitlines() if "kept by --sync" in line] == [
        "  wheelplan 0.1: kept by --sync, a packaging tool (--remove wheelplan removes it)"
    ]


def _requires_lines(review: str) -> list[str]:
    """The review's unmet-requirement warnings."""
    return [line for line in review.splitlines() if " requires " in line]


@pytest.mark.parametrize(
    ("requires", "installed", "fits"), [("needed>=2", "1.0", False), ("needed>=1", "2.0", True)]
)
def test_sync_warns_when_a_kept_requirement_does_not_fit_the_tool(
    tmp_path: Path, cli: Cli, requires: str, installed: str, fits: bool
) -> None:
    """--sync keeps what a tool requires so that the tool runs; a version the tool's
    range leaves out is kept all the same, and the review says the tool's need is unmet.
    That was so before the plan, so --strict, which refuses what a plan breaks, plans
    it with the same warning."""
    python, kept = _tool_with_needs(tmp_path, cli, (requires,), WheelSpec("needed", installed))
    review = cli("plan", "--python", python, "--no-cache", "--sync", kept)
    assert review.returncode == 0, review.stderr
    assert f"  needed {installed}: kept by --sync, required by wheelplan" in review.stdout
    unmet = f"  wheelplan 0.1 (installed) requires {requires}, but needed {installed} is planned"
    assert _requires_lines(review.stdout) == ([] if fits else [f"{unmet} or installed"])
    strict = cli("plan", "--python", python, "--no-cache", "--sync", "--strict", kept)
    assert (strict.returncode, strict.stderr) == (0, "")
    assert _requires_lines(strict.stdout) == _requires_lines(review.stdout)


def test_sync_warns_when_a_kept_tool_lacks_a_requirement_altogether(
    tmp_path: Path, cli: Cli
) -> None:
    """A requirement of what --sync keeps that is not installed at all is as unmet as
    one at a version the range leaves out, and is said alike, --strict or not; one whose
    marker leaves it out on this target, or that an extra not asked for adds, is none."""
    python, kept = _tool_with_needs(
        tmp_path,
        cli,
        ("absent>=2", "needed", "old; python_version < '3'", "testing; extra == 'test'"),
        WheelSpec("needed", requires=("lost", "other; sys_platform == 'nowhere'")),
    )
    for strict in ((), ("--strict",)):
        review = cli("plan", "--python", python, "--no-cache", "--sync", *strict, kept)
        assert (review.returncode, review.stderr) == (0, ""), strict
        assert _requires_lines(review.stdout) == [
            "  needed 1.0 (installed) requires lost, which is not installed or planned",
            "  wheelplan 0.1 (installed) requires absent>=2, which is not installed or planned",
        ], strict


def test_sync_warns_when_the_plan_installs_what_a_kept_tool_cannot_use(
    tmp_path: Path, cli: Cli
) -> None:
    """A tool's requirement given in the sync is installed as given, even a version the
    kept tool's range leaves out; the review says so, as for any distribution that stays."""
    python, kept = _tool_with_needs(tmp_path, cli, ("needed>=2",), WheelSpec("needed", "2.0"))
    older = build_wheel(WheelSpec("needed", "1.0"), tmp_path / "older")
    review = cli("plan", "--python", python, "--no-cache", "--sync", kept, older)
    assert review.returncode == 0, review.stderr
    assert "  downgrade  needed 2.0 -> 1.0" in review.stdout
    unmet = "wheelplan 0.1 (installed) requires needed>=2, but needed 1.0 is planned or installed"
    assert _requires_lines(review.stdout) == [f"  {unmet}"]
    strict = cli("plan", "--python", python, "--no-cache", "--sync", "--strict", kept, older)
    assert (strict.returncode, strict.stderr) == (1, f"error: --strict: {unmet}\n")


@pytest.mark.parametrize(
    ("version", "owner"), [("0.2", "wheelplan"), ("0.1", "wheelplan 0.1 (installed)")]
)
def test_sync_of_a_tool_keeps_nothing_for_it_and_warns_what_it_lacks(
    tmp_path: Path, cli: Cli, version: str, owner: str
) -> None:
    """A tool given in the sync is the user's, like any wheel given: what it requires
    stays only if given too, as `uv pip sync` keeps nothing it is not given but its
    seed packages; the review says what the tool is left without."""
    python, kept = _tool_with_needs(tmp_path, cli, ("needed",), WheelSpec("needed"))
    tool = build_wheel(WheelSpec("wheelplan", version, requires=("needed",)), tmp_path / "tool")
    review = cli("plan", "--python", python, "--no-cache", "--sync", kept, tool)
    assert review.returncode == 0, review.stderr
    assert _removed(review.stdout) == {"needed 1.0"}
    assert "kept by --sync" not in review.stdout
    assert _requires_lines(review.stdout) == [
        f"  {owner} requires needed, which is not installed or planned"
    ]


def test_install_dry_run_prints_what_plan_prints_and_writes_nothing(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    env = target.parent.parent
    wheels = demo_wheels(tmp_path / "wheels")
    before = snapshot(env)
    dry = cli("install", "--python", target, "--dry-run", "--no-cache", *wheels)
    assert dry.returncode == 0, dry.stderr
    planned = cli("plan", "--python", target, "--no-cache", *wheels)
    review, _, last = dry.stdout.rstrip("\n").rpartition("\n")
    assert planned.stdout.startswith(review + "\n")
    assert "install    alpha 1.0" in review
    assert last == f"dry run: nothing applied to {env} (without --dry-run, this plan is applied)"
    assert snapshot(env) == before


def test_a_quiet_dry_run_prints_nothing_but_its_warnings(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """`pip install --dry-run -q` and `uv pip install --dry-run -q` print nothing; the
    review was printed whole. Its warnings still go to stderr, as a quiet install's do."""
    env = target.parent.parent
    needs = WheelSpec("needs", requires=("absent",), files={"needs/__init__.py": b""})
    wheels = [*demo_wheels(tmp_path / "wheels"), build_wheel(needs, tmp_path / "wheels")]
    before = snapshot(env)
    dry = cli("install", "--python", target, "--dry-run", "-q", "--no-cache", *wheels)
    assert (dry.returncode, dry.stdout) == (0, "")
    assert dry.stderr.splitlines() == [
        "warning: needs requires absent, which is not installed or planned"
    ]
    dry = cli("uninstall", "nosuch", "--python", target, "--dry-run", "-q")
    assert (dry.returncode, dry.stdout) == (0, "")
    assert dry.stderr.splitlines() == [
        "warning: nosuch: not installed in the target; nothing to remove"
    ]
    assert snapshot(env) == before


def test_uninstall_is_install_remove_with_pip_s_and_uv_s_name(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """`pip uninstall -y NAME` and `uv pip uninstall NAME` are what users type; it plans and
    applies `install --remove NAME` with no wheels, and says the same."""
    env = target.parent.parent
    wheels = demo_wheels(tmp_path / "wheels")
    assert cli("install", "--python", target, "--no-cache", "-q", *wheels).returncode == 0
    before = snapshot(env)
    dry = cli("uninstall", "alpha", "--python", target, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "remove     alpha 1.0" in dry.stdout
    assert snapshot(env) == before

    removed = cli("uninstall", "-y", "Alpha", "--python", target)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[1:] == ["  remove     alpha 1.0"]
    plan = tmp_path / "plan.json"
    assert cli("plan", "--python", target, "-o", plan, "--remove", "beta").returncode == 0
    by_remove = json.loads(plan.read_text())
    # The apply options the README lists for it, cache ones included (as uv takes them).
    done = cli("uninstall", "beta", "--python", target, "-q", "--no-cache", "--jobs", "1")
    assert done.returncode == 0, done.stderr
    gone = {entry["path"] for entry in by_remove["files"] if entry["action"] == "remove"}
    assert gone and not any((env / path).exists() for path in gone)

    # What is not installed is skipped, as pip and uv skip it; the rest still goes.
    install = cli("install", "--python", target, "--quiet", *demo_wheels(tmp_path / "again"))
    assert install.returncode == 0, install.stderr
    again = cli("uninstall", "alpha", "gamma", "--python", target, "--quiet")
    assert (again.returncode, again.stderr) == (
        0,
        "warning: gamma: not installed in the target; nothing to remove\n",
    )
    assert not (env / "bin" / "alpha").exists()
    wheels = demo_wheels(tmp_path / "again")
    assert cli("install", "--python", target, "--quiet", *wheels).returncode == 0
    times = os.stat(env).st_mtime_ns
    nothing = cli("uninstall", "gamma", "--python", target)
    assert (nothing.returncode, nothing.stdout) == (0, f"nothing to change in {env}\n")
    # Nor is the environment's folder touched (a journal was made and removed there).
    again = cli("install", "--python", target, *wheels)
    assert again.stdout.startswith(f"nothing to change in {env}: 2 distributions"), again.stdout
    assert os.stat(env).st_mtime_ns == times


def test_a_distribution_whose_metadata_names_another_project_goes_by_its_folder(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A `leg-2.0.dist-info` whose METADATA says `Name: other` (a hand edit, or another
    tool's) is `leg` to uv 0.13.9, which reads the folder's name, and to the apply, which
    tells what a removal takes by it; pip 26.3 calls it `other`. Named `other`, its
    uninstall and upgrade were planned and then refused by their own apply ('takes leg
    with it, which the plan does not list ...'), and `uninstall leg` found nothing."""
    env = target.parent.parent
    old = build_wheel(WheelSpec(name="leg", version="2.0", files={"leg/a.py": b"2"}), tmp_path)
    new = build_wheel(WheelSpec(name="leg", version="3.0", files={"leg/a.py": b"3"}), tmp_path)

    def install_renamed() -> Path:
        assert cli("install", old, "--python", target, "-q").returncode == 0
        (metadata,) = env.glob("lib/python3*/site-packages/leg-2.0.dist-info/METADATA")
        metadata.write_text(metadata.read_text().replace("Name: leg", "Name: other"))
        return metadata.parent

    folder = install_renamed()
    upgrade = cli("install", new, "--python", target)
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.splitlines()[1:] == ["  upgrade    leg 2.0 -> 3.0"]
    assert not folder.exists()
    assert cli("verify", "--python", target).returncode == 0

    assert cli("uninstall", "leg", "--python", target, "-q").returncode == 0
    folder = install_renamed()
    other = cli("uninstall", "other", "--python", target)
    assert (other.returncode, other.stderr) == (
        0,
        "warning: other: not installed in the target; nothing to remove\n",
    )
    removed = cli("uninstall", "leg", "--python", target)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[1:] == ["  remove     leg 2.0"]
    assert not folder.exists()
    assert not list(env.glob("lib/python3*/site-packages/leg"))


@pytest.mark.parametrize("where", ["--target", "--prefix", "--root"])
def test_a_plan_that_does_nothing_makes_no_folder(
    tmp_path: Path, target: Path, cli: Cli, where: str
) -> None:
    """A mistyped folder, or a staging folder for a name nobody installed, stays missing:
    a plan with nothing to do makes no journal, and no folder either."""
    env = target.parent.parent
    before = snapshot(env)
    typo = tmp_path / "typo" / "deeper"
    nothing = cli("uninstall", "nosuch", "--python", target, where, typo)
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stderr == "warning: nosuch: not installed in the target; nothing to remove\n"
    assert nothing.stdout.startswith(f"nothing to change in {typo}")
    assert not (tmp_path / "typo").exists()
    assert snapshot(env) == before
    if where == "--root":
        # A staged prefix must still hold what the planned environment holds.
        wheels = demo_wheels(tmp_path / "wheels")
        assert cli("install", "--python", target, "--quiet", wheels[0]).returncode == 0
        refused = cli("uninstall", "nosuch", "--python", target, where, typo, "--quiet")
        assert refused.returncode == 1
        assert "the staged prefix holds other distributions" in refused.stderr
        assert not (tmp_path / "typo").exists()


def test_a_terminal_shows_a_progress_bar_unless_quiet(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheels = demo_wheels(tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    assert cli("plan", "--python", target, "-o", plan, *wheels).returncode == 0
    code, screen = run_in_pty(["apply", plan])
    assert code == 0, screen
    assert FULL_BAR in screen and "\r[" in screen
    assert "3.1 MB / 3.1 MB" in screen
    assert SUMMARY.search(screen), screen

    other = tmp_path / "other"
    second = subprocess.run([sys.executable, "-m", "venv", "--without-pip", other], check=True)
    assert second.returncode == 0
    quiet_plan = tmp_path / "quiet.json"
    made = cli("plan", "--python", other, "-o", quiet_plan, *wheels)
    assert made.returncode == 0, made.stderr
    code, screen = run_in_pty(["apply", quiet_plan, "--quiet"])
    assert (code, screen) == (0, "")
    assert (other / "bin/alpha").exists()


@pytest.mark.parametrize("compiling", [False, True], ids=["files", "bytecode"])
def test_a_terminal_s_progress_bar_ends_at_the_summary_s_size(
    tmp_path: Path, target: Path, compiling: bool
) -> None:
    """The bar's total left out the RECORDs the apply writes, so the bar of a small
    install ended at `478 B / 478 B` over a summary of 1.1 KB written. It ends where the
    summary does, bytecode and a rewritten `#!python` script included."""
    script = b"#!python\nprint('run')\n"
    spec = WheelSpec(
        "small",
        files={"small/__init__.py": b"VALUE = 1\n", "small-1.0.data/scripts/small-run": script},
    )
    wheel = build_wheel(spec, tmp_path / "wheels")
    extra = ["--compile-bytecode"] if compiling else []
    code, screen = run_in_pty(["install", wheel, "--python", target, "--no-cache", *extra])
    assert code == 0, screen
    summary = SUMMARY.search(screen)
    assert summary, screen
    drawn = re.findall(r"\r\[([#.]{30})\] +(\S+ [KMG]?B) / (\S+ [KMG]?B) ", screen)
    assert drawn, screen
    *_, (bar, done, total) = drawn
    assert (bar, done, total) == (FULL_BAR[1:-1], summary[4], summary[4]), screen


def test_a_terminal_shows_no_progress_bar_for_a_plan_that_writes_nothing(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """An uninstall on a terminal drew a full bar of `0 B / 0 B`: it writes no bytes, so
    there is no progress to show, as pip and uv show none for an uninstall."""
    wheels = demo_wheels(tmp_path / "wheels")
    assert cli("install", "--python", target, "--quiet", *wheels).returncode == 0
    code, screen = run_in_pty(["uninstall", "alpha", "--python", target])
    assert code == 0, screen
    # No bar, nor the empty line that ended one.
    assert screen.startswith("applied 1 distribution to "), screen


def test_a_wheel_whose_record_pads_its_hashes_installs_with_a_record_that_does_not(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """Padded standard base64, as pantsbuild.pants wheels spell RECORD hashes: checked as
    the digests they spell, and the installed RECORD spells them as the spec does. An
    installed RECORD spelled another way is read as its digests by verify and plan."""
    spec = WheelSpec("padded", files={"padded/__init__.py": b"", "padded/data.bin": b"\x00" * 99})
    with zipfile.ZipFile(build_wheel(spec, tmp_path / "plain")) as archive:
        record = archive.read(f"{spec.dist_info}/RECORD").decode()
    padded = respelled(record, lambda digest: base64.b64encode(digest).decode())
    wheel = build_wheel(attrs.evolve(spec, record_text=padded), tmp_path / "w")
    env = target.parent.parent
    before = snapshot(env)
    completed = cli("install", "--python", target, wheel)
    assert completed.returncode == 0, completed.stderr
    verify_records(env, read_records(env), before)
    assert cli("verify", "--python", target).returncode == 0
    # An installed RECORD spelled that way (or in hex, as installer before 0.6 wrote it)
    # is read as its digests too.
    (installed,) = env.rglob("padded-1.0.dist-info/RECORD")
    spellings = itertools.cycle([bytes.hex, lambda digest: base64.b64encode(digest).decode()])
    installed.write_text(respelled(installed.read_text(), lambda digest: next(spellings)(digest)))
    checked = cli("verify", "--python", target)
    assert checked.returncode == 0, checked.stderr
    assert cli("plan", "--python", target, wheel).stdout.count("unchanged") == 1


def test_install_asks_the_interpreter_once_and_apply_asks_it_again(
    tmp_path: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply` re-checks a plan file's target against its interpreter; `install` made its
    plan from that interpreter's answer a moment ago, and does not ask twice."""
    asked: list[bool] = []
    original = target_module.BackgroundProbe.__init__

    def counted(self: target_module.BackgroundProbe, python: str | None, **kwargs: bool) -> None:
        asked.append(kwargs.get("planning", True))
        original(self, python, **kwargs)

    monkeypatch.setattr(target_module.BackgroundProbe, "__init__", counted)
    wheels = demo_wheels(tmp_path / "wheels")
    assert cli.main(["install", "--python", str(target), "--quiet", str(wheels[1])]) == 0
    assert asked == [True]
    plan = tmp_path / "plan.json"
    assert cli.main(["plan", "--python", str(target), "-o", str(plan), str(wheels[0])]) == 0
    assert cli.main(["apply", "--quiet", str(plan)]) == 0
    assert asked == [True, True, False]


def test_install_names_the_environment_in_a_refusal_of_its_plan(
    tmp_path: Path,
    target: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`install` has no plan file: what the apply refuses in its plan is named by the
    environment, as every other error of an apply is, not by the command's name."""
    from planner.build import Request
    from planner.target import TargetInfo
    from wheelplan import planning

    planned = planning.make_plan

    def astray(request: Request, info: TargetInfo) -> Plan:
        plan = planned(request, info)
        return attrs.evolve(plan, directories=(*plan.directories, "../astray"))

    monkeypatch.setattr(planning, "make_plan", astray)
    env = target.parent.parent
    before = snapshot(env)
    wheels = demo_wheels(tmp_path / "wheels")
    assert cli.main(["install", "--python", str(target), "--quiet", str(wheels[0])]) == 1
    assert capsys.readouterr().err == (
        f"error: {env}: directory '../astray' contains a '..' component\n"
    )
    assert snapshot(env) == before


@pytest.mark.parametrize("resign", [False, True], ids=["edited", "re-signed"])
def test_an_edited_plans_interpreter_is_run_only_once_its_digest_holds(
    tmp_path: Path, target: Path, cli: Cli, resign: bool
) -> None:
    """`apply` starts the plan's interpreter while the files load; it once did so for a
    plan whose digest it then refused, which `show` refuses to review."""
    (wheel,) = demo_wheels(tmp_path / "wheels")[1:]
    plan = tmp_path / "plan.json"
    assert cli("plan", wheel, "--python", target, "-o", plan).returncode == 0
    ran = tmp_path / "ran"
    impostor = tmp_path / "impostor"
    impostor.write_text(f'#!/bin/sh\ntouch {ran}\nexec {target} "$@"\n')
    impostor.chmod(0o755)
    # Edited in place, the file keeps the layout `plan` wrote.
    text = plan.read_text().replace(json.dumps(str(target)), json.dumps(str(impostor)))
    if resign:
        old = json.loads(plan.read_text())["digest"]
        text = text.replace(old, digest_of(json.loads(text)))
    plan.write_text(text)
    result = cli("apply", plan)
    assert "Traceback" not in result.stderr
    if resign:  # what `show` reviews is what runs
        assert cli("show", plan).returncode == 0
        assert ran.exists()
    else:
        assert result.returncode == 1 and "plan digest does not match" in result.stderr
        assert not ran.exists()


def test_file_names_that_csv_must_quote_are_installed_listed_and_removed(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    names = ["a,b.txt", 'say "hi".txt', "sp ace.txt", "données é.txt", "tab\u00a0nbsp.txt"]
    files = {f"odd/{name}": name.encode() for name in names}
    wheel = build_wheel(WheelSpec("odd", files={"odd/__init__.py": b"", **files}), tmp_path)
    env = target.parent.parent
    before = snapshot(env)
    completed = cli("install", "--python", target, "--quiet", wheel)
    assert completed.returncode == 0, completed.stderr
    records = read_records(env)
    (rows,) = records.values()
    assert set(files) <= {row[0] for row in rows}
    verify_records(env, records, before)
    assert cli("verify", "--python", target).returncode == 0
    removed = cli("install", "--remove", "odd", "--python", target, "--quiet")
    assert removed.returncode == 0, removed.stderr
    assert snapshot(env) == before


def test_a_one_file_install_says_so_in_the_singular(tmp_path: Path, target: Path, cli: Cli) -> None:
    wheel = build_wheel(WheelSpec("solo", files={"solo.py": b""}), tmp_path / "w")
    completed = cli("install", "--python", target, wheel)
    assert completed.returncode == 0, completed.stderr
    # solo.py, METADATA, WHEEL, INSTALLER, REQUESTED, direct_url.json and RECORD.
    env = target.parent.parent
    assert f"applied 1 distribution to {env}: 7 files written (" in completed.stdout


def test_compile_bytecode_is_checked_hash_under_source_date_epoch(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheel = build_wheel(
        WheelSpec(
            "legacy",
            files={
                "legacy/__init__.py": b"VALUE = 42\n",
                "legacy/py2only.py": b"print 'python 2'\n",
            },
        ),
        tmp_path / "w",
    )
    env = target.parent.parent
    before = snapshot(env)
    completed = cli(
        "install",
        "--python",
        target,
        "--compile-bytecode",
        wheel,
        env={"SOURCE_DATE_EPOCH": "1600000000"},
    )
    assert completed.returncode == 0, completed.stderr
    # The wheel's own Python 2 file is reported, not fatal.
    warnings = completed.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: not compiled: ")
    assert "py2only.py" in warnings[0]
    site = next(env.glob("lib/python*/site-packages"))
    tag = sys.implementation.cache_tag
    pyc = site / "legacy" / "__pycache__" / f"__init__.{tag}.pyc"
    header = pyc.read_bytes()[:16]
    assert int.from_bytes(header[4:8], "little") == 0b11
    assert not (site / "legacy" / "__pycache__" / f"py2only.{tag}.pyc").exists()
    records = read_records(env)
    (rows,) = records.values()
    assert f"legacy/__pycache__/__init__.{tag}.pyc" in {row[0] for row in rows}
    verify_records(env, records, before)
    shown = subprocess.run(
        [target, "-c", "import legacy; print(legacy.VALUE, legacy.__cached__)"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert shown.stdout == f"42 {pyc}\n"


def test_more_compile_jobs_than_sources_start_one_compiler_per_source(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """--jobs is a ceiling: a huge one once made a batch per job, and ran out of memory
    in the middle of the transaction."""
    wheel = build_wheel(WheelSpec("few", files={"few/__init__.py": b"X = 1\n"}), tmp_path / "w")
    args = ("--python", target, "--compile-bytecode", "--jobs", str(10**12), wheel)
    completed = cli("install", *args, memory=2 * 1024**3)
    assert completed.returncode == 0, completed.stderr
    site = next(target.parent.parent.glob("lib/python*/site-packages"))
    assert (site / "few" / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc").is_file()


def test_jobs_must_be_a_positive_number(tmp_path: Path, target: Path, cli: Cli) -> None:
    wheel = build_wheel(WheelSpec("solo", files={"solo.py": b""}), tmp_path / "w")
    env = target.parent.parent
    before = snapshot(env)
    for jobs in ("0", "-3", "many"):
        for command in (("install", wheel), ("verify",)):
            completed = cli(*command, "--python", target, "--jobs", jobs)
            assert completed.returncode == 2, completed.stderr
            assert "--jobs" in completed.stderr and "Traceback" not in completed.stderr
    assert snapshot(env) == before


def test_a_prefer_losers_record_does_not_claim_the_lost_file(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    shared = b"# the same in both\n"
    wheels = [
        build_wheel(
            WheelSpec(
                name,
                files={
                    "engine/__init__.py": shared,
                    "engine/core.py": f"SPEED = {name!r}\n".encode(),
                    f"{name}.py": b"",
                },
            ),
            tmp_path / "w",
        )
        for name in ("fast", "slow")
    ]
    env = target.parent.parent
    before = snapshot(env)
    refused = cli("install", "--python", target, *wheels)
    assert refused.returncode == 1 and "engine/core.py" in refused.stderr
    assert snapshot(env) == before
    completed = cli("install", "--python", target, "--prefer", "fast", *wheels)
    assert completed.returncode == 0, completed.stderr
    records = read_records(env)
    listed = {
        Path(record).parent.name.split("-")[0]: {row[0] for row in rows}
        for record, rows in records.items()
    }
    assert {"engine/core.py", "engine/__init__.py"} <= listed["fast"]
    assert "engine/__init__.py" in listed["slow"] and "engine/core.py" not in listed["slow"]
    verify_records(env, records, before)
    shown = subprocess.run(
        [target, "-c", "import engine.core; print(engine.core.SPEED)"],
        capture_output=True,
        text=True,
    )
    assert shown.stdout == "fast\n"
