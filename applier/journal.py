"""The transaction journal: how an apply is undone after an error or a crash.

Layout, under the environment prefix (documented in the README):

    .wheelplan-journal/intent.json    what this apply may create and what it moves aside
    .wheelplan-journal/backup/<n>     the n-th moved file, renamed here (never copied)
    .wheelplan-journal/removed-dirs   one JSON line per directory the apply removed
    .wheelplan-journal/committed      present once every planned change is in place
    MOUNT/.wheelplan-backup-ID/<n>    the n-th moved file, where it is below MOUNT

A rename cannot leave its mount, so a file below a folder mounted on its own inside
the environment (`mounts.py`) is backed up at the top of that mount, MOUNT, and
`intent.json` says which files are, before the first is moved. Those folders are
made after `intent.json` is written, and removed before it goes, so no state leaves
one that recovery does not know; making or removing one leaves its MOUNT's times as
they were. Their name holds an ID random to each journal, in `intent.json`: a
`.wheelplan-backup...` folder that appears at MOUNT while a killed apply's journal
waits for recovery (another environment's, on a volume they share) is never taken for
this journal's, since there is a window between writing `intent.json` and making the
folder, and none blocks a later apply. Recovery refuses, changing nothing, while a
MOUNT is not mounted: its backups are not there, and the journal is the only record
of where they are.

`intent.json` is written atomically before the first change, and lists every path
the apply may create, so a crash between creating a file and anything else leaves
nothing untracked. It also holds the times of every existing folder whose entries the
apply may change, which a rollback sets back last (the prefix's own after the journal
is gone), so that folders read as they did before to the nanosecond. The commit point
is the atomic creation of `committed`. Recovery is idempotent (a crash during recovery
is recovered by running it again): before the commit point it rolls back to the exact
prior state; after it, it rolls forward, which only means deleting the backups.

The journal itself is removed in an order that keeps every intermediate state
readable: `intent.json` goes first, so a journal without it means "nothing left to
undo" whether or not `committed` is still there.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterable
from functools import partial

import attrs

from applier import faults
from applier.atomic import fsync_dir, write_atomic
from applier.mounts import Homes
from applier.removal import remove_tree
from planner.errors import name_the_file
from planner.journalnames import BACKUP_DIR, JOURNAL_DIR
from planner.listing import is_real_dir

INTENT = "intent.json"
BACKUP = "backup"
REMOVED_DIRS = "removed-dirs"
COMMITTED = "committed"
# Checkpoints after the commit point: a fault there rolls forward, not back. One more
# for each backup folder on another mount.
CHECKPOINTS_AFTER_COMMIT = 2

# A folder's access and modification times, in nanoseconds ("" is the prefix itself).
FolderTimes = tuple[str, int, int]


@attrs.frozen
class Intent:
    """Everything recovery needs: what may be new, what was moved aside, in order."""

    created_dirs: tuple[str, ...]
    new_files: tuple[str, ...]
    moved: tuple[str, ...]
    fsync: bool = False
    folder_times: tuple[FolderTimes, ...] = ()
    # How many folders the apply made for the prefix before the journal (which lives in
    # it) could be written: the prefix folder and the missing ones above it (a missing
    # --target or --prefix folder, a staging folder's path to the staged prefix).
    made: int = 0
    # The tops of other mounts whose BACKUP_DIR holds the backups of these indices of
    # `moved` (the rest are in the journal's backup/).
    mounts: Homes = ()
    # What names this journal's backup folders on other mounts (see the docstring).
    backup_id: str = ""
    # The real path of the folder the journal was written in: a copy of the environment
    # (or the environment moved) holds it too, with folder times and folders made that
    # are not its own. "" in a journal written before it was kept.
    where: str = ""

    def backup_dirs(self) -> list[str]:
        """The backup folder at the top of each other mount (relative, as `mounts`)."""
        return [backup_dir(top, self.backup_id) for top, _ in self.mounts]

    def backups(self, base: str) -> list[str]:
        """Where each moved file's backup is, by its index in `moved`."""
        folders = [os.path.join(base, JOURNAL_DIR, BACKUP)] * len(self.moved)
        for (_, indices), folder in zip(self.mounts, self.backup_dirs(), strict=True):
            for index in indices:
                folders[index] = os.path.join(base, folder)
        return [os.path.join(folder, str(index)) for index, folder in enumerate(folders)]


def backup_dir(top: str, backup_id: str) -> str:
    return f"{top}/{BACKUP_DIR}-{backup_id}"


def new_backup_id() -> str:
    """A new journal's backup id, for `Intent`: what `secrets.token_hex(8)` gives, without
    importing `secrets` (and `random` and `hmac` with it) into every apply."""
    return os.urandom(8).hex()


def _keeping_times(folder: str, change: Callable[[], object]) -> None:
    """Make `change` in `folder` and set its times back where we may: a backup folder
    comes and goes without a trace in the folder at the top of its mount."""
    try:
        info = os.stat(folder)
    except OSError:
        info = None
    change()
    if info is not None:
        with contextlib.suppress(OSError):
            os.utime(folder, ns=(info.st_atime_ns, info.st_mtime_ns))


def folder_times(base: str, folders: Iterable[str]) -> tuple[FolderTimes, ...]:
    """The times of those of `folders` that are real folders now, for `Intent`."""
    times = []
    for folder in sorted(folders):
        with contextlib.suppress(OSError):
            info = os.lstat(os.path.join(base, folder))
            if stat.S_ISDIR(info.st_mode):
                times.append((folder, info.st_atime_ns, info.st_mtime_ns))
    return tuple(times)


def set_times(base: str, times: Iterable[FolderTimes]) -> None:
    """Set folders' times back where we may: a folder gone, turned into a file or owned
    by someone else (only its owner may set its times) is left as it is, and the
    rollback goes on."""
    for folder, atime, mtime in times:
        full = os.path.join(base, folder)
        if is_real_dir(full):
            with contextlib.suppress(OSError):
                os.utime(full, ns=(atime, mtime))


def fsync_dirs(paths: Iterable[str]) -> None:
    """Flush directory entries (creations, renames, removals) of every existing folder."""
    for path in sorted(set(paths)):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            fsync_dir(path)


class Journal:
    """The open transaction on one environment (`base` is where its files are on disk)."""

    def __init__(self, base: str, fsync: bool) -> None:
        self.base = base
        self.root = os.path.join(base, JOURNAL_DIR)
        self.fsync = fsync
        self.intent = Intent((), (), ())  # until `begin`

    @property
    def backup(self) -> str:
        return os.path.join(self.root, BACKUP)

    def begin(self, intent: Intent) -> None:
        """Record the intent; if this fails, nothing has changed and no journal is left."""
        intent = attrs.evolve(intent, where=os.path.realpath(self.base))
        os.mkdir(self.root, 0o700)
        made = []
        try:
            faults.checkpoint("journal")
            os.mkdir(self.backup, 0o700)
            faults.checkpoint("journal")
            # Not recursing: the tuples of 17,000 paths go to the encoder as they are.
            data = json.dumps(attrs.asdict(intent, recurse=False), sort_keys=True).encode()
            write_atomic(os.path.join(self.root, INTENT), data, fsync=self.fsync)
            for relative in intent.backup_dirs():
                faults.checkpoint("journal")
                folder = os.path.join(self.base, relative)
                _keeping_times(os.path.dirname(folder), partial(os.mkdir, folder, 0o700))
                made.append(folder)
        except BaseException:
            for folder in made:
                with contextlib.suppress(OSError):
                    _keeping_times(os.path.dirname(folder), partial(os.rmdir, folder))
            remove_tree(self.root, ignore_errors=True)
            set_times(self.base, [times for times in intent.folder_times if times[0] == ""])
            raise
        self.intent = intent

    def move_aside(self) -> None:
        for path, saved in zip(self.intent.moved, self.intent.backups(self.base), strict=True):
            faults.checkpoint("move")
            os.rename(os.path.join(self.base, path), saved)

    def remove_dir(self, path: str) -> None:
        """Remove an emptied directory, logging it first so a rollback can recreate it."""
        full = os.path.join(self.base, path)
        info = os.stat(full)
        entry = {
            "path": path,
            "mode": info.st_mode & 0o7777,
            "uid": info.st_uid,
            "gid": info.st_gid,
        }
        log_path = os.path.join(self.root, REMOVED_DIRS)
        try:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry, sort_keys=True) + "\n")
                if self.fsync:
                    log.flush()
                    os.fsync(log.fileno())
        except OSError as error:
            name_the_file(error, log_path)
            raise
        faults.checkpoint("rmdir")
        os.rmdir(full)

    def commit(self, touched_dirs: Iterable[str]) -> None:
        """The commit point: flush (with --fsync), then create the `committed` marker."""
        if self.fsync:
            mounts = [os.path.join(self.base, folder) for folder in self.intent.backup_dirs()]
            fsync_dirs([*touched_dirs, self.backup, self.root, *mounts])
        faults.checkpoint("commit")
        write_atomic(os.path.join(self.root, COMMITTED), b"", fsync=self.fsync)

    def finish(self) -> None:
        """Drop a committed journal (the backups are the old files, no longer needed)."""
        drop(self.base, self.intent)


def has_journal(base: str) -> bool:
    return os.path.lexists(os.path.join(base, JOURNAL_DIR))


def drop(base: str, intent: Intent | None) -> None:
    """Remove the journal: the backup folders on other mounts, then `intent.json`,
    which names them (see the module docstring)."""
    root = os.path.join(base, JOURNAL_DIR)
    for relative in intent.backup_dirs() if intent is not None else ():
        faults.checkpoint("cleanup")
        folder = os.path.join(base, relative)
        _keeping_times(os.path.dirname(folder), partial(remove_tree, folder))
    faults.checkpoint("cleanup")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(root, INTENT))
    faults.checkpoint("cleanup")
    remove_tree(root)
