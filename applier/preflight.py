"""What an apply checks before it writes anything: that the wheels are the planned
ones, that the target is the one the plan was made for, and that nothing stands where
the plan writes.

The wheels' hashes and the target's interpreter are started (`start_preflight`) as
soon as the plan's target and distributions are read, and their answers collected
once the plan is loaded and validated (`planned_wheels`, `confirm_target`). Nothing here
writes: a refusal leaves the target as it was.
"""

from __future__ import annotations

import errno
import os
import shlex
from collections.abc import Mapping, Sequence

import attrs

from applier import bytecode, journal, wheelindex
from applier.conflicts import kept_win_problems, kept_wins
from applier.keptfiles import KeptWrite, kept_write_problems
from applier.keptrecords import Drops, kept_record_drops
from applier.options import Options
from applier.stale import SINCE, STAGED, described, installed_changes
from planner.errors import Problem, Refused
from planner.installed import (
    FileList,
    bytecode_source,
    file_lists,
    listed_files,
    parsed_records,
)
from planner.installedstate import installed_state_at
from planner.listing import (
    LEADS_OUT,
    Listing,
    RealPaths,
    emptied_left,
    going_metadata,
    is_real_dir,
    left_below,
    metadata_left,
    not_folders,
)
from planner.mounts import MountPoints, mounts_staying
from planner.ownfiles import NEEDED, OwnFiles
from planner.paths import has_control, parents
from planner.place import FOLDER_OPTIONS, Place, folder_given, place_of, recover_command
from planner.plan import INSTALLING, Distribution, FileEntry, Plan, Target
from planner.shebang import shebang
from planner.target import BackgroundProbe, TargetInfo, interpreter_problem


def _wanted(distributions: Sequence[Distribution], wheel_dir: str | None) -> dict[str, str]:
    """Wheel file name -> where the planned wheel is read from."""
    return {
        dist.wheel: os.path.join(wheel_dir, dist.wheel)
        if wheel_dir
        else (dist.wheel_path or dist.wheel)
        for dist in distributions
        if dist.action in INSTALLING and dist.wheel is not None
    }


@attrs.frozen
class Preflight:
    """What an apply starts before its plan is fully loaded, to run meanwhile.

    Started (`start_preflight`) as soon as a plan's target and distributions are
    read: the wheels are hashed, and the target's interpreter asked where it installs,
    while the 17,000 files load and are validated. Both wait on other processes or
    on hashing, not on the interpreter lock.
    """

    target: Target
    distributions: tuple[Distribution, ...]
    options: Options
    index: wheelindex.WheelIndex | None
    digests: wheelindex.Digests
    # None when the target is not confirmed (--root, tests) or its interpreter may not
    # be run (validation refuses such a plan).
    confirming: BackgroundProbe | None


def start_preflight(
    target: Target,
    distributions: Sequence[Distribution],
    options: Options,
    index: wheelindex.WheelIndex | None = None,
) -> Preflight:
    """Hash (or find in the wheel index) every wheel `distributions` install from, and
    run `target`'s interpreter when the target is to be confirmed.

    `index` is the one the plan was made with in this process (`install`), else the
    cache's is read.
    """
    if index is None and options.cache_dir is not None:
        index = wheelindex.WheelIndex(options.cache_dir)
    # A path with a control character is refused by `validate`, before any result is used.
    wanted = _wanted(distributions, options.wheel_dir)
    paths = sorted(path for path in set(wanted.values()) if not has_control(path))
    # A wheel of another size is not the planned one, and is not read to find that out.
    sizes = {
        wanted[dist.wheel]: dist.wheel_size
        for dist in distributions
        if dist.wheel is not None and dist.wheel in wanted
    }
    # With --root every file stays under the staging folder, whose interpreter may not
    # exist yet; otherwise the interpreter must agree with the plan.
    confirming = None
    if (
        options.confirm_target
        and options.root is None
        and interpreter_problem(target.interpreter) is None
    ):
        # A folder is described as `plan --target` or `--prefix` described it.
        place = place_of(target.layout, target.prefix)
        confirming = BackgroundProbe(target.interpreter, planning=False, place=place)
    return Preflight(
        target,
        tuple(distributions),
        options,
        index,
        wheelindex.Digests(paths, index, sizes),
        confirming,
    )


def planned_wheels(plan: Plan, preflight: Preflight) -> dict[str, str]:
    """Find each planned wheel and prove it is the one that was planned.

    A wheel the index knows, unchanged since it was hashed, is not hashed again.
    """
    paths: dict[str, str] = {}
    problems: list[Problem] = []
    folder = preflight.options.wheel_dir
    wanted = _wanted(plan.distributions, folder)
    # One problem, not each wheel's 'Not a directory' or 'No such file or directory'.
    if folder and wanted and not os.path.isdir(folder_given(folder, "--wheel-dir")):
        raise Refused.one(folder, "the folder --wheel-dir names does not exist")
    digests = preflight.digests.result()
    for dist in plan.distributions:
        if dist.action not in INSTALLING or dist.wheel is None:
            continue
        path = wanted[dist.wheel]
        if has_control(path):  # not hashed (start_preflight): `--wheel-dir` gave it one
            problems.append(Problem(path, "the path has a control character"))
            continue
        actual = digests[path]
        if isinstance(actual, OSError):
            moved = ""  # a plan made elsewhere, or wheels moved since: say where to look
            if actual.errno == errno.ENOENT and preflight.options.wheel_dir is None:
                moved = "; if the wheels are in another folder, give it with --wheel-dir DIR"
            problems.append(Problem(path, f"cannot read wheel: {actual.strerror}{moved}"))
            continue
        if actual == wheelindex.SIZE_DIFFERS:
            problems.append(
                Problem(path, "wheel changed since the plan was made (size differs); plan again")
            )
            continue
        if actual != dist.wheel_sha256:
            problems.append(
                Problem(path, "wheel changed since the plan was made (sha256 differs); plan again")
            )
            continue
        paths[dist.wheel] = path
    if problems:
        raise Refused(problems)
    return paths


def recover_hint(plan: Plan, root: str | None = None) -> str:
    """The command that finishes an interrupted apply of `plan` (staged under `root`,
    if one is given), for a message."""
    target = plan.target
    return recover_command(target.interpreter, target.prefix, target.layout, root)


def confirm_place(plan: Plan, given: Place | None, subject: str) -> None:
    """Refuse a plan for a folder (`--target`, `--prefix`) unless `apply` names that
    folder the same way, and a plan for an environment when it names a folder.

    An environment's prefix is vouched for by its interpreter (`confirm_target`); a
    folder's is not, and a plan with its digest recomputed could name any folder.
    """
    claimed = place_of(plan.target.layout, plan.target.prefix)
    if claimed == given:
        return
    if claimed is None:
        assert given is not None
        option = FOLDER_OPTIONS[given.layout]
        raise Refused.one(
            subject,
            f"planned for the environment of {plan.target.interpreter}, not for"
            f" {given.described}; apply it without {option}, or plan again with {option}",
        )
    if given is None:
        raise Refused.one(
            subject, f"planned for {claimed.described}; apply it with {claimed.option}"
        )
    other = given.folder if given.layout == claimed.layout else given.described
    # Either may be what the user meant: the plan's folder, or the one named now.
    raise Refused.one(
        subject,
        f"planned for {claimed.described}, not {other}; apply it with {claimed.option},"
        f" or plan again with {given.option}",
    )


def confirm_target(plan: Plan, actual: TargetInfo, subject: str) -> None:
    """Refuse a plan whose target is not what its interpreter says it is.

    A plan with its digest recomputed could name any folder as its prefix; the paths
    in it are checked against that prefix, so the prefix itself must be the real one.
    (A folder given as --target or --prefix is confirmed by the user: `confirm_place`.)
    """
    claimed = plan.target
    problems = [
        f"{what} {mine!r} here but {theirs!r} for {claimed.interpreter}"
        for what, mine, theirs in (
            ("the prefix is", claimed.prefix, actual.prefix),
            ("the scheme paths are", dict(claimed.schemes), dict(actual.schemes)),
            ("the Python version is", claimed.python_version, actual.python_version),
        )
        if mine != theirs
    ]
    if claimed.tags_fingerprint != actual.tags_fingerprint:
        problems.append(f"{claimed.interpreter} supports other wheel tags than planned for")
    if actual.externally_managed is not None and not claimed.externally_managed:
        problems.append(
            f"{claimed.interpreter} is externally managed (PEP 668, see"
            f" {actual.externally_managed.marker}) but was planned without"
            " --break-system-packages"
        )
    if problems:
        raise Refused(
            Problem(subject, f"not the environment it was planned for: {problem}; plan again")
            for problem in problems
        )


def _unlisted_changes(
    plan: Plan,
    listed_by: Mapping[str, Mapping[str, str]],
    changing: Sequence[FileEntry],
    drops: Drops,
) -> tuple[list[Problem], list[KeptWrite]]:
    """The paths a plan replaces or removes that no installed distribution lists, that
    are in no metadata folder whose RECORD the plan changes too, and that are no
    bytecode of a source the plan changes: the planner changes nothing else, and a plan
    edited to remove `pyvenv.cfg` shows only a count of removals when it is reviewed.
    With them, the replaces of files kept distributions list (`keptfiles`) whose
    RECORDs the plan does not rewrite without them (`drops`: `keptrecords`).
    `changing`: the plan's replaces and removes; `listed_by`: the paths each installed
    distribution lists, by metadata folder (`listed_files`)."""
    if not changing:
        return [], []
    listed: dict[str, list[str]] = {}
    for folder, files in listed_by.items():
        for path in files:
            listed.setdefault(path, []).append(folder)
    folders = listed_by.keys()
    planned = {entry.path for entry in plan.files}
    # A metadata folder whose RECORD (a legacy one's installed-files.txt) the plan
    # removes or writes again from its wheel: its distribution goes, or is reinstalled,
    # and what the folder holds beyond its list goes with it. One rewritten inline (a
    # --prefer loser's) stays, and keeps every file but those replaced.
    relisted = {
        entry.path
        for entry in plan.files
        if entry.action == "remove" or (entry.source is not None and entry.source.kind == "record")
    }
    going = {
        folder
        for folder in folders
        if f"{folder}/RECORD" in relisted or f"{folder}/installed-files.txt" in relisted
    }
    problems = []
    kept_writes: list[KeptWrite] = []
    for entry in changing:
        path = entry.path
        # A file is removed only with the last distribution that lists it; one a
        # distribution that stays lists too is replaced (shared, or taken by --prefer)
        # or left.
        owners = listed.get(path, ())
        staying = [folder for folder in owners if folder not in going]
        if owners and staying and entry.action == "replace":
            # Its bytes are checked unless the RECORD is rewritten without it (a loser's).
            unrewritten = tuple(
                f for f in staying if path != f"{f}/RECORD" and path not in drops.get(f, ())
            )
            if unrewritten:
                kept_writes.append(KeptWrite(entry, unrewritten))
            continue
        if (owners and not staying) or any(folder in going for folder in parents(path)):
            continue
        source = bytecode_source(path)
        if source is None or source not in planned:
            if not owners:
                why = "no installed distribution lists it, and a plan changes only what one lists"
            elif len(staying) < len(owners):
                kept = ", ".join(sorted(folder.rpartition("/")[2] for folder in staying))
                why = (
                    f"a distribution the plan keeps lists it too ({kept}), and a plan removes"
                    " a file only with the last distribution that lists it"
                )
            else:
                why = (
                    "only distributions the plan keeps list it, and a plan removes a file only"
                    " with a distribution that lists it"
                )
            problems.append(Problem(path, why))
    return problems, kept_writes


def check_installed(plan: Plan, base: str, root: str | None = None) -> list[FileList]:
    """Refuse a target whose installed distributions are not the planned ones (a folder
    that is not there has none), naming those that differ; return their file lists."""
    lists = file_lists(base, plan.target.schemes)
    changes = installed_changes(
        plan.target.installed, installed_state_at(base, plan.target.schemes, lists)
    )
    if not changes.any:
        return lists
    if root is not None:
        # Not a change: the staged prefix never held what the planned environment did.
        raise Refused.one(
            base,
            "the staged prefix holds other distributions than the environment the plan"
            f" was made for ({described(changes, STAGED)}); {_staged_way_out(plan, base)}",
        )
    raise Refused.one(
        base,
        f"the target changed since the plan was made ({described(changes, SINCE)}); plan again",
    )


def _staged_way_out(plan: Plan, base: str) -> str:
    """What to do instead of staging `plan` into a prefix that holds other distributions:
    an install is staged from a plan for what that prefix holds; a removal from what
    only the staged tree holds names that tree as the folder, without `--root`."""
    if any(dist.action in INSTALLING for dist in plan.distributions):
        return (
            "stage a plan made for an environment with nothing installed, or into a"
            " folder that holds what that environment holds"
        )
    # A staged environment is laid out as a venv at its prefix, as `--prefix` lays one out.
    place = Place("directory" if plan.target.layout == "directory" else "prefix", base)
    return (
        "to remove what the staged prefix holds, name it without --root:"
        f" {place.option} --python {shlex.quote(plan.target.interpreter)}"
    )


def check_target(
    plan: Plan,
    base: str,
    compiling: bool,
    wheel_paths: Mapping[str, str],
    root: str | None = None,
) -> None:
    """Refuse a target that changed since the plan was made, or where something stands
    in the way of what the plan writes, moves or removes (`compiling`: or of the
    `__pycache__` folders its bytecode goes in). `root`: `base` is staged under that
    --root; `wheel_paths`: where the planned wheels are read (`planned_wheels`)."""
    problems: list[Problem] = []
    if not os.path.isdir(base):
        raise Refused.one(base, "the target environment does not exist")
    if not os.access(base, os.W_OK):
        raise Refused.one(base, "the target environment is not writable")
    if journal.has_journal(base):
        raise Refused.one(
            base,
            f"an interrupted apply left a journal here; run `{recover_hint(plan, root)}` first",
        )
    lists = check_installed(plan, base, root)
    # One pass: a fresh install's 17,000 files are all writes.
    changing = [entry for entry in plan.files if entry.action in ("replace", "remove")]
    wins = kept_wins(plan)
    # Each installed RECORD is parsed once, for every check that reads it.
    records = parsed_records(lists) if changing or wins else {}
    as_target = plan.target.layout == "directory"
    listed = (
        listed_files(base, lists, records, plan.target.prefix, directory=as_target)
        if changing or wins
        else {}
    )
    problems += kept_win_problems(wins, listed)
    rewritten, drops = kept_record_drops(plan, changing, records)
    unlisted, kept = _unlisted_changes(plan, listed, changing, drops)
    problems += rewritten + unlisted
    interpreter = shebang(plan.target.interpreter)
    problems += kept_write_problems(kept, listed, wheel_paths, interpreter)
    real = RealPaths(base)  # None: a folder a symlink leads out of the environment
    # A RECORD may list them, but the planner never removes or writes over them: an
    # edit would not be seen. One refused already as no distribution's is said once.
    own = OwnFiles.of(base, plan.target.interpreter, plan.target.schemes)
    said = {problem.subject for problem in problems}
    problems += [
        Problem(
            entry.path,
            f"{NEEDED}, and a plan never removes or writes over it, whatever a RECORD lists",
        )
        for entry in changing
        if entry.path not in said and (really := real.of(entry.path)) and own.holds(really)
    ]
    disk = Listing(base)  # one listdir per folder, not one lstat per planned file
    # Folders whose entries change: a read-only one is refused now, not rolled back later,
    # and a symlinked one leading out would take writes, or files moved aside, outside.
    # (Validated paths have no empty component: `rpartition` is their `dirname`.)
    changed = {directory.rpartition("/")[0] for directory in plan.directories}
    removed = frozenset(entry.path for entry in changing if entry.action == "remove")
    for entry in plan.files:
        exists = disk.lexists(entry.path)
        folder = entry.path.rpartition("/")[0]
        changed.add(folder)
        # A folder this plan's removals empty (and so remove) may become this file.
        if entry.action == "write" and exists and left_below(base, entry.path, removed) is not None:
            problems.append(
                Problem(
                    entry.path, "exists in the target but the plan expected it absent; plan again"
                )
            )
        elif entry.action in ("replace", "remove") and not exists:
            problems.append(
                Problem(
                    entry.path, "is missing from the target but the plan expected it; plan again"
                )
            )
        elif entry.action in ("replace", "remove") and is_real_dir(os.path.join(base, entry.path)):
            # Moved aside whole, it would take whatever the folder holds with it.
            problems.append(
                Problem(entry.path, "is a directory in the target; a plan moves only files")
            )
    # A mount point made since the plan stays, as the planner would have refused it.
    points = MountPoints(base)
    going = going_metadata(removed, set(plan.directories))
    mounted = points.of_folders(going)
    problems += mounts_staying(mounted)
    for directory in plan.removed_directories:
        changed.add(directory.rpartition("/")[0])
        if not disk.lexists(directory):
            problems.append(
                Problem(
                    directory, "is missing from the target but the plan expected it; plan again"
                )
            )
        elif not mounted.keys() & {*parents(directory)} and points.is_mount(directory):
            problems.append(Problem(directory, "is a mount point, which no rmdir removes"))
    emptied = set(plan.removed_directories)
    # What is in a removed empty folder now, or where it was, is named here: with its
    # .dist-info going, or in the one a reinstall writes again.
    left = emptied_left(base, emptied, going)
    if removed:
        left += metadata_left(base, removed, set(plan.directories), emptied)
    problems += [
        Problem(
            folder,
            # One of those folders, now a file or a symlink, was expected: not absent.
            f"{path} is no longer an empty folder; plan again"
            if path in emptied
            else f"{path} is in the target but the plan expected it absent; plan again",
        )
        for folder, path in sorted(left)
        if folder not in mounted
    ]
    for folder in sorted(changed):
        full = os.path.join(base, folder)
        if disk.names(folder) is not None and os.path.isdir(full) and not os.access(full, os.W_OK):
            problems.append(Problem(folder or base, "is read-only; the apply must change it"))
    # The `__pycache__` that each source's bytecode goes in, made when missing.
    sources = [entry.path for entry in plan.files if entry.action != "remove"] if compiling else []
    bytecode_dirs = {bytecode.pycache_of(path) for path in sources if path.endswith(".py")}
    problems += [
        Problem(directory, "is not a directory in the target")
        for directory in not_folders(
            base, sorted({*plan.directories, *bytecode_dirs}), disk, real, removed
        )
    ]
    # Every folder a file is written into, moved out of or made in: a plan need not
    # list a file's folder among its directories to have it written there.
    folders = [*changed, *plan.directories, *bytecode_dirs]
    problems += [Problem(link, LEADS_OUT) for link in real.links_out(folders)]
    if problems:
        raise Refused(problems)


__all__ = [
    "Preflight",
    "check_installed",
    "check_target",
    "confirm_place",
    "confirm_target",
    "planned_wheels",
    "recover_hint",
    "start_preflight",
]
