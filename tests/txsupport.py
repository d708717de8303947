"""Helpers for the transaction tests: environments at a fixed path, runs, and trees.

A fresh install is only comparable byte for byte with an upgraded environment when
both live at the same path (script shebangs, pyvenv.cfg and direct_url.json name
it), so these helpers rebuild an environment in place instead of using a new one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from applier.faults import TRACE_PREFIX
from applier.journal import CHECKPOINTS_AFTER_COMMIT
from planner.journalnames import JOURNAL_DIR
from tests.conftest import REPO, exact_snapshot, make_env, run_cli, snapshot
from tests.wheelfactory import WheelSpec, build_wheel

# Hash-checked bytecode, so a compiled tree does not depend on when it was written.
REPRODUCIBLE = {"SOURCE_DATE_EPOCH": "1700000000"}
# How the fault tests apply their upgrades.
FAULT_OPTIONS = ("--compile-bytecode", "--jobs", "2", "--quiet")
RECOVER_HINT = "wheelplan recover --python"
# What verify and plan say of a journal, having no lock to tell whether its apply runs.
JOURNAL_FOUND = (
    "an apply is running here or was interrupted (it left a journal); unless one is running, run"
)

Tree = dict[str, tuple[str, int]]


@attrs.frozen
class FaultCase:
    """An upgrade that a fault test breaks at its file operations: `before` and
    `after` are the trees it must leave, `pristine` a copy of the one before, and
    `kinds` the checkpoints it passes."""

    env_dir: Path
    python: Path
    pristine: Path
    plan: Path
    before: Tree
    after: Tree
    kinds: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.kinds)

    def rolls_back(self, n: int) -> bool:
        """Whether a fault at checkpoint `n` comes before the commit point."""
        return n <= self.total - CHECKPOINTS_AFTER_COMMIT

    def reset(self) -> None:
        """Put the environment back as it was before the upgrade (same path, same bytes)."""
        if self.env_dir.exists():
            shutil.rmtree(self.env_dir)
        shutil.copytree(self.pristine, self.env_dir, symlinks=True)
        assert snapshot(self.env_dir) == self.before

    def apply(self, fault: str) -> subprocess.CompletedProcess[str]:
        return run_cli(
            "apply", self.plan, *FAULT_OPTIONS, env={**REPRODUCIBLE, "WHEELPLAN_FAULT": fault}
        )


def rebuild_env(path: Path) -> Path:
    """An empty venv at `path` (whatever was there is gone); returns its interpreter."""
    if path.exists():
        shutil.rmtree(path)
    return make_env(path)


def ok(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> str:
    """Run the CLI and insist that it succeeds; returns its stdout."""
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(
    *args: str | os.PathLike[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI and insist that it refuses, the wheelplan way: exit 1, `error:` lines."""
    result = run_cli(*args, env=env)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines, "a refusal must say why"
    assert all(line.startswith("error: ") for line in lines), result.stderr
    return result


def refused_unchanged(env_dir: Path, *args: str | os.PathLike[str]) -> str:
    """Run the CLI and insist that it refuses (see `refused`) and leaves `env_dir` as it
    was, to each file's inode and time; returns what it printed on stderr."""
    before = exact_snapshot(env_dir)
    result = refused(*args)
    assert exact_snapshot(env_dir) == before
    return result.stderr


def install(
    python: Path, wheels: Iterable[Path], *options: str, env: dict[str, str] | None = None
) -> None:
    ok("install", *map(str, wheels), "--python", python, "--quiet", *options, env=env)


def save_plan(
    python: Path,
    plan: Path,
    wheels: Iterable[Path],
    *options: str,
    env: dict[str, str] | None = None,
) -> None:
    ok("plan", *map(str, wheels), "--python", python, "-o", plan, *options, env=env)


def fresh_tree(
    path: Path, wheels: Sequence[Path], *options: str, env: dict[str, str] | None = None
) -> Tree:
    """The tree of a fresh install of `wheels` into a new venv at `path`."""
    python = rebuild_env(path)
    if wheels:
        install(python, wheels, *options, env=env)
    return snapshot(path)


def upgrade_planned(env_dir: Path, old: Path, new: Path, plan: Path) -> tuple[Path, Tree]:
    """`old` installed in a new venv at `env_dir` and the upgrade to `new` saved as
    `plan`: the venv's interpreter, and the tree a fresh install of `new` leaves there."""
    after = fresh_tree(env_dir, [new])
    python = rebuild_env(env_dir)
    install(python, [old])
    save_plan(python, plan, [new])
    return python, after


def has_journal(env_dir: Path) -> bool:
    return (env_dir / JOURNAL_DIR).exists()


def trace(stderr: str) -> list[str]:
    """The checkpoint kinds a `WHEELPLAN_FAULT=trace` run passed, in order."""
    for line in stderr.splitlines():
        if line.startswith(TRACE_PREFIX):
            return line[len(TRACE_PREFIX) :].split()
    raise AssertionError(f"no trace in {stderr!r}")


def folder_mtimes(root: Path) -> dict[str, int]:
    """Every real folder's modification time in nanoseconds, by path ("" is `root`).

    Apart from `snapshot`, which compares installs made at different times."""
    times = {"": root.lstat().st_mtime_ns}
    for folder, names, _ in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if not path.is_symlink():
                times[path.relative_to(root).as_posix()] = path.lstat().st_mtime_ns
    return times


def diff(left: Mapping[str, object], right: Mapping[str, object]) -> list[str]:
    """A readable difference between two trees (empty when they are equal)."""
    lines = [f"only left: {path}" for path in sorted(left.keys() - right.keys())]
    lines += [f"only right: {path}" for path in sorted(right.keys() - left.keys())]
    lines += [
        f"differs: {path} {left[path]} != {right[path]}"
        for path in sorted(left.keys() & right.keys())
        if left[path] != right[path]
    ]
    return lines


def installed_by_metadata(python: Path) -> dict[str, str]:
    """What the target's own importlib.metadata sees: name -> version."""
    code = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    result = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True
    )
    data: dict[str, str] = json.loads(result.stdout)
    return data


def missing_recorded_files(python: Path) -> list[str]:
    """Files that an installed RECORD lists but the disk lacks, per importlib.metadata."""
    code = (
        "import importlib.metadata as m\n"
        "for d in m.distributions():\n"
        "    for f in d.files or ():\n"
        "        if not f.locate().exists(): print(f)\n"
    )
    result = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def pip_list(python: Path) -> dict[str, str]:
    """What pip (ours, pointed at the target) lists: name -> version."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "list",
            "--format",
            "json",
            "--disable-pip-version-check",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {item["name"].lower(): item["version"] for item in json.loads(result.stdout)}


def checkpoints(
    env_dir: Path, plan: Path, *options: str, env: dict[str, str] | None = None
) -> list[str]:
    """The checkpoint kinds an apply of `plan` passes, learned on a copy of the target at
    its path; the environment itself is moved aside meanwhile and then put back, so its
    files keep their inodes and times (`exact_snapshot` sees no change)."""
    aside = env_dir.with_name(env_dir.name + ".aside")
    if aside.exists():
        shutil.rmtree(aside)
    env_dir.rename(aside)
    try:
        shutil.copytree(aside, env_dir, symlinks=True)
        result = run_cli("apply", plan, *options, env={**(env or {}), "WHEELPLAN_FAULT": "trace"})
        assert result.returncode == 0, result.stderr
        return trace(result.stderr)
    finally:
        if env_dir.exists():
            shutil.rmtree(env_dir)
        aside.rename(env_dir)


def swap_wheels(folder: Path) -> tuple[Path, Path]:
    """swap 1.0 has a file `swap/data` and a package `swap/tree/`; 2.0 the reverse."""
    old = WheelSpec(
        "swap",
        "1.0",
        files={
            "swap/__init__.py": b"V = 1\n",
            "swap/data": b"a file in 1.0\n",
            "swap/tree/__init__.py": b"T = 1\n",
            "swap/tree/deep/leaf.txt": b"leaf\n",
        },
    )
    new = WheelSpec(
        "swap",
        "2.0",
        files={
            "swap/__init__.py": b"V = 2\n",
            "swap/data/__init__.py": b"D = 2\n",
            "swap/data/more.txt": b"a folder in 2.0\n",
            "swap/data/sub/x.txt": b"x\n",
            "swap/tree": b"a file in 2.0\n",
        },
    )
    return build_wheel(old, folder), build_wheel(new, folder)


def prefer_wheels(folder: Path) -> tuple[Path, Path, Path]:
    """pkg 1.0 and 2.0, and rival 1.0, which ships `shared/x.py` as pkg 2.0 does but
    with other bytes: with rival installed, pkg 2.0 takes the file with `--prefer pkg`."""
    old = WheelSpec("pkg", "1.0", files={"pkg/__init__.py": b"V = 1\n"})
    new = WheelSpec(
        "pkg",
        "2.0",
        files={
            "pkg/__init__.py": b"V = 2\n",
            "pkg/data/table.txt": b"1 2\n",
            "shared/x.py": b"X = 'pkg'\n",
        },
    )
    rival = WheelSpec("rival", files={"rival.py": b"", "shared/x.py": b"X = 'rival'\n"})
    return build_wheel(old, folder), build_wheel(new, folder), build_wheel(rival, folder)


def stopped_apply(plan: Path, at: int, *options: str) -> subprocess.Popen[str]:
    """`wheelplan apply plan`, stopped (SIGSTOP) at its `at`-th file operation."""
    apply = subprocess.Popen(
        [sys.executable, "-m", "wheelplan", "apply", str(plan), "--quiet", *options],
        cwd=REPO,
        env={**os.environ, "WHEELPLAN_FAULT": f"stop:{at}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_stopped(apply)
    return apply


def sigterm_at(plan: Path, at: int, *options: str) -> tuple[int, str]:
    """`wheelplan apply plan` sent SIGTERM at its `at`-th file operation (delivered once
    it runs again): its exit code and stderr."""
    apply = stopped_apply(plan, at, *options)
    try:
        apply.send_signal(signal.SIGTERM)
    finally:
        apply.send_signal(signal.SIGCONT)
        err = apply.communicate()[1]
    return apply.returncode, err


def wait_until_stopped(process: subprocess.Popen[str]) -> None:
    """Block until `process` has stopped itself (state T) in every thread; fail if it
    exits instead. The process's own state is its main thread's: a worker thread that
    sent the SIGSTOP may still run on for a moment (under load, long enough to open the
    wheels a test then swaps)."""
    tasks = Path(f"/proc/{process.pid}/task")
    for _ in range(60_000):  # a bound against a hang, not a timing assumption
        if process.poll() is not None:
            raise AssertionError(f"the apply exited ({process.returncode}) instead of stopping")
        if all(_state(task / "stat") == "T" for task in tasks.iterdir()):
            return
        time.sleep(0.005)
    raise AssertionError("the apply never reached its stop point")


def _state(stat: Path) -> str:
    try:
        return stat.read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:  # a thread that ended meanwhile
        return "T"
