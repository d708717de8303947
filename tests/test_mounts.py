"""Replacing and removing files in a folder of the environment that is a filesystem of
its own, as a container's site-packages volume is.

A rename cannot cross filesystems, so a file moved aside into the prefix's journal
failed there ("Invalid cross-device link") and every upgrade or uninstall rolled
back. Each test mounts a tmpfs (or bind-mounts a folder of the same filesystem, which
the device number does not tell apart) inside a venv made in tmp_path, and unmounts
it at the end. A plain mount is enough: the apply and recover processes are children
in this mount namespace. Where this run may not mount (not root, no CAP_SYS_ADMIN),
the tests are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest

from tests.conftest import ExactTree, exact_snapshot, run_cli, snapshot
from tests.hostile import recompute_digest
from tests.txsupport import (
    FAULT_OPTIONS,
    JOURNAL_FOUND,
    REPRODUCIBLE,
    FaultCase,
    diff,
    folder_mtimes,
    install,
    ok,
    rebuild_env,
    refused,
    save_plan,
    trace,
)
from tests.wheelfactory import WheelSpec, build_wheel

SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"

OLD = WheelSpec(
    "pkg",
    "1.0",
    files={
        "pkg/__init__.py": b"V = 1\n",
        "pkg/mod.py": b"M = 1\n",
        "pkg/gone/__init__.py": b"",
        "pkg/gone/deep/leaf.txt": b"a folder the upgrade empties\n",
        "pkg/data/table.txt": b"1 2\n",
        "pkg/data/old.txt": b"only in 1.0\n",
    },
)
NEW = WheelSpec(
    "pkg",
    "2.0",
    files={
        "pkg/__init__.py": b"V = 2\n",
        "pkg/mod.py": b"M = 2\n",
        "pkg/new.py": b"N = 2\n",
        "pkg/data/table.txt": b"3 4\n",
    },
)

# Where a filesystem of its own is mounted, below the venv: "tmpfs:" or "bind:" and
# the folder. A bind mount of the venv's own filesystem has the venv's device number.
LAYOUTS = {
    "site-packages": ("tmpfs:" + SITE,),
    "package": ("tmpfs:" + SITE + "/pkg",),
    "nested": ("tmpfs:" + SITE, "tmpfs:" + SITE + "/pkg/data"),
    "bind": ("bind:" + SITE,),
}


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


class Mounts:
    """The mounts one test made, unmounted (deepest first) by `unmount_all`."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.points: list[Path] = []
        self.volumes: dict[Path, Path] = {}  # each bind mount's folder: its volume

    def mount(self, how: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if how == "tmpfs":
            result = _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(folder))
        else:
            volume = self.scratch / f"volume-{len(self.points)}"
            shutil.rmtree(volume, ignore_errors=True)
            volume.mkdir(parents=True)
            volume.chmod(0o755)
            result = _mount("--bind", str(volume), str(folder))
            self.volumes[folder] = volume
        assert result.returncode == 0, result.stderr
        self.points.append(folder)

    def unmount_last(self) -> Path:
        """Unmount the last mount made (its volume keeps its files); returns its folder."""
        folder = self.points.pop()
        subprocess.run(["umount", str(folder)], check=True)
        return folder

    def bind_again(self, folder: Path) -> None:
        """Mount the volume that was bind-mounted on `folder` there again, as it was."""
        result = _mount("--bind", str(self.volumes[folder]), str(folder))
        assert result.returncode == 0, result.stderr
        self.points.append(folder)

    def unmount_all(self) -> None:
        while self.points:
            # Lazily: a test that failed may have left a process in it.
            subprocess.run(["umount", "-l", str(self.points.pop())], check=True)


def _mounts(scratch: Path) -> Mounts:
    """A `Mounts`, or the test skipped with the reason this run cannot mount."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount and umount commands here")
    probe = scratch / "probe"
    probe.mkdir(parents=True)
    result = _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {result.stderr}")
    subprocess.run(["umount", str(probe)], check=True)
    probe.rmdir()
    return Mounts(scratch / "volumes")


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[Mounts]:
    made = _mounts(tmp_path)
    try:
        yield made
    finally:
        made.unmount_all()


def mounted_env(env_dir: Path, layout: Sequence[str], mounts: Mounts) -> Path:
    """A new venv at `env_dir` with `layout` mounted in it; returns its interpreter."""
    mounts.unmount_all()
    python = rebuild_env(env_dir)
    for spec in layout:
        how, _, folder = spec.partition(":")
        mounts.mount(how, env_dir / folder)
    return python


def journals(env_dir: Path) -> list[str]:
    """Every folder of wheelplan's (its journal, a backup folder of it) anywhere in the
    environment, mounts included."""
    return sorted(
        os.path.relpath(os.path.join(folder, name), env_dir)
        for folder, names, _ in os.walk(env_dir)
        for name in names
        if name.startswith(".wheelplan-")
    )


def files_under(folder: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(where, name), folder)
        for where, _, names in os.walk(folder)
        for name in names
    )


def site_mtimes(env_dir: Path) -> dict[str, int]:
    """The times of site-packages and every folder in it (the venv's others are made
    when it is)."""
    return {
        path: mtime
        for path, mtime in folder_mtimes(env_dir).items()
        if path == SITE or path.startswith(SITE + "/")
    }


@pytest.fixture
def wheels(tmp_path: Path) -> tuple[Path, Path]:
    return build_wheel(OLD, tmp_path / "wheels"), build_wheel(NEW, tmp_path / "wheels")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_an_upgrade_replaces_files_on_another_filesystem(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path], layout: str
) -> None:
    """The upgrade leaves the tree a fresh install leaves, and no journal anywhere; its
    folders' times too (SOURCE_DATE_EPOCH), the tops of the mounts, where the backup
    folders were, included."""
    old, new = wheels
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, LAYOUTS[layout], mounts)
    install(python, [new], "--compile-bytecode", env=REPRODUCIBLE)
    after, times = snapshot(env_dir), site_mtimes(env_dir)
    python = mounted_env(env_dir, LAYOUTS[layout], mounts)
    install(python, [old], "--compile-bytecode", env=REPRODUCIBLE)
    assert (env_dir / SITE / "pkg" / "gone" / "deep").is_dir()
    install(python, [new], "--compile-bytecode", env=REPRODUCIBLE)
    assert diff(snapshot(env_dir), after) == []
    assert site_mtimes(env_dir) == times
    assert journals(env_dir) == []
    assert not (env_dir / SITE / "pkg" / "gone").exists()
    ok("verify", "--python", python)


def test_a_backup_folder_leaves_no_trace_in_the_top_of_its_mount(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path]
) -> None:
    """A reinstall changes no entry of site-packages, so its time stays, as it does
    where site-packages is no mount: the backup folder made and removed there is not
    seen in it."""
    old, _ = wheels
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, LAYOUTS["site-packages"], mounts)
    install(python, [old])
    site = env_dir / SITE
    os.utime(site, ns=(10**18, 10**18))
    install(python, [old], "--reinstall")
    assert site.stat().st_mtime_ns == 10**18
    assert journals(env_dir) == []


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_an_uninstall_removes_files_and_emptied_folders_on_another_filesystem(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path], layout: str
) -> None:
    """Every file goes, and every folder it leaves empty but a mount point (which no
    rmdir can take), and the folders that hold one."""
    old, _ = wheels
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, LAYOUTS[layout], mounts)
    site = env_dir / SITE
    install(python, [old], "--compile-bytecode")
    ok("uninstall", "pkg", "--python", python, "--quiet")
    assert files_under(site) == []
    points = {spec.partition(":")[2] for spec in LAYOUTS[layout]}
    kept = {os.path.relpath(point, SITE) for point in points if point != SITE}
    kept |= {os.path.dirname(folder) for folder in kept} - {""}
    left = {os.path.relpath(folder, site) for folder, _, _ in os.walk(site)} - {"."}
    assert left == kept
    assert journals(env_dir) == []
    ok("verify", "--python", python)


def _foreign_backup(folder: Path) -> Path:
    """A `.wheelplan-backup` at the top of a mount that no journal of this environment
    made (another environment's, on a volume they share), full of its own files."""
    foreign = folder / ".wheelplan-backup"
    foreign.mkdir()
    for index in range(40):  # more than any moved file's index here
        (foreign / str(index)).write_text("another environment's\n")
    return foreign


def test_a_backup_folder_another_journal_left_at_a_mount_top_is_left_alone(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path]
) -> None:
    """Not this apply's to use, nor to remove: the upgrade backs up in a folder of its
    own there, and works; one rolled back by an error there leaves the other as well."""
    old, new = wheels
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, LAYOUTS["site-packages"], mounts)
    install(python, [old])
    foreign = _foreign_backup(env_dir / SITE)
    theirs, before = exact_snapshot(foreign), exact_snapshot(env_dir)
    # Checkpoint 3 makes the backup folder on the mount.
    result = run_cli("install", new, "--python", python, "-q", env={"WHEELPLAN_FAULT": "error:3"})
    assert result.returncode == 1, result.stderr
    assert exact_snapshot(env_dir) == before
    install(python, [new])
    assert (env_dir / SITE / "pkg" / "__init__.py").read_bytes() == b"V = 2\n"
    assert exact_snapshot(foreign) == theirs
    assert journals(env_dir) == [f"{SITE}/.wheelplan-backup"]


def test_recovery_neither_restores_from_nor_removes_a_backup_folder_it_did_not_make(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path]
) -> None:
    """Killed after the journal names the mount, before it makes its backup folder
    there: a `.wheelplan-backup` that appears there since is not the journal's, and
    recovery puts back the environment as it was, leaving that folder as it is; a
    later apply is not stopped by it."""
    old, _ = wheels
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, LAYOUTS["bind"], mounts)
    install(python, [old], "--compile-bytecode")
    untouched = exact_snapshot(env_dir)
    # Checkpoint 3 comes just before the backup folder on the mount is made.
    killed = run_cli("uninstall", "pkg", "--python", python, env={"WHEELPLAN_FAULT": "kill:3"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert journals(env_dir) == [".wheelplan-journal"]
    foreign = _foreign_backup(env_dir / SITE)
    theirs = exact_snapshot(foreign)
    assert ok("recover", "--python", python).endswith(": rolled back\n")
    assert exact_snapshot(foreign) == theirs
    mine = {
        path: entry
        for path, entry in exact_snapshot(env_dir).items()
        if not path.startswith(f"{SITE}/.wheelplan-backup")
    }
    assert mine == untouched
    ok("uninstall", "pkg", "--python", python, "--quiet")
    assert files_under(env_dir / SITE) == sorted(f".wheelplan-backup/{name}" for name in theirs)
    assert exact_snapshot(foreign) == theirs


# --- a metadata folder that is, or holds, a mount point ----------------------------

LICENSED = WheelSpec(
    "lic", files={"lic/__init__.py": b"", "lic-1.0.dist-info/licenses/LICENSE": b"MIT\n"}
)
LICENSED_NEW = WheelSpec("lic", "2.0", files={"lic/__init__.py": b"V = 2\n"})
# A mount in the old .dist-info: how, and where in it ("" is the folder itself).
METADATA_MOUNTS = {
    "metadata folder": ("tmpfs", ""),
    "licenses holding a file": ("tmpfs", "licenses"),
    "empty folder": ("tmpfs", "extra"),
    "empty bind mount": ("bind", "extra"),
}
STAYS = "which would then still name a distribution that is gone; unmount it first"


def mount_stays(point: str) -> str:
    """The refusal of lic 1.0's .dist-info, going, where `point` is a mount point."""
    folder = f"{SITE}/{LICENSED.dist_info}"
    if point == folder:
        return (
            f"error: {folder}: is a mount point, which no rmdir removes: it would stay, {STAYS}\n"
        )
    return (
        f"error: {folder}: {point} would stay in this metadata folder (a mount point,"
        f" which no rmdir removes), {STAYS}\n"
    )


def mount_in_metadata(env_dir: Path, where: str, mounts: Mounts) -> str:
    """Mount a folder in the installed `lic` 1.0's .dist-info (`METADATA_MOUNTS`), with
    what was in it copied onto the mount; returns its path in the environment."""
    how, inside = METADATA_MOUNTS[where]
    folder = env_dir / SITE / LICENSED.dist_info / inside
    kept = mounts.scratch.parent / "kept"
    if folder.exists():
        shutil.copytree(folder, kept, symlinks=True)
    mounts.mount(how, folder)
    if kept.exists():
        shutil.copytree(kept, folder, symlinks=True, dirs_exist_ok=True)
    return str(folder.relative_to(env_dir))


@pytest.mark.parametrize("command", ["upgrade", "uninstall"])
@pytest.mark.parametrize("where", sorted(METADATA_MOUNTS))
def test_a_mount_point_in_a_metadata_folder_that_goes_is_refused(
    tmp_path: Path, mounts: Mounts, where: str, command: str
) -> None:
    """No rmdir removes a mount point: the .dist-info that is or holds one would stay,
    naming a distribution that is gone (an upgrade left two versions, which every later
    plan refused; an empty one the plan removed failed the apply). Refused up front."""
    old, new = (build_wheel(spec, tmp_path / "wheels") for spec in (LICENSED, LICENSED_NEW))
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, (), mounts)
    install(python, [old])
    point = mount_in_metadata(env_dir, where, mounts)
    before = exact_snapshot(env_dir)
    if command == "upgrade":
        result = refused("install", new, "--python", python)
    else:
        result = refused("uninstall", "lic", "--python", python)
    assert exact_snapshot(env_dir) == before
    assert result.stderr == mount_stays(point)


@pytest.mark.parametrize(
    "where",
    ["metadata folder", "metadata folder, a file added", "empty folder", "empty bind mount"],
)
def test_a_mount_point_made_in_a_metadata_folder_after_the_plan_is_refused_by_the_apply(
    tmp_path: Path, mounts: Mounts, where: str
) -> None:
    """The preflight trusts no plan: the folder mounted since, or an empty folder the
    plan removes that is now a mount point, is refused before anything changes."""
    old = build_wheel(LICENSED, tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, (), mounts)
    install(python, [old])
    (env_dir / SITE / LICENSED.dist_info / "extra").mkdir()  # a plan removes it
    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "lic")
    point = mount_in_metadata(env_dir, where.partition(",")[0], mounts)
    if where.endswith("a file added"):  # on the mount: named once, with the mount point
        (env_dir / point / "added.txt").write_text("made since the plan\n")
    before = exact_snapshot(env_dir)
    result = refused("apply", plan)
    assert exact_snapshot(env_dir) == before
    assert result.stderr == mount_stays(point)


def test_an_empty_folder_a_plan_removes_that_is_a_mount_point_is_refused_by_the_apply(
    tmp_path: Path, mounts: Mounts
) -> None:
    """Whatever folder the plan says it is in: one that names the .dist-info among its
    directories (so it does not go whole) still may not remove a mount point."""
    old = build_wheel(LICENSED, tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, (), mounts)
    install(python, [old])
    (env_dir / SITE / LICENSED.dist_info / "extra").mkdir()
    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "lic")
    data = json.loads(plan.read_text())
    data["directories"] = sorted({*data["directories"], f"{SITE}/{LICENSED.dist_info}"})
    plan.write_text(json.dumps(recompute_digest(data)))
    point = mount_in_metadata(env_dir, "empty folder", mounts)
    before = exact_snapshot(env_dir)
    result = refused("apply", plan)
    assert exact_snapshot(env_dir) == before
    assert result.stderr == f"error: {point}: is a mount point, which no rmdir removes\n"


@pytest.mark.parametrize("how", ["tmpfs", "bind"])
def test_a_reinstall_leaves_an_empty_mount_point_in_its_metadata_folder(
    tmp_path: Path, mounts: Mounts, how: str
) -> None:
    """A reinstall removes the old .dist-info's empty folders, but not one that is a
    mount point (no rmdir takes it), nor the folder holding it; the .dist-info stays
    whatever is left in it, so that is no refusal."""
    old = build_wheel(LICENSED, tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = mounted_env(env_dir, (), mounts)
    install(python, [old])
    dist_info = env_dir / SITE / LICENSED.dist_info
    (dist_info / "alone").mkdir()
    mounts.mount(how, dist_info / "outer" / "point")
    plan = tmp_path / "reinstall.json"
    save_plan(python, plan, [old], "--reinstall")
    assert json.loads(plan.read_text())["removed_directories"] == [
        f"{SITE}/{LICENSED.dist_info}/alone"
    ]
    ok("apply", plan, "--quiet")
    assert (dist_info / "outer" / "point").is_dir() and not (dist_info / "alone").exists()
    ok("verify", "--python", python)


def _not_mounted(folder: Path) -> str:
    return (
        f"error: {folder}: the interrupted apply backed up files at the top of the mount"
        " here, which is not mounted now; mount it again, then run recover again\n"
    )


def _upgrade_killed_on_a_bind_mount(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path], killed: str
) -> tuple[Path, ExactTree]:
    """Install the old wheel on a site-packages bind-mounted on its own, then kill the
    upgrade once every file is moved aside ("before the commit") or before the backup
    folder on the mount goes ("after the commit"): the environment's Python, and its
    tree before the upgrade."""
    old, new = wheels
    env_dir = tmp_path / "env"
    plan = tmp_path / "upgrade.json"

    def upgradable() -> Path:
        python = mounted_env(env_dir, LAYOUTS["bind"], mounts)
        install(python, [old], "--compile-bytecode", env=REPRODUCIBLE)
        save_plan(python, plan, [new])
        return python

    upgradable()
    kinds = _trace(plan)
    python = upgradable()
    untouched = exact_snapshot(env_dir)
    if killed == "before the commit":
        at = max(i for i, kind in enumerate(kinds) if kind == "move") + 2
    else:
        at = kinds.index("cleanup") + 1
    result = run_cli(
        "apply", plan, *FAULT_OPTIONS, env={**REPRODUCIBLE, "WHEELPLAN_FAULT": f"kill:{at}"}
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    return python, untouched


@pytest.mark.parametrize("killed", ["before the commit", "after the commit"])
def test_recovery_without_a_mount_changes_nothing_until_it_is_mounted_again(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path], killed: str
) -> None:
    """The backups on a mount are not there while it is unmounted, nor is anything the
    apply wrote there: recovery would restore nothing and drop the journal, the only
    record of where they are. It refuses, keeping the journal; once the mount is back,
    it recovers."""
    env_dir = tmp_path / "env"
    python, untouched = _upgrade_killed_on_a_bind_mount(tmp_path, mounts, wheels, killed)
    site = mounts.unmount_last()
    unmounted = exact_snapshot(env_dir)
    for _ in range(2):
        result = run_cli("recover", "--python", python)
        assert (result.returncode, result.stderr) == (1, _not_mounted(site))
        assert exact_snapshot(env_dir) == unmounted
    mounts.bind_again(site)
    outcome = "rolled back" if killed == "before the commit" else "rolled forward"
    assert ok("recover", "--python", python).endswith(f": {outcome}\n")
    assert journals(env_dir) == []
    if killed == "before the commit":
        assert exact_snapshot(env_dir) == untouched
    else:
        assert (env_dir / SITE / "pkg" / "__init__.py").read_bytes() == b"V = 2\n"
    ok("verify", "--python", python)


def test_recovery_on_another_volume_mounted_in_its_place_changes_nothing(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path]
) -> None:
    """Another volume mounted where the apply backed up is a mount of its own, but holds
    neither the backups nor the files moved aside: restoring nothing and dropping the
    journal would lose them (left in the real volume's backup folder, which nothing
    would then recover). Recovery refuses, changing nothing, until the volume is back."""
    env_dir = tmp_path / "env"
    python, untouched = _upgrade_killed_on_a_bind_mount(
        tmp_path, mounts, wheels, "before the commit"
    )
    site = mounts.unmount_last()
    mounts.mount("tmpfs", site)  # an empty volume of its own
    elsewhere = exact_snapshot(env_dir)
    result = run_cli("recover", "--python", python)
    assert (result.returncode, result.stderr) == (1, _another_volume(site))
    assert exact_snapshot(env_dir) == elsewhere
    mounts.unmount_last()
    mounts.bind_again(site)
    assert ok("recover", "--python", python).endswith(": rolled back\n")
    assert journals(env_dir) == []
    assert exact_snapshot(env_dir) == untouched


@pytest.mark.parametrize("damage", ["made", "not JSON"])
def test_a_damaged_journal_points_at_the_backups_on_the_mount(
    tmp_path: Path, mounts: Mounts, wheels: tuple[Path, Path], damage: str
) -> None:
    """The old files of a killed upgrade are in the backup folder at the top of the
    mount: a damaged intent.json that still names it says so, and one that cannot be
    read says where to look. Recovery changes nothing, and once the journal is whole
    again it rolls back."""
    env_dir = tmp_path / "env"
    python, untouched = _upgrade_killed_on_a_bind_mount(
        tmp_path, mounts, wheels, "before the commit"
    )
    intent_file = env_dir / ".wheelplan-journal" / "intent.json"
    whole = intent_file.read_bytes()
    backup_id = json.loads(whole)["backup_id"]
    if damage == "made":
        intent_file.write_text(json.dumps({**json.loads(whole), "made": -1}))
        problem = "intent.json has a count of folders made that no path can have"
        where = f"{env_dir / SITE}/.wheelplan-backup-{backup_id}/"
    else:
        intent_file.write_text("{")
        problem = (
            "intent.json is not valid JSON: Expecting property name enclosed in double"
            " quotes: line 1 column 2 (char 1)"
        )
        where = "any .wheelplan-backup-*/ folder at the top of a mount inside the environment"
    damaged = exact_snapshot(env_dir)
    result = run_cli("recover", "--python", python)
    assert (result.returncode, result.stderr) == (
        1,
        f"error: {env_dir / '.wheelplan-journal'}: the journal is damaged ({problem});"
        " wheelplan will not guess how to undo it. Inspect it and restore the files in"
        f" backup/ and in {where} by hand\n",
    )
    assert exact_snapshot(env_dir) == damaged
    intent_file.write_bytes(whole)
    assert ok("recover", "--python", python).endswith(": rolled back\n")
    assert exact_snapshot(env_dir) == untouched


def _another_volume(folder: Path) -> str:
    return (
        f"error: {folder}: the interrupted apply backed up files at the top of the mount"
        " here, and what is mounted now holds neither them nor their backups; mount the"
        " volume it used again, then run recover again\n"
    )


# --- faults ---------------------------------------------------------------------------


@attrs.frozen
class Case(FaultCase):
    """An upgrade over three homes for its backups: the prefix's journal (the old
    dist-info), a tmpfs on the package folder, and another on its data folder."""

    mounts: Mounts

    LAYOUT = ("tmpfs:" + SITE + "/pkg", "tmpfs:" + SITE + "/pkg/data")

    def faults(self) -> list[int]:
        """The checkpoints to fail at: every one that makes or removes the journal's
        folders, and of each run of other operations of a kind the first, the middle
        and the last (the rest are more of the same, and each costs an apply)."""
        chosen = set()
        start = 0
        for end in range(1, len(self.kinds) + 1):
            if end == len(self.kinds) or self.kinds[end] != self.kinds[start]:
                run = range(start + 1, end + 1)  # checkpoints count from 1
                if self.kinds[start] in ("journal", "cleanup"):
                    chosen.update(run)
                else:
                    chosen.update((run[0], run[len(run) // 2], run[-1]))
                start = end
        return sorted(chosen)

    def rolls_back(self, n: int) -> bool:
        """Whether a fault at checkpoint `n` comes before the commit point (each backup
        folder is removed after it)."""
        return n <= self.kinds.index("commit") + 1

    def reset(self) -> None:
        """The environment as before the upgrade: the same bytes, in new mounts."""
        mounts = self.mounts
        mounts.unmount_all()
        shutil.rmtree(self.env_dir)
        shutil.copytree(self.pristine, self.env_dir, symlinks=True)
        for spec in self.LAYOUT:  # shallowest first: each one's copy is in the last
            folder = self.env_dir / spec.partition(":")[2]
            aside = folder.with_name(folder.name + ".aside")
            folder.rename(aside)
            mounts.mount("tmpfs", folder)
            shutil.copytree(aside, folder, symlinks=True, dirs_exist_ok=True)
            shutil.rmtree(aside)
        assert snapshot(self.env_dir) == self.before


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    folder = tmp_path_factory.mktemp("mounted-faults")
    mounts = _mounts(folder)
    try:
        old, new = build_wheel(OLD, folder / "wheels"), build_wheel(NEW, folder / "wheels")
        env_dir = folder / "env"
        python = mounted_env(env_dir, Case.LAYOUT, mounts)
        install(python, [new], "--compile-bytecode", env=REPRODUCIBLE)
        after = snapshot(env_dir)
        python = mounted_env(env_dir, Case.LAYOUT, mounts)
        install(python, [old], "--compile-bytecode", env=REPRODUCIBLE)
        # Read-only files, whose modes must come back with them.
        (env_dir / SITE / "pkg" / "mod.py").chmod(0o444)
        (env_dir / SITE / "pkg" / "data" / "old.txt").chmod(0o444)
        plan = folder / "upgrade.json"
        save_plan(python, plan, [new])
        pristine = folder / "pristine"
        shutil.copytree(env_dir, pristine, symlinks=True)
        before = snapshot(env_dir)
        kinds = tuple(_trace(plan))
        made = Case(env_dir, python, pristine, plan, before, after, kinds, mounts)
        made.reset()
        yield made
    finally:
        mounts.unmount_all()


def _trace(plan: Path) -> list[str]:
    """The checkpoint kinds the upgrade passes. Not `txsupport.checkpoints`, whose copy
    of the environment would hold no mount: traced on the environment itself, which
    the fixture then sets back."""
    result = run_cli(
        "apply", plan, *FAULT_OPTIONS, env={**REPRODUCIBLE, "WHEELPLAN_FAULT": "trace"}
    )
    assert result.returncode == 0, result.stderr
    return trace(result.stderr)


def test_the_case_backs_up_on_three_filesystems(case: Case) -> None:
    """The upgrade passes every kind of operation, and ends as a fresh install."""
    case.reset()
    assert {"journal", "move", "rmdir", "mkdir", "create", "commit", "cleanup"} <= set(case.kinds)
    # A backup folder made on each tmpfs after the journal's two, and removed first.
    assert case.kinds.count("journal") == 4 and case.kinds[-4:] == ("cleanup",) * 4
    result = case.apply("error:0")  # a fault that never fires
    assert result.returncode == 0, result.stderr
    assert diff(snapshot(case.env_dir), case.after) == []
    assert journals(case.env_dir) == []


def test_an_error_at_any_file_operation_rolls_back_every_filesystem(case: Case) -> None:
    for n in case.faults():
        case.reset()
        times, untouched = folder_mtimes(case.env_dir), exact_snapshot(case.env_dir)
        result = case.apply(f"error:{n}")
        assert journals(case.env_dir) == [], n
        if case.rolls_back(n):
            assert result.returncode == 1, (n, result.stderr)
            assert "rolled back" in result.stderr or "nothing changed" in result.stderr
            assert diff(exact_snapshot(case.env_dir), untouched) == [], n
            assert folder_mtimes(case.env_dir) == times, n
        else:
            assert result.returncode == 0, (n, result.stderr)
            assert diff(snapshot(case.env_dir), case.after) == [], n


def test_a_kill_at_any_file_operation_is_recovered_on_every_filesystem(case: Case) -> None:
    for n in case.faults():
        case.reset()
        times, untouched = folder_mtimes(case.env_dir), exact_snapshot(case.env_dir)
        killed = case.apply(f"kill:{n}")
        assert killed.returncode == -signal.SIGKILL, (n, killed.stderr)
        ok("recover", "--python", case.python)
        assert journals(case.env_dir) == [], n
        if case.rolls_back(n):
            assert diff(exact_snapshot(case.env_dir), untouched) == [], n
            # The prefix's own time is set back only where the intent was written.
            assert {**folder_mtimes(case.env_dir), "": 0} == {**times, "": 0}, n
        else:
            assert diff(snapshot(case.env_dir), case.after) == [], n


def test_a_recovery_killed_anywhere_is_run_again_on_every_filesystem(case: Case) -> None:
    """Killed after every file was moved aside, then its recovery killed at each of its
    own file operations: the next recovery puts back the exact tree."""
    moved = max(i for i, kind in enumerate(case.kinds) if kind == "move") + 2
    case.reset()
    assert case.apply(f"kill:{moved}").returncode == -signal.SIGKILL
    result = run_cli("recover", "--python", case.python, env={"WHEELPLAN_FAULT": "trace"})
    assert result.returncode == 0, result.stderr
    steps = len(trace(result.stderr))
    for m in range(1, steps + 1):
        case.reset()
        untouched = exact_snapshot(case.env_dir)
        assert case.apply(f"kill:{moved}").returncode == -signal.SIGKILL
        first = run_cli("recover", "--python", case.python, env={"WHEELPLAN_FAULT": f"kill:{m}"})
        assert first.returncode == -signal.SIGKILL, (m, first.stderr)
        ok("recover", "--python", case.python)
        assert journals(case.env_dir) == [], m
        assert diff(exact_snapshot(case.env_dir), untouched) == [], m


def test_verify_names_the_journals_a_killed_apply_left_and_no_file_in_them(case: Case) -> None:
    """Backups on another filesystem are the journal's, not files no RECORD lists."""
    moved = max(i for i, kind in enumerate(case.kinds) if kind == "move") + 2
    case.reset()
    assert case.apply(f"kill:{moved}").returncode == -signal.SIGKILL
    left = journals(case.env_dir)
    assert len(left) == 3, left  # the prefix's, and one on each tmpfs
    result = run_cli("verify", "--python", case.python)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    journal_lines = [line for line in lines if JOURNAL_FOUND in line]
    assert sorted(line.split(": ")[1] for line in journal_lines) == sorted(
        str(case.env_dir / path) for path in left
    )
    assert not [line for line in lines if "unowned" in line], lines
    ok("recover", "--python", case.python)
    assert journals(case.env_dir) == []
