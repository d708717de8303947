"""The applier's driver: one plan, executed as one transaction.

Checks first (nothing written), then the journal, then the moves, the parallel
writes, bytecode and RECORDs, then the commit. Any error before the commit rolls
everything back through the same code that recovers a crashed apply.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Callable, Mapping

import attrs

from applier import bytecode, journal, workers
from applier.lock import target_lock
from applier.records import record_files
from applier.streams import StreamError
from applier.validate import validate
from planner.errors import Problem, Refused
from planner.layout import record_hash, shebang
from planner.paths import parents
from planner.plan import Plan
from planner.target import installed_fingerprint, scan_installed
from planner.wheels import file_sha256


@attrs.frozen
class Options:
    jobs: int = os.cpu_count() or 1
    compile_bytecode: bool = False
    fsync: bool = False
    root: str | None = None
    wheel_dir: str | None = None


@attrs.frozen
class Summary:
    distributions: int
    files: int
    removed: int
    bytes: int
    seconds: float
    warnings: tuple[str, ...] = ()


Progress = Callable[[int, int], None]


def base_of(prefix: str, root: str | None) -> str:
    """Where the prefix's files are on disk: under --root when staging an image."""
    if root is None:
        return prefix
    return os.path.join(os.path.abspath(root), prefix.lstrip("/"))


def _wheel_paths(plan: Plan, wheel_dir: str | None) -> dict[str, str]:
    """Find each planned wheel and prove it is the one that was planned."""
    paths: dict[str, str] = {}
    problems: list[Problem] = []
    for dist in plan.distributions:
        if dist.action in ("remove", "unchanged") or dist.wheel is None:
            continue
        path = os.path.join(wheel_dir, dist.wheel) if wheel_dir else (dist.wheel_path or dist.wheel)
        try:
            actual = file_sha256(path)
        except OSError as error:
            problems.append(Problem(path, f"cannot read wheel: {error.strerror}"))
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


def _check_target(plan: Plan, base: str) -> None:
    problems: list[Problem] = []
    if not os.path.isdir(base):
        raise Refused.one(base, "the target environment does not exist")
    if not os.access(base, os.W_OK):
        raise Refused.one(base, "the target environment is not writable")
    if journal.has_journal(base):
        raise Refused.one(
            base,
            "an interrupted apply left a journal here; run 'wheelplan recover --python"
            f" {plan.target.interpreter}' first",
        )
    fingerprint = installed_fingerprint(scan_installed(base, plan.target.schemes))
    if fingerprint != plan.target.installed_fingerprint:
        raise Refused.one(
            base,
            "the target changed since the plan was made (installed distributions differ);"
            " plan again",
        )
    real_base = os.path.realpath(base)
    for entry in plan.files:
        full = os.path.join(base, entry.path)
        exists = os.path.lexists(full)
        if entry.action == "write" and exists:
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
    for directory in plan.directories:
        full = os.path.join(base, directory)
        if os.path.lexists(full):
            real = os.path.realpath(full)
            if real != real_base and not real.startswith(real_base + os.sep):
                problems.append(Problem(directory, "leads outside the environment (a symlink)"))
            elif not os.path.isdir(full):
                problems.append(Problem(directory, "is not a directory in the target"))
    if problems:
        raise Refused(problems)


def _sha256_of(path: str) -> tuple[str, int]:
    with open(path, "rb") as stream:
        data = stream.read()
    return record_hash(data), len(data)


def _emptied_dirs(plan: Plan, base: str) -> list[str]:
    """Folders that the removals leave empty, deepest first; never a scheme root."""
    protected = {"", *plan.target.schemes.values(), *plan.directories}
    for root in plan.target.schemes.values():
        protected.update(parents(root))
    candidates = {
        parent for entry in plan.files if entry.action == "remove" for parent in parents(entry.path)
    }
    return sorted(candidates - protected, key=lambda path: (-path.count("/"), path))


def apply_plan(
    plan: Plan, subject: str, options: Options, progress: Progress | None = None
) -> Summary:
    """Apply `plan`; raise Refused (nothing changed) or roll back and re-raise on failure."""
    started = time.monotonic()
    validate(plan, subject)
    base = base_of(plan.target.prefix, options.root)
    if options.root is not None:
        os.makedirs(base, exist_ok=True)
    wheel_paths = _wheel_paths(plan, options.wheel_dir)
    with target_lock(base):
        _check_target(plan, base)
        return _transaction(plan, base, wheel_paths, options, progress, started)


def _transaction(
    plan: Plan,
    base: str,
    wheel_paths: Mapping[str, str],
    options: Options,
    progress: Progress | None,
    started: float,
) -> Summary:
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
    wanted_dirs = list(plan.directories) + sorted(
        {posixpath.dirname(pyc) for pyc in predicted_pycs}
    )
    created_dirs = sorted({d for d in wanted_dirs if not os.path.isdir(os.path.join(base, d))})
    new_files = [entry.path for entry in plan.files if entry.action != "remove"] + predicted_pycs
    mtime_text = os.environ.get("SOURCE_DATE_EPOCH")
    mtime = int(mtime_text) if mtime_text and mtime_text.isdigit() else None

    tx = journal.Journal(base, options.fsync)
    tx.begin(journal.Intent(tuple(created_dirs), tuple(new_files), tuple(moved)))
    try:
        tx.move_aside(moved)
        for directory in _emptied_dirs(plan, base):
            full = os.path.join(base, directory)
            if os.path.isdir(full) and not os.listdir(full):
                tx.remove_dir(directory)
        for directory in created_dirs:
            if directory in plan.directories:
                os.makedirs(os.path.join(base, directory), exist_ok=True)
        context = workers.WriteContext(
            base=base,
            files=files,
            wheel_paths=wheel_paths,
            shebang=shebang(plan.target.interpreter),
            fsync=options.fsync,
            mtime=mtime,
        )
        threads, slots = workers.start(context, plan.units, options.jobs)
        total = sum(unit.bytes for unit in plan.units)
        if progress is not None:
            while any(thread.is_alive() for thread in threads):
                progress(sum(slot.bytes_done for slot in slots), total)
                time.sleep(0.1)
            progress(sum(slot.bytes_done for slot in slots), total)
        written = workers.finish(threads, slots)
        compiled: dict[str, str] = {}
        warnings: tuple[str, ...] = ()
        if tag:
            result = bytecode.compile_sources(
                plan.target.interpreter, base, plan.target.prefix, new_sources, options.jobs
            )
            compiled = result.pycs
            warnings = tuple(f"not compiled: {failure}" for failure in result.failures)
            for pyc in compiled:
                written[pyc] = _sha256_of(os.path.join(base, pyc))
        for record_path, data in record_files(
            plan.distributions, plan.files, written, compiled
        ).items():
            full = os.path.join(base, record_path)
            with open(full, "xb") as stream:
                stream.write(data)
                if mtime is not None:
                    os.utime(stream.fileno(), (mtime, mtime))
                if options.fsync:
                    stream.flush()
                    os.fsync(stream.fileno())
        if mtime is not None:
            for directory in sorted(
                {*plan.directories, *(posixpath.dirname(p) for p in compiled)}, reverse=True
            ):
                os.utime(os.path.join(base, directory), (mtime, mtime))
        tx.commit()
    except BaseException as error:
        journal.recover(base)
        if isinstance(error, StreamError | OSError):
            raise Refused.one(base, f"apply failed and was rolled back: {error}") from None
        raise
    removed = sum(1 for entry in plan.files if entry.action == "remove")
    return Summary(
        distributions=sum(1 for dist in plan.distributions if dist.action not in ("unchanged",)),
        files=len(written),
        removed=removed,
        bytes=sum(size for _, size in written.values()),
        seconds=time.monotonic() - started,
        warnings=warnings,
    )


def recover_target(prefix: str, root: str | None = None) -> str:
    base = base_of(prefix, root)
    with target_lock(base):
        return journal.recover(base)
