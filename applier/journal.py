"""The transaction journal: how an apply is undone after an error or a crash.

Layout, under the environment prefix (documented in the README):

    .wheelplan-journal/intent.json    what this apply may create and what it moved aside
    .wheelplan-journal/backup/<n>     the n-th moved file, renamed here (never copied)
    .wheelplan-journal/removed-dirs   one JSON line per directory the apply removed
    .wheelplan-journal/committed      present once every planned change is in place

`intent.json` is written atomically before the first change. Recovery is
idempotent, so a crash during recovery is recovered by running it again. Before the
commit marker it rolls back to the exact prior state; after it, it rolls forward
(only the backups remain to delete).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable
from typing import Literal

import attrs

from applier import faults
from planner.target import JOURNAL_DIR

INTENT = "intent.json"
BACKUP = "backup"
REMOVED_DIRS = "removed-dirs"
COMMITTED = "committed"

Outcome = Literal["clean", "rolled back", "rolled forward"]


@attrs.frozen
class Intent:
    created_dirs: tuple[str, ...]
    new_files: tuple[str, ...]
    moved: tuple[str, ...]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: str, data: bytes, fsync: bool) -> None:
    temporary = path + ".tmp"
    with open(temporary, "wb") as stream:
        stream.write(data)
        if fsync:
            stream.flush()
            os.fsync(stream.fileno())
    os.rename(temporary, path)
    if fsync:
        _fsync_dir(os.path.dirname(path))


class Journal:
    """The open transaction on one environment (`base` is where its files are on disk)."""

    def __init__(self, base: str, fsync: bool) -> None:
        self.base = base
        self.root = os.path.join(base, JOURNAL_DIR)
        self.fsync = fsync

    def begin(self, intent: Intent) -> None:
        os.mkdir(self.root, 0o700)
        os.mkdir(os.path.join(self.root, BACKUP), 0o700)
        data = json.dumps(attrs.asdict(intent), sort_keys=True).encode()
        _write_atomic(os.path.join(self.root, INTENT), data, self.fsync)

    def move_aside(self, moved: Iterable[str]) -> None:
        backup = os.path.join(self.root, BACKUP)
        for index, path in enumerate(moved):
            faults.checkpoint()
            os.rename(os.path.join(self.base, path), os.path.join(backup, str(index)))

    def remove_dir(self, path: str) -> None:
        """Remove an emptied directory, logging it first so a rollback can recreate it."""
        full = os.path.join(self.base, path)
        mode = os.stat(full).st_mode & 0o7777
        line = json.dumps({"path": path, "mode": mode}) + "\n"
        with open(os.path.join(self.root, REMOVED_DIRS), "a", encoding="utf-8") as log:
            log.write(line)
            if self.fsync:
                log.flush()
                os.fsync(log.fileno())
        faults.checkpoint()
        os.rmdir(full)

    def commit(self) -> None:
        if self.fsync:
            _fsync_dir(self.base)
        _write_atomic(os.path.join(self.root, COMMITTED), b"", self.fsync)
        shutil.rmtree(self.root)


def has_journal(base: str) -> bool:
    return os.path.lexists(os.path.join(base, JOURNAL_DIR))


def _unlink_if_present(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def recover(base: str) -> Outcome:
    """Put the environment back into one of its two consistent states and drop the journal."""
    root = os.path.join(base, JOURNAL_DIR)
    if not os.path.lexists(root):
        return "clean"
    if os.path.exists(os.path.join(root, COMMITTED)):
        shutil.rmtree(root)
        return "rolled forward"
    try:
        with open(os.path.join(root, INTENT), encoding="utf-8") as stream:
            data = json.load(stream)
    except FileNotFoundError:
        shutil.rmtree(root)  # the crash came before the first change
        return "clean"
    intent = Intent(
        created_dirs=tuple(data["created_dirs"]),
        new_files=tuple(data["new_files"]),
        moved=tuple(data["moved"]),
    )
    backup = os.path.join(root, BACKUP)
    moved_index = {path: index for index, path in enumerate(intent.moved)}
    for path in intent.new_files:
        index = moved_index.get(path)
        # A moved path holds the original again once its backup is gone: leave it alone.
        if index is None or os.path.lexists(os.path.join(backup, str(index))):
            _unlink_if_present(os.path.join(base, path))
    removed_log = os.path.join(root, REMOVED_DIRS)
    if os.path.exists(removed_log):
        with open(removed_log, encoding="utf-8") as log:
            entries = [json.loads(line) for line in log if line.endswith("\n")]
        for entry in reversed(entries):
            full = os.path.join(base, entry["path"])
            if not os.path.isdir(full):
                os.mkdir(full)
            os.chmod(full, entry["mode"])
    for path, index in moved_index.items():
        saved = os.path.join(backup, str(index))
        if os.path.lexists(saved):
            destination = os.path.join(base, path)
            _unlink_if_present(destination)
            os.rename(saved, destination)
    for directory in sorted(intent.created_dirs, reverse=True):
        try:
            os.rmdir(os.path.join(base, directory))
        except FileNotFoundError:
            pass
        except OSError:
            pass  # not empty: something else lives there now; keep it
    shutil.rmtree(root)
    return "rolled back"
