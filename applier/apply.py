"""The applier's driver: one plan, executed as one transaction.

Checks first (nothing written), then the journal, then the moves, the parallel
writes, bytecode and RECORDs, then the commit. Any error before the commit rolls
everything back through the same code that recovers a crashed apply.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from applier import bytecode, cache, faults, journal, wheelindex, workers
from applier.environment import base_of
from applier.lock import target_lock
from applier.modes import current_umask
from applier.records import record_files, write_record
from applier.streams import StreamError
from applier.validate import interpreter_problem, validate
from planner.errors import Problem, Refused
from planner.hashing import record_hash
from planner.installed import installed_fingerprint_at
from planner.listing import (
    LEADS_OUT,
    Listing,
    RealPaths,
    is_real_dir,
    left_below,
    not_folders,
)
from planner.paths import has_control, parents
from planner.plan import INSTALLING, Distribution, Plan, Target
from planner.shebang import shebang
from planner.target import (
    FOLDER_OPTIONS,
    BackgroundProbe,
    Place,
    TargetInfo,
    place_of,
    recover_command,
)


@attrs.frozen
class Options:
    jobs: int = os.cpu_count() or 1
    compile_bytecode: bool = False
    fsync: bool = False
    root: str | None = None
    wheel_dir: str | None = None
    # The unpacked-wheel cache (applier/cache.py); None: no cache, no wheel index.
    cache_dir: str | None = None
    link_mode: str = "auto"
    # `apply --target DIR` or `--prefix DIR`: the folder a plan for a folder must name.
    place: Place | None = None
    # Run the plan's interpreter and check it reports the plan's prefix, scheme paths
    # and tags. Off for `install`, whose plan was made from that very answer, and for
    # tests that describe a target by hand.
    confirm_target: bool = True


@attrs.frozen
class Summary:
    distributions: int
    files: int
    removed: int
    bytes: int
    seconds: float
    warnings: tuple[str, ...] = ()


Progress = Callable[[int, int], None]


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
    target: Target, distributions: Sequence[Distribution], options: Options
) -> Preflight:
    """Hash (or find in the wheel index) every wheel `distributions` install from, and
    run `target`'s interpreter when the target is to be confirmed."""
    index = wheelindex.WheelIndex(options.cache_dir) if options.cache_dir is not None else None
    # A path with a control character is refused by `validate`, before any result is used.
    paths = sorted(
        path
        for path in set(_wanted(distributions, options.wheel_dir).values())
        if not has_control(path)
    )
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
        wheelindex.Digests(paths, index),
        confirming,
    )


def _wheel_paths(plan: Plan, preflight: Preflight) -> dict[str, str]:
    """Find each planned wheel and prove it is the one that was planned.

    A wheel the index knows, unchanged since it was hashed, is not hashed again.
    """
    paths: dict[str, str] = {}
    problems: list[Problem] = []
    wanted = _wanted(plan.distributions, preflight.options.wheel_dir)
    digests = preflight.digests.result()
    for dist in plan.distributions:
        if dist.action not in INSTALLING or dist.wheel is None:
            continue
        path = wanted[dist.wheel]
        actual = digests[path]
        if isinstance(actual, OSError):
            problems.append(Problem(path, f"cannot read wheel: {actual.strerror}"))
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


def _recover_command(plan: Plan) -> str:
    return recover_command(plan.target.interpreter, plan.target.prefix, plan.target.layout)


def _confirm_place(plan: Plan, given: Place | None, subject: str) -> None:
    """Refuse a plan for a folder (`--target`, `--prefix`) unless `apply` names that
    folder the same way, and a plan for an environment when it names a folder.

    An environment's prefix is vouched for by its interpreter (`_confirm_target`); a
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
    raise Refused.one(subject, f"planned for {claimed.described}, not {other}; plan again")


def _confirm_target(plan: Plan, actual: TargetInfo, subject: str) -> None:
    """Refuse a plan whose target is not what its interpreter says it is.

    A plan with its digest recomputed could name any folder as its prefix; the paths
    in it are checked against that prefix, so the prefix itself must be the real one.
    (A folder given as --target or --prefix is confirmed by the user: `_confirm_place`.)
    """
    claimed = plan.target
    problems = [
        f"{what} {mine!r} here but {theirs!r} for {claimed.interpreter}"
        for what, mine, theirs in (
            ("the prefix is", claimed.prefix, actual.prefix),
            ("the scheme paths are", dict(claimed.schemes), dict(actual.schemes)),
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


def _check_target(plan: Plan, base: str, compiling: bool) -> None:
    problems: list[Problem] = []
    if not os.path.isdir(base):
        raise Refused.one(base, "the target environment does not exist")
    if not os.access(base, os.W_OK):
        raise Refused.one(base, "the target environment is not writable")
    if journal.has_journal(base):
        raise Refused.one(
            base,
            f"an interrupted apply left a journal here; run '{_recover_command(plan)}' first",
        )
    fingerprint = installed_fingerprint_at(base, plan.target.schemes)
    if fingerprint != plan.target.installed_fingerprint:
        raise Refused.one(
            base,
            "the target changed since the plan was made (installed distributions differ);"
            " plan again",
        )
    real = RealPaths(base)  # None: a folder a symlink leads out of the environment
    disk = Listing(base)  # one listdir per folder, not one lstat per planned file
    # Folders whose entries change: a read-only one is refused now, not rolled back later,
    # and a symlinked one leading out would take writes, or files moved aside, outside.
    # (Validated paths have no empty component: `rpartition` is their `dirname`.)
    changed = {directory.rpartition("/")[0] for directory in plan.directories}
    removed = frozenset(entry.path for entry in plan.files if entry.action == "remove")
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


def _parents_of(paths: Iterable[str], folders: Iterable[str]) -> set[str]:
    """Every folder whose entries change when `paths` are written, moved or removed and
    `folders` made or removed ("" is the prefix)."""
    # Validated paths have no empty component: `rpartition` is their `dirname`, faster.
    changed = {path.rpartition("/")[0] for path in paths}
    changed.update(folder.rpartition("/")[0] for folder in folders)
    return changed


def _emptied_dirs(plan: Plan, keep: Iterable[str]) -> list[str]:
    """Folders that the removals may leave empty, deepest first.

    Never a scheme root or its parents, nor a folder this apply writes into (`keep`
    adds the bytecode folders), so no folder is both removed and created.
    """
    protected = {"", *plan.target.schemes.values(), *plan.directories, *keep}
    for root in plan.target.schemes.values():
        protected.update(parents(root))
    candidates = {
        parent for entry in plan.files if entry.action == "remove" for parent in parents(entry.path)
    }
    return sorted(candidates - protected, key=lambda path: (-path.count("/"), path))


def apply_plan(
    plan: Plan,
    subject: str,
    options: Options,
    progress: Progress | None = None,
    preflight: Preflight | None = None,
) -> Summary:
    """Apply `plan`; raise Refused (nothing changed) or roll back and re-raise on failure.

    `preflight` is what `start_preflight` began for this plan, if anything; what was
    begun for another target, other distributions or options is not used.
    """
    started = time.monotonic()
    mtime = _source_date_epoch()
    if preflight is None or (preflight.target, preflight.distributions, preflight.options) != (
        plan.target,
        plan.distributions,
        options,
    ):
        preflight = start_preflight(plan.target, plan.distributions, options)
    validate(plan, subject)
    if options.confirm_target:
        _confirm_place(plan, options.place, subject)
    base = base_of(plan.target.prefix, options.root)
    wheel_paths = _wheel_paths(plan, preflight)
    if preflight.confirming is not None:
        _confirm_target(plan, preflight.confirming.result(), subject)
    if preflight.index is not None:
        preflight.index.save()
    # A staging folder, a target directory or a prefix is made when missing (as pip
    # makes them).
    creates = options.root is not None or plan.target.layout != "environment"
    staged = _missing_folders(base) if creates else []
    if staged:
        os.makedirs(base)
    try:
        with target_lock(base):
            _check_target(plan, base, options.compile_bytecode)
            summary = _transaction(plan, base, wheel_paths, options, progress, started, mtime)
    except Refused:
        for folder in reversed(staged):  # a refused staging apply leaves no folders behind
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    if mtime is not None:
        # After the commit: removing the journal touched `base`; `staged` are ours too.
        for folder in [*staged, base]:
            os.utime(folder, (mtime, mtime))
    return summary


def _missing_folders(base: str) -> list[str]:
    """The folders `os.makedirs(base)` would create, shallowest first."""
    missing = []
    folder = base
    while not os.path.isdir(folder) and folder != os.path.dirname(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing[::-1]


# SOURCE_DATE_EPOCH as `date +%s` prints it, within what a file's mtime can hold (time_t).
_EPOCH = re.compile(r"-?[0-9]{1,19}")
_MAX_EPOCH = 2**63 - 1


def _source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH, the reproducible-builds convention: every mtime we set.

    Its spec asks a build to stop on a malformed value rather than go on without it,
    so such a value is refused before anything is written.
    """
    text = os.environ.get("SOURCE_DATE_EPOCH")
    if not text:
        return None
    if not _EPOCH.fullmatch(text) or abs(int(text)) > _MAX_EPOCH:
        raise Refused.one(
            "SOURCE_DATE_EPOCH", f"{text!r} is not a whole number of seconds since 1970"
        )
    return int(text)


def _transaction(
    plan: Plan,
    base: str,
    wheel_paths: Mapping[str, str],
    options: Options,
    progress: Progress | None,
    started: float,
    mtime: int | None,
) -> Summary:
    # Read while no other thread runs: the preflight's were waited for.
    umask = current_umask()
    files = plan.file_map()
    new_sources = [
        entry.path
        for entry in plan.files
        if entry.action != "remove" and entry.path.endswith(".py")
    ]
    tag = (
        bytecode.cache_tag(plan.target.interpreter)
        if options.compile_bytecode and new_sources
        else ""
    )
    predicted_pycs = [bytecode.pyc_path(path, tag) for path in new_sources] if tag else []
    moved = [entry.path for entry in plan.files if entry.action in ("replace", "remove")]
    moving = set(moved)
    moved += [
        pyc
        for pyc in predicted_pycs
        if pyc not in moving and os.path.lexists(os.path.join(base, pyc))
    ]
    pyc_dirs = {posixpath.dirname(pyc) for pyc in predicted_pycs}
    # Every folder this apply may create, parents before children (a parent sorts first).
    created_dirs = sorted(
        {d for d in (*plan.directories, *pyc_dirs) if not os.path.isdir(os.path.join(base, d))}
    )
    new_files = [entry.path for entry in plan.files if entry.action != "remove"] + predicted_pycs
    emptied = _emptied_dirs(plan, pyc_dirs)
    # The folders whose times a rollback sets back: every one there now whose entries
    # may change (an emptied one is the parent of what was moved out of it), and the
    # prefix, which holds the journal.
    changing = _parents_of([*new_files, *moved], [*created_dirs, *emptied])
    changing.add("")
    changing.difference_update(created_dirs)

    tx = journal.Journal(base, options.fsync)
    intent = journal.Intent(
        tuple(created_dirs),
        tuple(new_files),
        tuple(moved),
        options.fsync,
        journal.folder_times(base, changing),
    )
    try:
        tx.begin(intent)
    except OSError as error:
        raise Refused.one(base, f"cannot start the transaction, nothing changed: {error}") from None
    abort = workers.Abort()
    wheel_cache: cache.Cache | None = None
    placement = cache.Placement()
    damaged: set[str] = set()
    threads: list[workers.Worker] = []
    try:
        tx.move_aside(moved)
        removed_dirs = []
        for directory in emptied:
            full = os.path.join(base, directory)
            if os.path.isdir(full) and not os.listdir(full):
                tx.remove_dir(directory)
                removed_dirs.append(directory)
        for directory in created_dirs:
            if directory not in pyc_dirs:
                faults.checkpoint("mkdir")
                os.mkdir(os.path.join(base, directory))
        wheel_cache, placement, link_modes = cache.placement_for(
            options.cache_dir, plan, files, options.link_mode, mtime, umask
        )
        context = workers.WriteContext(
            base=base,
            files=files,
            wheel_paths=wheel_paths,
            shebang=shebang(plan.target.interpreter),
            umask=umask,
            fsync=options.fsync,
            mtime=mtime,
            linked=placement.linked,
            staged=placement.staged,
            link_modes=link_modes,
        )
        threads, slots = workers.start(context, plan.units, options.jobs, abort)
        total = sum(unit.bytes for unit in plan.units)
        if progress is not None:
            while any(thread.is_alive() for thread in threads):
                progress(sum(slot.bytes_done for slot in slots), total)
                time.sleep(0.1)
            progress(sum(slot.bytes_done for slot in slots), total)
        written = workers.finish(threads, slots)
        damaged.update(wheel for slot in slots for wheel in slot.damaged)
        if wheel_cache is not None:
            stamps = {path: stamp for slot in slots for path, stamp in slot.stamps.items()}
            wheel_cache.finish(placement, stamps)
        compiled: dict[str, str] = {}
        warnings: tuple[str, ...] = ()
        if tag:
            result = bytecode.compile_sources(
                plan.target.interpreter,
                base,
                plan.target.prefix,
                new_sources,
                options.jobs,
                tag,
                checked_hash=mtime is not None,
            )
            compiled = result.pycs
            warnings = tuple(f"not compiled: {failure}" for failure in result.failures)
            needed = {posixpath.dirname(pyc) for pyc in compiled}
            for directory in created_dirs:
                if directory in needed:
                    faults.checkpoint("mkdir")
                    os.mkdir(os.path.join(base, directory))
            bytecode.write_pycs(base, result, options.fsync, mtime)
            for pyc, data in result.data.items():
                written[pyc] = (record_hash(data), len(data))
        for record_path, data in record_files(
            plan.distributions, plan.files, written, compiled
        ).items():
            faults.checkpoint("record")
            write_record(os.path.join(base, record_path), data, options.fsync, mtime)
            # Counted in the summary like every other file this apply wrote.
            written[record_path] = (record_hash(data), len(data))
        if mtime is not None:
            for directory in sorted(
                {*plan.directories, *(posixpath.dirname(p) for p in compiled)}, reverse=True
            ):
                os.utime(os.path.join(base, directory), (mtime, mtime))
        touched = (
            _parents_of([*new_files, *moved], [*created_dirs, *removed_dirs])
            if options.fsync
            else set()
        )
        tx.commit(os.path.join(base, folder) for folder in sorted(touched))
    except BaseException as error:
        # Stop every worker before anything is put back: none may write after the rollback.
        abort.requested = True
        for thread in threads:
            thread.join()
        if wheel_cache is not None:
            wheel_cache.discard(placement)
        _recover(base, plan, f"apply failed ({error}) and so did its rollback")
        if isinstance(error, StreamError) and error.wheel:
            raise Refused.one(
                error.wheel, f"{error}; the apply was rolled back, nothing was changed"
            ) from None
        if isinstance(error, StreamError | OSError):
            raise Refused.one(base, f"apply failed and was rolled back: {error}") from None
        raise
    try:
        tx.finish()
    except OSError:
        # Past the commit point every planned file is in place: recovery rolls forward.
        _recover(base, plan, "the apply is complete but its journal could not be removed")
    if wheel_cache is not None and damaged:
        # Cache entries a worker found a changed file in; the install no longer depends
        # on them, and `repair` never fails it.
        wheel_cache.repair(placement, damaged, wheel_paths, umask)
    removed = sum(1 for entry in plan.files if entry.action == "remove")
    return Summary(
        distributions=sum(1 for dist in plan.distributions if dist.action not in ("unchanged",)),
        files=len(written),
        removed=removed,
        bytes=sum(size for _, size in written.values()),
        seconds=time.monotonic() - started,
        warnings=warnings,
    )


def _recover(base: str, plan: Plan, what: str) -> None:
    """Recover now; if even that fails, tell the user how to finish it by hand."""
    try:
        journal.recover(base)
    except (OSError, Refused) as failure:
        raise Refused.one(
            base,
            f"{what} ({failure}); fix that and run '{_recover_command(plan)}'",
        ) from None
