"""Check an installed environment against its RECORDs, so an image build can assert it.

Reads only, like the rest of the planner. Four kinds of problem:

- missing: a path some RECORD lists is not there;
- changed: its bytes no longer have the hash a RECORD gives (a folder, FIFO or
  device in its place is reported without being read);
- overlap: several RECORDs list one path with hashes that cannot all match it (a
  shared file with the same bytes, like `nvidia/__init__.py`, is fine, whichever
  algorithm each RECORD hashes it with);
- unowned: a file under the scheme folders that no RECORD lists, by its name or by
  a name leading to it through a symlinked folder.

What "unowned" covers: in a virtual environment (a `pyvenv.cfg` in the prefix) the
whole prefix, because every scheme folder lives there and the data scheme *is* the
prefix; elsewhere (a system or image interpreter, whose prefix also holds the
standard library and other software) only the library folders (purelib, platlib).
These are not distribution files and are never unowned: the `__pycache__/*.pyc`
of a `.py` file some RECORD lists; the environment's own files, as `venv`, uv and
virtualenv make them: `pyvenv.cfg`, the `lib64` link, `.gitignore` (`venv` since
Python 3.13) and `CACHEDIR.TAG` at the top, `<scripts>/python*`, `activate*` and
`deactivate*` (any case) and uv's `pydoc.bat`; the `.lock` uv leaves at the top of a
venv and of a --target folder (the only layouts whose top is walked); the
`README.txt` CPython puts in a system site-packages. Folders are
not files: an empty one is never reported, nor a symlink to a folder where a scheme
folder, or a folder above one, is (a site-packages moved and linked back).
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import attrs
from installer.records import Hash

from planner.errors import Problem
from planner.hashing import encode_hash, file_digest, open_regular
from planner.installed import (
    Installed,
    bytecode_source,
    files_below,
    in_metadata,
    installed_twice,
    scan_installed,
)
from planner.journalnames import BACKUP_DIR, JOURNAL_DIR, running_or_interrupted
from planner.listing import RealPaths
from planner.mounts import MountPoints
from planner.paths import parents


@attrs.frozen
class Report:
    distributions: int
    files: int
    problems: tuple[Problem, ...]


# A virtual environment's own files at its top (see the module docstring).
_VENV_FILES = frozenset({"pyvenv.cfg", "lib64", ".gitignore", "CACHEDIR.TAG"})
# What `uv pip` locks a venv, a --target or a --prefix folder with, at its top.
_UV_LOCK = ".lock"


def is_venv(prefix: str) -> bool:
    """How Python itself tells a virtual environment: a pyvenv.cfg in the prefix."""
    return os.path.isfile(os.path.join(prefix, "pyvenv.cfg"))


def not_distribution_file(
    path: str, owned: Iterable[str] | Mapping[str, object], schemes: Mapping[str, str], venv: bool
) -> bool:
    """Whether `path` (relative to the prefix) is exempt from the unowned check."""
    source = bytecode_source(path)
    if (source is not None and source in owned) or path == _UV_LOCK:
        return True
    folder, name = posixpath.split(path)
    if venv:
        if path in _VENV_FILES:
            return True
        if folder == schemes["scripts"] and (
            fnmatch.fnmatchcase(name, "python*")
            or name.lower().startswith(("activate", "deactivate"))
            or name == "pydoc.bat"
        ):
            return True
    return not venv and name == "README.txt" and folder in (schemes["purelib"], schemes["platlib"])


def _unmatched(full: str, hashes: set[str], size: int | None) -> str | list[str]:
    """Which of `hashes` the file does not have, or why that cannot be told.

    Each is checked: pip and uv keep a wheel's own hash algorithm, so one file may be
    listed as sha256 by one RECORD and sha512 by another. A file of another size than
    its RECORDs give has changed, and is not read: a sparse file of a terabyte in its
    place would take minutes to hash.
    """
    if not os.path.lexists(full):
        return "missing"
    if os.path.isdir(full):
        return "is a directory"
    if not hashes:
        return []
    try:
        fd = open_regular(full)
    except OSError as error:
        return f"cannot read: {error.strerror}"
    unmatched = sorted(hashes)
    try:
        if size is not None and os.fstat(fd).st_size != size:
            return unmatched
        digests: dict[str, bytes] = {}
        for text in sorted(hashes):
            try:
                expected = Hash.parse(text)
                if expected.name not in digests:
                    digests[expected.name] = file_digest(fd, expected.name)
            except ValueError:
                return f"RECORD gives a hash wheelplan cannot check ({text})"
            if encode_hash(expected.name, digests[expected.name]) == text:
                unmatched.remove(text)
    except OSError as error:
        return f"cannot read: {error.strerror}"
    finally:
        os.close(fd)
    return unmatched


# Paths one worker checks at a time: a task per file would cost more than hashing
# most files does.
_BATCH = 64


def _check(batch: Sequence[tuple[str, Sequence[str], int | None]]) -> list[str | list[str]]:
    return [_unmatched(full, set(hashes), size) for full, hashes, size in batch]


def _disagree(hashes: Iterable[str]) -> bool:
    """Whether no file can have all of `hashes`: two digests of one algorithm."""
    names = [text.partition("=")[0] for text in hashes]
    return len(set(names)) < len(names)


def _size(path: str, listed: Mapping[str, Mapping[str, list[Installed]]]) -> int | None:
    """The size the RECORDs listing `path` give it, when they give one and agree."""
    sizes = {item.sizes.get(path) for items in listed[path].values() for item in items}
    return sizes.pop() if len(sizes) == 1 else None


def _pool(jobs: int) -> Executor:
    """Processes where the OS forks: the work per file is interpreter work, which
    threads take turns at (17,000 files: 1.0 s with one thread, 1.1 s with two)."""
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(jobs)


def verify(
    prefix: str,
    base: str,
    schemes: Mapping[str, str],
    *,
    venv: bool,
    jobs: int = 4,
    recover: str = "wheelplan recover",
    directory: bool = False,
) -> Report:
    """Check the environment whose files are at `base` (`prefix`, or under --root; a
    --target folder with `directory`); `recover` is the command that recovers it, for
    the message a journal gets."""
    problems: list[Problem] = []
    if os.path.lexists(os.path.join(base, JOURNAL_DIR)):
        problems.append(Problem(os.path.join(base, JOURNAL_DIR), running_or_interrupted(recover)))
    installed: tuple[Installed, ...] = scan_installed(base, schemes, directory=directory)
    problems += installed_twice(installed)
    listed: dict[str, dict[str, list[Installed]]] = defaultdict(lambda: defaultdict(list))
    for item in installed:
        if item.unlisted is not None:
            problems.append(
                Problem(
                    os.path.join(base, item.dist_info),
                    f"{item.named}: {item.unlisted}; its files cannot be verified",
                )
            )
        problems += [
            Problem(
                os.path.join(base, item.dist_info, "RECORD"),
                f"{item.named}: row {row!r} points outside the"
                " environment; what it names is not checked",
            )
            for row in item.outside
        ]
        for path, hash_text in item.files.items():
            listed[path][hash_text].append(item)

    def owners(items: Iterable[Installed]) -> str:
        return ", ".join(sorted({item.named for item in items}))

    def lists(items: Sequence[Installed]) -> str:
        """Whose lists name a path: RECORDs, or a legacy .egg-info's installed-files.txt."""
        records = [item for item in items if not item.legacy]
        legacy = [item for item in items if item.legacy]
        parts = [f"the RECORD of {owners(records)}"] if records else []
        if legacy:
            parts.append(f"the installed-files.txt of {owners(legacy)}")
        return " and ".join(parts)

    paths = sorted(listed)
    checks = [
        (os.path.join(base, path), [text for text in listed[path] if text], _size(path, listed))
        for path in paths
    ]
    batches = [checks[start : start + _BATCH] for start in range(0, len(checks), _BATCH)]
    try:
        with _pool(max(1, min(jobs, len(batches)))) as pool:
            verdicts = [verdict for batch in pool.map(_check, batches) for verdict in batch]
    except BrokenProcessPool:  # a worker was killed: check here instead
        verdicts = [verdict for batch in batches for verdict in _check(batch)]
    for path, (full, hashes, _), verdict in zip(paths, checks, verdicts, strict=True):
        unmatched = [] if isinstance(verdict, str) else verdict
        # An overlap: a file whose owners' hashes cannot all match it, whatever it has.
        if _disagree(hashes) or 0 < len(unmatched) < len(hashes):
            everyone = owners(item for text in hashes for item in listed[path][text])
            problems.append(
                Problem(full, f"overlap: listed with different hashes by the RECORDs of {everyone}")
            )
        if hashes and len(unmatched) == len(hashes):
            verdict = "changed since it was installed (its RECORD hash differs)"
        elif not isinstance(verdict, str):
            continue
        every = [item for items in listed[path].values() for item in items]
        problems.append(Problem(full, f"{verdict} (listed in {lists(every)})"))
    roots = [""] if venv else sorted({schemes["purelib"], schemes["platlib"]})
    # A file a RECORD names through a symlinked folder (a venv's `lib64` is `lib`) is
    # owned under the name the walk finds it by too.
    reached = RealPaths(base).aliases(listed)
    owned: set[str] | Mapping[str, object] = {*listed, *reached} if reached else listed
    seen: set[str] = set()

    def unreadable(error: OSError) -> None:
        problems.append(
            Problem(
                str(error.filename),
                f"cannot read this folder ({error.strerror or error}); its files are not checked",
            )
        )

    # A symlink where a scheme folder (or one above it) is leads to the files: layout.
    layout = {folder for root in schemes.values() if root for folder in (*parents(root), root)}
    backups: set[str] = set()
    points = MountPoints(base)

    def journal(path: str) -> bool:
        """The journal's folders hold what an apply moved aside: no one's files. They
        are only where an apply makes them (`applier/mounts.py`): the top one, and a
        backup folder at the top of a mount inside the environment. A folder of such a
        name elsewhere (one a reinstall leaves in a `.dist-info`) is anyone's."""
        folder, _, name = path.rpartition("/")
        if name.startswith(BACKUP_DIR) and folder and points.is_mount(folder):
            backups.add(path)
            return True
        return path == JOURNAL_DIR

    # A distribution whose files are unknown still owns its metadata (an .egg-info or
    # .egg-link file, or its folder's files): reported once, as unknown, not as unowned.
    unknown = {item.dist_info for item in installed if item.unlisted is not None}

    for root in roots:
        for path in files_below(base, root, prune=journal, onerror=unreadable):
            if path in seen or path in owned:
                continue
            if unknown and in_metadata(path, unknown):
                continue
            if path in layout and os.path.isdir(os.path.join(base, path)):
                continue
            seen.add(path)
            if not not_distribution_file(path, owned, schemes, venv):
                problems.append(
                    Problem(os.path.join(base, path), "unowned: not listed in any RECORD")
                )
    problems += [
        Problem(os.path.join(base, path), running_or_interrupted(recover))
        for path in sorted(backups)
    ]
    return Report(
        distributions=len(installed), files=len(listed), problems=tuple(sorted(problems, key=str))
    )


__all__ = ["Report", "is_venv", "not_distribution_file", "verify"]
