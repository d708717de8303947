"""What a target folder holds, read one folder at a time.

The planner and the applier both ask whether each of 17,000 planned paths exists.
One `os.listdir` per folder answers that for every file in it, and a folder missing
from its parent's listing answers it for everything below, without a system call.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping, Set

from planner.errors import Refused
from planner.paths import is_within, join, parents
from planner.trees import walk


class Listing:
    """The folders under `prefix`, each listed once, on demand (relative POSIX paths)."""

    UNREADABLE = frozenset({"\0"})  # a folder that exists but cannot be listed

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.listings: dict[str, frozenset[str] | None] = {}

    def names(self, folder: str) -> frozenset[str] | None:
        """The entries of `folder` (relative, "" is the prefix); None when it is missing."""
        if folder in self.listings:
            return self.listings[folder]
        names: frozenset[str] | None = None
        parent, _, name = folder.rpartition("/")
        above = self.names(parent) if folder else self.UNREADABLE
        if above is self.UNREADABLE or (above is not None and name in above):
            try:
                names = frozenset(os.listdir(os.path.join(self.prefix, folder)))
            except (FileNotFoundError, NotADirectoryError):
                names = None
            except OSError:
                names = self.UNREADABLE
        self.listings[folder] = names
        return names

    def lexists(self, path: str) -> bool:
        """Whether `path` exists; raise Refused when that cannot be told (a path longer
        than the system takes, a folder that cannot be searched): a plan built on the
        guess `os.path.lexists` makes would leave such a file behind, or write over it.
        A path through a symlink loop leads to no file: it is absent."""
        folder, _, name = path.rpartition("/")
        names = self.names(folder)
        if names is self.UNREADABLE:
            try:
                os.lstat(os.path.join(self.prefix, path))
            except (FileNotFoundError, NotADirectoryError):
                return False
            except OSError as error:
                if error.errno == errno.ELOOP:
                    return False
                problem = f"cannot tell whether it exists: {error.strerror or error}"
                raise Refused.one(path, problem) from None
            return True
        return names is not None and name in names

    def existing(self, paths: Set[str], folders: Iterable[str]) -> set[str]:
        """Those of `paths` that `lexists` finds, where `folders` holds every folder that
        holds one of them: each folder's listing answers for all of its paths at once,
        so a missing folder (most of them, in a fresh environment) costs one lookup."""
        found: set[str] = set()
        unreadable: set[str] = set()
        for folder in folders:
            names = self.names(folder)
            if names is self.UNREADABLE:
                unreadable.add(folder)
            elif names:
                inside = f"{folder}/" if folder else ""
                found.update(path for name in names if (path := inside + name) in paths)
        if unreadable:
            found.update(
                path
                for path in paths
                if path.rpartition("/")[0] in unreadable and self.lexists(path)
            )
        return found


# Why a planned folder is refused where a symlinked folder on the way leads out.
LEADS_OUT = "leads outside the environment (a symlink)"


class RealPaths:
    """Where relative paths under `prefix` really lead, through the symlinked folders on
    the way: in a venv `lib64` links to `lib`, so `lib64/x` and `lib/x` are one file.

    Each folder is resolved once: one `lstat` where its parent exists, and a `realpath`
    for a link. None is a path that leads outside `prefix`.
    """

    def __init__(self, prefix: str) -> None:
        self.real_prefix = os.path.realpath(prefix)
        self.folders: dict[str, str | None] = {"": ""}
        self.absent: set[str] = set()

    def of(self, path: str) -> str | None:
        folder, _, name = path.rpartition("/")
        real = self.folder(folder)
        return None if real is None else join(real, name)

    def aliases(self, paths: Iterable[str]) -> set[str]:
        """The real paths of those of `paths` that lead through a symlinked folder inside
        `prefix` (usually none: each folder is looked at once, and only paths in a
        linked one are looked at again)."""
        moved = self.renamed({path.rpartition("/")[0] for path in paths})
        if not moved:
            return set()
        return {
            real for path in paths if path.rpartition("/")[0] in moved and (real := self.of(path))
        }

    def renamed(self, folders: Iterable[str]) -> dict[str, str]:
        """Those of `folders` that a symlinked folder on the way leads to another folder
        inside `prefix`, each with that folder."""
        return {
            folder: real
            for folder in folders
            if (real := self.folder(folder)) is not None and real != folder
        }

    def links_out(self, folders: Iterable[str]) -> list[str]:
        """The symlinked folders on the way to any of `folders` (themselves included)
        that lead outside `prefix`, each once: the ones to name in a refusal."""
        found: set[str] = set()
        for folder in folders:
            if self.folder(folder) is None:
                while self.folder(parent := folder.rpartition("/")[0]) is None:
                    folder = parent
                found.add(folder)
        return sorted(found)

    def folder(self, folder: str) -> str | None:
        if folder in self.folders:
            return self.folders[folder]
        parent, _, name = folder.rpartition("/")
        real = self.folder(parent)
        if real is not None:
            real = join(real, name)
            if parent in self.absent:  # nothing below a missing folder is a link
                self.absent.add(folder)
            else:
                full = os.path.join(self.real_prefix, real)
                try:
                    link = stat.S_ISLNK(os.lstat(full).st_mode)
                except OSError:
                    self.absent.add(folder)
                    link = False
                if link:
                    resolved = os.path.realpath(full)
                    inside = is_within(resolved, self.real_prefix)
                    real = os.path.relpath(resolved, self.real_prefix) if inside else None
                    real = "" if real == "." else real
        self.folders[folder] = real
        return real


def not_folders(
    prefix: str,
    directories: Iterable[str],
    disk: Listing,
    real: RealPaths,
    removed: Set[str] | Mapping[str, object],
) -> list[str]:
    """Those of the planned `directories` that something other than a folder holds in
    the target, for the planner and the applier alike.

    Not one the plan removes (the applier moves that file aside first, and the folder
    takes its place), nor one a symlinked folder on the way leads out of the environment
    through (`RealPaths.links_out` names that link instead).
    """
    return [
        directory
        for directory in directories
        if disk.lexists(directory)
        and real.folder(directory) is not None
        and not os.path.isdir(os.path.join(prefix, directory))
        and directory not in removed
    ]


def is_real_dir(path: str) -> bool:
    """Whether `path` is a folder and not a symlink to one: a symlink is an entry that
    is removed or moved as itself, a folder is everything it holds."""
    return os.path.isdir(path) and not os.path.islink(path)


def going_metadata(removed: Set[str], written_folders: Set[str]) -> list[str]:
    """The `.dist-info` folders that `removed` paths are in and nothing is written into:
    each goes, whole, with its distribution."""
    return sorted(
        {
            folder
            for path in removed
            for folder in parents(path)
            if folder.endswith(".dist-info") and folder not in written_folders
        }
    )


def metadata_left(
    prefix: str, removed: Set[str], written_folders: Set[str], emptied: Set[str] = frozenset()
) -> list[tuple[str, str]]:
    """Each `.dist-info` folder that `removed` paths leave and nothing is written into,
    with what would still be in it: (folder, path left). `emptied`: the empty folders in
    them that go too (`empty_below`).

    Such a folder goes only when its removals empty it. One left holding anything (a
    file another RECORD lists, a file added since the plan was made, and so an empty
    folder that holds one now) still names the distribution that is gone, and blocks
    its next install.
    """
    found = []
    for folder in going_metadata(removed, written_folders):
        left = left_below(prefix, folder, removed, emptied)
        if left is not None:
            found.append((folder, left))
    return found


def emptied_left(prefix: str, emptied: Set[str], going: Iterable[str]) -> list[tuple[str, str]]:
    """Each empty folder in `emptied` that is not in a `going` folder (`metadata_left`
    looks there) and holds something now, with the `.dist-info` it is in: (folder, path
    left). Such a folder is in one a reinstall writes again; a missing one is not here.

    The plan removes it only while it is empty, as it was: a file in it now is no
    file of that distribution's, and would keep it anyway.
    """
    skip = set(going)
    found = []
    for folder in sorted(emptied):
        above = parents(folder)
        if skip.intersection(above) or (above and above[-1] in emptied):
            continue  # checked with its metadata folder, or with the folder holding it
        if os.path.lexists(os.path.join(prefix, folder)):
            left = left_below(prefix, folder, frozenset(), emptied)
            if left is not None:
                metadata = next((path for path in above if path.endswith(".dist-info")), folder)
                found.append((metadata, left))
    return found


def empty_below(prefix: str, directory: str) -> list[str]:
    """The folders below `directory` that hold no file at any depth, shallowest first.

    pip removes a `.dist-info` whole once every file in it goes, and such folders with
    it; the applier removes only what a plan names, or the folders its removals empty.
    A symlink is a file here, and a folder that cannot be listed is not empty (it may
    hold anything: `left_below` names it).
    """
    top = os.path.join(prefix, directory)
    if not is_real_dir(top):
        return []
    unreadable: list[OSError] = []
    holding: set[str] = set()  # folders with a file somewhere below, or unreadable
    walked: list[str] = []
    for folder in walk(top, topdown=False, follow=False, onerror=unreadable.append):
        relative = f"{directory}/{folder.path}" if folder.path else directory
        walked.append(relative)
        below = [f"{relative}/{name}" for name in folder.folders]
        if folder.others or any(path in holding for path in below):
            holding.add(relative)
    for error in unreadable:
        # One that cannot be listed may hold anything, and so may each folder above it.
        inside = str(error.filename)[len(top) :]
        holding.update(parents(directory + inside + "/"))
    return sorted(path for path in walked if path != directory and path not in holding)


def left_below(
    prefix: str, directory: str, removed: Set[str], emptied: Set[str] = frozenset()
) -> str | None:
    """What would still be at `directory` in the target once the paths in `removed`
    and the folders in `emptied` are gone, and every folder they leave empty with them;
    None: nothing.

    A file planned where a folder is now (an upgrade that turns `pkg/data/` into
    `pkg/data`) replaces it only when this plan empties it. The applier removes the
    folders its removals empty (and only those, with the empty folders a plan names),
    so a folder holding no removed path, even an empty one, stays; so does anything but
    a folder (`directory` itself, a symlink to a folder included). Symlinks inside are
    entries, never followed, and a folder that cannot be listed stays: it may hold
    anything.
    """
    top = os.path.join(prefix, directory)
    if not is_real_dir(top):
        return directory
    holding = {parent for path in (*removed, *emptied) for parent in parents(path)}
    unreadable: list[OSError] = []
    for folder in walk(top, follow=False, onerror=unreadable.append):
        if unreadable:
            break
        relative = f"{directory}/{folder.path}" if folder.path else directory
        if relative not in holding and relative not in emptied:
            return relative
        folder.folders.sort()
        for name in sorted(folder.others):
            if f"{relative}/{name}" not in removed:
                return f"{relative}/{name}"
    if unreadable:
        return directory + str(unreadable[0].filename)[len(top) :]
    return None
