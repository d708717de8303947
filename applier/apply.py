"""The applier's driver: one plan, executed as one transaction.

The checks first (`applier.preflight`: nothing written), then the journal, then the
moves, the parallel writes, bytecode and RECORDs, then the commit. Any error before the commit rolls
everything back through the same code that recovers a crashed apply.
"""

from __future__ import annotations

import os
import posixpath
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from applier import bytecode, cache, faults, journal, recovery, unitwriter, workers
from applier.environment import base_of
from applier.lock import target_lock
from applier.madefolders import missing_folders, remove_empty
from applier.modes import current_umask
from applier.mounts import backup_homes
from applier.options import Options, source_date_epoch
from applier.ownerhashes import check_owner_hashes
from applier.preflight import (
    Preflight,
    check_installed,
    check_target,
    confirm_place,
    confirm_target,
    planned_wheels,
    recover_hint,
    start_preflight,
)
from applier.records import planned_record_size, record_files, write_record
from applier.streams import StreamError
from applier.validate import validate
from planner.errors import Refused
from planner.hashing import record_hash
from planner.listing import RealPaths, is_real_dir
from planner.paths import parents
from planner.plan import Plan
from planner.shebang import shebang
from planner.target import above_schemes


@attrs.frozen
class Summary:
    distributions: int
    files: int
    removed: int
    bytes: int
    seconds: float
    warnings: tuple[str, ...] = ()
    # The plan's empty folders (of a `.dist-info` that goes or is written again) that
    # went: counted apart, since a user counts files among what was removed.
    empty_folders: int = 0


Progress = Callable[[int, int], None]


def _parents_of(paths: Iterable[str], folders: Iterable[str]) -> set[str]:
    """Every folder whose entries change when `paths` are written, moved or removed and
    `folders` made or removed ("" is the prefix)."""
    # Validated paths have no empty component: `rpartition` is their `dirname`, faster.
    changed = {path.rpartition("/")[0] for path in paths}
    changed.update(folder.rpartition("/")[0] for folder in folders)
    return changed


def _emptied_dirs(plan: Plan, keep: Iterable[str], base: str) -> list[str]:
    """Folders that the removals may leave empty, and the empty ones the plan removes
    with their metadata folder, deepest first.

    Never a scheme root or its parents, nor a folder this apply writes into (`keep`
    adds the bytecode folders), so no folder is both removed and created; compared by
    where they really are, since a removal may name its file through a symlinked
    folder (`lib64/...` in a venv) and so its folders too.
    """
    protected = {"", *plan.target.schemes.values(), *plan.directories, *keep}
    protected.update(above_schemes(plan.target.schemes))
    candidates = {
        parent for entry in plan.files if entry.action == "remove" for parent in parents(entry.path)
    }
    candidates.update(plan.removed_directories)
    candidates -= protected
    if candidates:
        real = RealPaths(base)
        kept = {real.folder(folder) for folder in protected}
        candidates = {
            folder
            for folder in candidates
            # None leads outside, which the preflight refuses: never removed all the same.
            if (really := real.folder(folder)) is not None and really not in kept
        }
    return sorted(candidates, key=lambda path: (-path.count("/"), path))


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
    mtime = source_date_epoch(options.link_mode)
    if preflight is None or (preflight.target, preflight.distributions, preflight.options) != (
        plan.target,
        plan.distributions,
        options,
    ):
        preflight = start_preflight(plan.target, plan.distributions, options)
    validate(plan, subject)
    if options.confirm_target:
        confirm_place(plan, options.place, subject)
    base = base_of(plan.target.prefix, options.root)
    wheel_paths = planned_wheels(plan, preflight)
    check_owner_hashes(plan, wheel_paths, subject)
    if preflight.confirming is not None:
        confirm_target(plan, preflight.confirming.result(), subject)
    if preflight.index is not None:
        preflight.index.save()
    # A staging folder, a target directory or a prefix is made when missing (as pip
    # makes them).
    creates = options.root is not None or plan.target.layout != "environment"
    staged = missing_folders(base) if creates else []
    if staged and _changes_nothing(plan):
        # Not for a plan that does nothing (`uninstall` of a name nobody installed, a
        # mistyped -t DIR): it makes no folder, as it makes no journal.
        check_installed(plan, base, options.root)
        return Summary(0, 0, 0, 0, time.monotonic() - started)
    if staged:
        os.makedirs(base)
    try:
        with target_lock(base):
            check_target(plan, base, options.compile_bytecode, wheel_paths, options.root)
            quiet = _Interrupts()
            try:
                summary = _transaction(
                    plan, base, wheel_paths, options, progress, started, mtime, quiet, len(staged)
                )
            finally:
                quiet.restore()
    except BaseException:
        # A refused, rolled back or interrupted apply leaves no folders behind; one that
        # left a journal for `recover` keeps the folders that hold it (not empty).
        remove_empty(staged)
        raise
    if mtime is not None:
        # After the commit: removing the journal touched `base`; `staged` are ours too.
        for folder in [*staged, base]:
            os.utime(folder, (mtime, mtime))
    return summary


def _changes_nothing(plan: Plan) -> bool:
    """Whether `plan` has nothing to write, move or remove."""
    return not plan.files and not plan.directories


class _Interrupts:
    """Past the commit point the apply finishes: Ctrl-C and SIGTERM are ignored from
    just before it until the apply returns. Raised there, they ended a complete apply
    with exit code 1, which says nothing changed, and left its journal for `recover`."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}

    def ignore_interrupts(self) -> None:
        # Only the main thread may set handlers, and only it gets KeyboardInterrupt.
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, signal.SIG_IGN)

    def restore(self) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous.clear()


def _transaction(
    plan: Plan,
    base: str,
    wheel_paths: Mapping[str, str],
    options: Options,
    progress: Progress | None,
    started: float,
    mtime: int | None,
    quiet: _Interrupts,
    made: int,
) -> Summary:
    if _changes_nothing(plan):
        # No journal either, so the target's own folder is left as it was (its time
        # included), as pip and uv leave it.
        return Summary(0, 0, 0, 0, time.monotonic() - started)
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
    emptied = _emptied_dirs(plan, pyc_dirs, base)
    try:
        mounts = backup_homes(base, moved)
    except OSError as error:
        raise _not_started(base, error) from None
    # The folders whose times a rollback sets back: every one there now whose entries
    # may change (an emptied one is the parent of what was moved out of it), each one
    # it may remove (an empty one the plan names is the parent of nothing moved), the
    # prefix, which holds the journal, and the top of each other mount backed up in.
    changing = _parents_of([*new_files, *moved], [*created_dirs, *emptied])
    changing.update(emptied)
    changing.update(["", *(top for top, _ in mounts)])
    if mtime is not None:
        # SOURCE_DATE_EPOCH: the time of every planned folder is set before the commit,
        # `lib` above site-packages too, which nothing in it changes.
        changing.update(plan.directories, pyc_dirs)
    changing.difference_update(created_dirs)

    tx = journal.Journal(base, options.fsync)
    intent = journal.Intent(
        tuple(created_dirs),
        tuple(new_files),
        tuple(moved),
        options.fsync,
        journal.folder_times(base, changing),
        made,
        mounts,
        journal.new_backup_id(),
    )
    try:
        tx.begin(intent)
    except OSError as error:
        raise _not_started(base, error) from None
    abort = workers.Abort()
    wheel_cache: cache.Cache | None = None
    placement = cache.Placement()
    damaged: set[str] = set()
    threads: list[workers.Worker] = []
    try:
        tx.move_aside()
        removed_dirs = []
        for directory in emptied:
            full = os.path.join(base, directory)
            # A symlink to a folder is no folder this apply emptied: rmdir would fail.
            if is_real_dir(full) and not os.listdir(full):
                tx.remove_dir(directory)
                removed_dirs.append(directory)
        for directory in created_dirs:
            if directory not in pyc_dirs:
                faults.checkpoint("mkdir")
                os.mkdir(os.path.join(base, directory))
        wheel_cache, placement, link_modes = cache.placement_for(
            options.cache_dir, plan, files, wheel_paths, options.link_mode, mtime, umask
        )
        context = unitwriter.WriteContext(
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
        bar = progress if total > 0 else None  # no bytes to write, no progress to show
        if bar is not None:
            # The RECORDs come last, and count among the bytes written, as the summary
            # counts them: the bar stopped short of the summary's size.
            total += planned_record_size(plan.distributions, plan.files, plan.owner_hashes)
            while any(thread.is_alive() for thread in threads):
                bar(sum(slot.bytes_done for slot in slots), total)
                time.sleep(0.1)
            bar(sum(slot.bytes_done for slot in slots), total)
        written = workers.finish(threads, slots)
        damaged.update(wheel for slot in slots for wheel in slot.damaged)
        if wheel_cache is not None:
            stamps = {path: stamp for slot in slots for path, stamp in slot.stamps.items()}
            dropped = {wheel for slot in slots for wheel in slot.dropped}
            wheel_cache.finish(placement, stamps, dropped)
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
            plan.distributions, plan.files, written, compiled, plan.owner_hashes
        ).items():
            faults.checkpoint("record")
            write_record(os.path.join(base, record_path), data, options.fsync, mtime)
            # Counted in the summary like every other file this apply wrote.
            written[record_path] = (record_hash(data), len(data))
        written_bytes = sum(size for _, size in written.values())
        if bar is not None:
            # Ends at the summary's size: bytecode and rewritten scripts, which the plan
            # cannot size, included.
            bar(written_bytes, written_bytes)
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
        quiet.ignore_interrupts()
        tx.commit(os.path.join(base, folder) for folder in sorted(touched))
    except BaseException as error:
        # Stop every worker before anything is put back: none may write after the rollback.
        abort.requested = True
        for thread in threads:
            thread.join()
        if wheel_cache is not None:
            wheel_cache.discard(placement)
        _recover(base, plan, f"apply failed ({error}) and so did its rollback", options.root)
        if isinstance(error, StreamError) and error.wheel:
            raise Refused.one(
                error.wheel, f"{error}; the apply was rolled back, nothing was changed"
            ) from None
        if isinstance(error, OSError) and error.filename in wheel_paths.values():
            # Hashed before the first write, the wheel could not be opened afterwards.
            raise Refused.one(
                str(error.filename),
                f"cannot read wheel: {error.strerror}; the apply was rolled back,"
                " nothing was changed",
            ) from None
        if isinstance(error, StreamError | OSError):
            raise Refused.one(base, f"apply failed and was rolled back: {error}") from None
        raise
    try:
        tx.finish()
    except OSError:
        # Past the commit point every planned file is in place: recovery rolls forward.
        _recover(
            base, plan, "the apply is complete but its journal could not be removed", options.root
        )
    if wheel_cache is not None and damaged:
        # Cache entries a worker found a changed file in; the install no longer depends
        # on them, and `repair` never fails it.
        wheel_cache.repair(placement, damaged, wheel_paths, umask)
    removed = sum(1 for entry in plan.files if entry.action == "remove")
    return Summary(
        distributions=sum(1 for dist in plan.distributions if dist.action not in ("unchanged",)),
        files=len(written),
        removed=removed,
        bytes=written_bytes,
        seconds=time.monotonic() - started,
        warnings=warnings,
        empty_folders=len(set(plan.removed_directories).intersection(removed_dirs)),
    )


def _not_started(base: str, error: OSError) -> Refused:
    return Refused.one(base, f"cannot start the transaction, nothing changed: {error}")


def _recover(base: str, plan: Plan, what: str, root: str | None) -> None:
    """Recover now; if even that fails, tell the user how to finish it by hand."""
    try:
        recovery.recover(base, root)
    except (OSError, Refused) as failure:
        raise Refused.one(
            base,
            f"{what} ({failure}); fix that and run `{recover_hint(plan, root)}`",
        ) from None
