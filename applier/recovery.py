"""Recovery: an interrupted apply's environment put back into one of its two consistent
states, from the journal it left (`journal.py` says what the journal holds and where
its commit point is), and the journal dropped.

The journal is read back first, and never trusted: a file in the target like any other,
which a crash may have torn and a hand may have edited. Before the first change, every
check a rollback can make is made (the journal read back whole, its paths inside the
environment, its backups where it says, its mounts mounted, no file where a folder goes
back), so that a refusal changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable
from typing import Any, Literal

from applier import faults
from applier.journal import (
    BACKUP,
    COMMITTED,
    INTENT,
    REMOVED_DIRS,
    Intent,
    backup_dir,
    drop,
    fsync_dirs,
    set_times,
)
from applier.mounts import Homes, not_mounted
from applier.removal import remove_tree
from planner.errors import Refused, plain
from planner.inputfiles import read_own
from planner.journalnames import BACKUP_DIR, JOURNAL_DIR, in_journal
from planner.listing import RealPaths, is_real_dir
from planner.paths import has_control, is_within, path_problem

# The largest uid or gid: uid_t is 32 bits, and its all-ones value means "leave it".
_MAX_ID = 2**32 - 2
# The most folders a path names: one of PATH_MAX (4,096 bytes) holds at most 2,048.
_MAX_MADE = 2048
# A journal's backup id: the hex of 64 random bits, which no two journals share.
_BACKUP_ID = re.compile(r"[0-9a-f]{16}")

Outcome = Literal["clean", "rolled back", "rolled forward"]


# What a damaged journal is refused with knows of where its backups are: its `Intent`,
# or else what `intent.json` holds, read as JSON, or nothing (None).
Known = Intent | dict[str, Any] | None


def _damaged(root: str, why: str, known: Known = None) -> Refused:
    return _not_guessed(root, f"the journal is damaged ({why})", known)


def _not_guessed(root: str, what: str, known: Known = None) -> Refused:
    """Restoring by hand needs every old file: those in the backup folders on other
    mounts too, which the message names as far as `known` tells them, and otherwise
    says where such folders are made."""
    base = os.path.dirname(root)
    others = _backup_dirs_named(known)
    if others is None:
        where = f"backup/ and in any {BACKUP_DIR}-*/ folder at the top of a mount inside the"
        where += " environment"
    else:
        named = [os.path.join(base, folder, "") for folder in others]
        where = " and in ".join(["backup/", ", ".join(named)] if named else ["backup/"])
    return Refused.one(
        root,
        f"{what}; wheelplan will not guess how to undo it."
        f" Inspect it and restore the files in {where} by hand",
    )


def _backup_dirs_named(known: Known) -> list[str] | None:
    """The backup folders on other mounts that `known` names (an id that is not one a
    journal has is any), or None where it cannot tell: a journal that was not read, or
    mounts that are not [folder, ...] with safe folders (never named, as no apply
    backs up there)."""
    if isinstance(known, Intent):
        return known.backup_dirs()
    if not isinstance(known, dict):
        return None
    mounts = known.get("mounts", [])
    if not isinstance(mounts, list) or not all(
        isinstance(entry, list) and entry and _is_safe(entry[0]) for entry in mounts
    ):
        return None
    backup_id = known.get("backup_id")
    if not (isinstance(backup_id, str) and _BACKUP_ID.fullmatch(backup_id)):
        backup_id = "*"
    return [backup_dir(top, backup_id) for top in dict.fromkeys(entry[0] for entry in mounts)]


def _read(root: str, name: str, known: Known = None) -> bytes:
    """One of the journal's files: anything but what apply writes there (a FIFO, a link
    to a device) is damage, refused before it is read."""
    try:
        return read_own(os.path.join(root, name))
    except FileNotFoundError:
        raise  # no such file: each caller says what that means
    except OSError as error:
        raise _damaged(root, f"{name} cannot be read: {error.strerror}", known) from None


def _read_intent(root: str) -> Intent | None:
    try:
        data: Any = json.loads(_read(root, INTENT))
    except FileNotFoundError:
        return None
    except ValueError as error:  # UnicodeDecodeError too
        raise _damaged(root, f"{INTENT} is not valid JSON: {plain(str(error))}") from None
    except RecursionError:
        raise _damaged(root, f"{INTENT} is not valid JSON: nested too deeply") from None
    fields = ("created_dirs", "new_files", "moved")
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in fields):
        raise _damaged(root, f"{INTENT} does not have the expected fields", data)
    for key in fields:
        for path in data[key]:
            _check_path(root, path, data)
    if len(set(data["moved"])) != len(data["moved"]):
        # Put back from one of its backups only: the other would go with the journal.
        raise _damaged(root, f"{INTENT} names a moved file twice", data)
    times = data.get("folder_times", [])
    if not isinstance(times, list) or not all(_is_times(entry) for entry in times):
        raise _damaged(
            root,
            f"{INTENT} has folder times that are not [path, atime, mtime] in nanoseconds",
            data,
        )
    for path, _, _ in times:
        if path:  # "" is the prefix
            _check_path(root, path, data)
    made = data.get("made", 0)
    if not _whole(made, _MAX_MADE):
        raise _damaged(root, f"{INTENT} has a count of folders made that no path can have", data)
    mounts = _read_mounts(root, data)
    where = data.get("where", "")
    if not isinstance(where, str) or has_control(where) or (where and not os.path.isabs(where)):
        raise _damaged(root, f"{INTENT} names where it was written with no folder's path", data)
    backup_id = data.get("backup_id", "")
    # Without its own id, another journal's backup folder could be taken for this one's.
    if mounts and not (isinstance(backup_id, str) and _BACKUP_ID.fullmatch(backup_id)):
        raise _damaged(root, f"{INTENT} has backup folders on other mounts but no backup id", data)
    return Intent(
        created_dirs=tuple(data["created_dirs"]),
        new_files=tuple(data["new_files"]),
        moved=tuple(data["moved"]),
        fsync=data.get("fsync") is True,
        folder_times=tuple((path, atime, mtime) for path, atime, mtime in times),
        made=made,
        mounts=mounts,
        backup_id=backup_id if mounts else "",
        where=where,
    )


def _read_mounts(root: str, data: dict[str, Any]) -> Homes:
    """The intent's backup folders on other mounts: each a safe folder, backing up
    moved files that no other backup folder does."""
    mounts, moved = data.get("mounts", []), len(data["moved"])
    if not isinstance(mounts, list) or not all(
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[1], list)
        and all(_whole(index, moved - 1) for index in entry[1])
        for entry in mounts
    ):
        raise _damaged(
            root, f"{INTENT} has mounts that are not [folder, [moved file's index]]", data
        )
    for top, _ in mounts:
        _check_path(root, top, data)
    indices = [index for _, entry in mounts for index in entry]
    if len(set(indices)) != len(indices) or len({top for top, _ in mounts}) != len(mounts):
        raise _damaged(root, f"{INTENT} names a backup or a mount twice", data)
    return tuple((top, tuple(entry)) for top, entry in mounts)


def _is_times(entry: object) -> bool:
    """[path, atime, mtime], as `folder_times` takes them: os.utime takes 64-bit times."""
    return (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and all(type(number) is int and -(2**63) <= number < 2**63 for number in entry[1:])
    )


def _check_path(root: str, path: object, known: Known) -> None:
    """A journal is a file in the target like any other: never follow it outside, nor
    into the journal itself, whose backups a rollback needs (no apply writes there)."""
    if not _is_safe(path):
        raise _damaged(root, f"it names the unsafe path {path!r}", known)


def _is_safe(path: object) -> bool:
    return isinstance(path, str) and path_problem(path) is None and not in_journal(path)


def _removed_dirs(root: str, intent: Intent) -> list[dict[str, Any]]:
    try:
        text = _read(root, REMOVED_DIRS, intent).decode()
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise _damaged(root, f"{REMOVED_DIRS} is not UTF-8 text", intent) from None
    lines = text.split("\n")[:-1]  # a torn last line (no newline yet): not done
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            raise _damaged(root, f"{REMOVED_DIRS} has a line that is not JSON", intent) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("mode"), int):
            raise _damaged(root, f"{REMOVED_DIRS} has a line without a path and mode", intent)
        _check_path(root, entry.get("path"), intent)
        if not _folder_attributes(entry):
            raise _damaged(
                root, f"{REMOVED_DIRS} has a mode, uid or gid no folder can have", intent
            )
        entries.append(entry)
    return entries


def _folder_attributes(entry: dict[str, Any]) -> bool:
    """Whether a logged folder's mode, uid and gid are what `remove_dir` writes: checked
    before anything is restored, since chmod and chown refuse such values only midway."""
    ids = [entry.get(key) for key in ("uid", "gid")]
    return _whole(entry["mode"], 0o7777) and all(
        value is None or _whole(value, _MAX_ID) for value in ids
    )


def _whole(value: object, largest: int) -> bool:
    return type(value) is int and 0 <= value <= largest


def _check_backed_up(base: str, intent: Intent) -> None:
    """Refuse, changing nothing, a rollback on another volume mounted where the apply
    backed up: files are moved to a mount's backup folder only once it is made, and a
    rollback puts them all back before it removes the folder, so where the folder is
    missing every file backed up there is in its place, unless the mount is not the
    one they were moved on."""
    for (top, indices), folder in zip(intent.mounts, intent.backup_dirs(), strict=True):
        if os.path.lexists(os.path.join(base, folder)):
            continue
        if not all(os.path.lexists(os.path.join(base, intent.moved[i])) for i in indices):
            raise Refused.one(
                os.path.join(base, top),
                "the interrupted apply backed up files at the top of the mount here, and"
                " what is mounted now holds neither them nor their backups; mount the"
                " volume it used again, then run recover again",
            )


def recover(base: str, staging: str | None = None) -> Outcome:
    """Put the environment back into one of its two consistent states and drop the journal.

    `staging`: the --root folder `base` is staged under, up to which the folders the
    apply made for the prefix go with a rollback.
    """
    root = os.path.join(base, JOURNAL_DIR)
    if not os.path.lexists(root):
        return "clean"
    if not is_real_dir(root):  # a symlink would lead every step below out of `base`
        raise _damaged(root, "it is not a folder but a symlink or a file")
    intent = _read_intent(root)
    if intent is not None:
        _check_written_here(base, root, intent)
    if os.path.exists(os.path.join(root, COMMITTED)):
        # Its intent names the backup folders on other mounts, to go with the journal.
        if intent is not None:
            _check_links(base, root, [], intent)
            _check_mounted(base, intent)
        drop(base, intent)
        return "rolled forward"
    if intent is None:
        remove_tree(root)  # before the first change, or after the rollback was complete
        return "clean"
    removed_dirs = _removed_dirs(root, intent)
    _check_links(
        base,
        root,
        [
            *intent.new_files,
            *intent.moved,
            *intent.created_dirs,
            *(e["path"] for e in removed_dirs),
            *(path for path, _, _ in intent.folder_times if path),
        ],
        intent,
    )
    backup = os.path.join(root, BACKUP)
    if os.path.lexists(backup) and not is_real_dir(backup):
        raise _damaged(root, f"{BACKUP} is not a folder but a symlink or a file", intent)
    _check_backups_named(base, intent)
    # A folder the apply removed is recreated, or given back its mode and owner: a
    # symlink in its place would pass those to whatever it points to.
    linked = [e["path"] for e in removed_dirs if os.path.islink(os.path.join(base, e["path"]))]
    if linked:
        raise _damaged(root, f"{linked[0]!r}, a folder the apply removed, is now a symlink", intent)
    _check_mounted(base, intent)
    _check_backed_up(base, intent)
    _check_no_file_where_removed(base, removed_dirs, intent)
    moved_index = {path: index for index, path in enumerate(intent.moved)}
    saved_at = intent.backups(base)
    touched = {backup, *(os.path.join(base, folder) for folder in intent.backup_dirs())}
    # 1. Delete what the apply created. A moved path whose backup is gone holds the
    # original again (restored by an earlier, interrupted recovery): leave it alone.
    for path in intent.new_files:
        index = moved_index.get(path)
        if index is None or os.path.lexists(saved_at[index]):
            full = os.path.join(base, path)
            # A folder there is the one this file was to replace, not yet removed.
            if os.path.lexists(full) and not is_real_dir(full):
                faults.checkpoint("restore")
                os.unlink(full)
                touched.add(os.path.dirname(full))
    # 2. Recreate the removed directories, shallowest first, with their modes and owners.
    for entry in reversed(removed_dirs):
        full = os.path.join(base, entry["path"])
        faults.checkpoint("restore")
        if not os.path.isdir(full):
            os.mkdir(full)
            touched.add(os.path.dirname(full))
        os.chmod(full, entry["mode"])
        if isinstance(entry.get("uid"), int) and isinstance(entry.get("gid"), int):
            with contextlib.suppress(PermissionError):
                os.chown(full, entry["uid"], entry["gid"])
    # 3. Remove the directories the apply created, deepest first. Every file the apply
    # could have put in them is gone, so one that is not empty holds something nobody
    # planned (put there by hand since): keep it rather than lose it. Before the moved
    # files return: a file the apply turned into a folder returns where that folder was.
    for directory in sorted(intent.created_dirs, reverse=True):
        full = os.path.join(base, directory)
        if is_real_dir(full):
            faults.checkpoint("restore")
            with contextlib.suppress(FileNotFoundError, OSError):
                os.rmdir(full)
            touched.add(os.path.dirname(full))
    # 4. Put every moved file back.
    for path, index in moved_index.items():
        saved = saved_at[index]
        if os.path.lexists(saved):
            destination = os.path.join(base, path)
            faults.checkpoint("restore")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(destination)
            os.rename(saved, destination)
            touched.add(os.path.dirname(destination))
    # 5. Set back the times of every folder changed above (a removed one was recreated
    # in 2); the prefix's, which dropping the journal changes, after that.
    set_times(base, [entry for entry in intent.folder_times if entry[0]])
    if intent.fsync:
        fsync_dirs(touched)
    drop(base, intent)
    set_times(base, [entry for entry in intent.folder_times if not entry[0]])
    _remove_made(base, intent.made, staging)
    return "rolled back"


def _check_no_file_where_removed(
    base: str, removed_dirs: Iterable[dict[str, Any]], intent: Intent
) -> None:
    """Refuse, changing nothing, a rollback that must put a removed folder back where a
    file stands now that the apply did not write (and so does not delete): it is
    someone's since, which the rollback will not lose, and `mkdir` would fail there
    midway, each time recovery ran."""
    written = set(intent.new_files)
    for entry in removed_dirs:
        full = os.path.join(base, entry["path"])
        if entry["path"] not in written and os.path.lexists(full) and not is_real_dir(full):
            raise Refused.one(
                full,
                "a folder the interrupted apply removed is a file now, where the rollback"
                " puts the folder back; move the file away, then run recover again",
            )


def _check_written_here(base: str, root: str, intent: Intent) -> None:
    """Refuse, changing nothing, a journal written in another folder: the environment
    was copied or moved with it, and the state it restores (the folders the apply made,
    which a rollback removes when empty, the folders' times) is the other folder's."""
    here = os.path.realpath(base)
    if intent.where and intent.where != here:
        raise _not_guessed(
            root,
            f"the journal was written by an apply to {intent.where}, not to {here} (the"
            " environment was copied or moved since)",
            intent,
        )


def _check_links(base: str, root: str, paths: Iterable[str], intent: Intent) -> None:
    """Refuse a journal whose `paths`, or backup folders, lead outside `base` through a
    symlinked folder, or whose backup folders are not folders (a symlink would lead
    their removal out)."""
    real = RealPaths(base)
    backups = intent.backup_dirs()
    outside = [path for path in (*paths, *backups) if real.folder(path.rpartition("/")[0]) is None]
    if outside:
        why = f"{outside[0]!r} leads outside the environment through a symlink"
        raise _damaged(root, why, intent)
    for backup in backups:
        if os.path.lexists(folder := os.path.join(base, backup)) and not is_real_dir(folder):
            raise _damaged(root, f"{backup!r} is not a folder but a symlink or a file", intent)


def _check_backups_named(base: str, intent: Intent) -> None:
    """Refuse a journal whose backup folders hold a backup of no file it names (one
    left out of `moved`, which shifts every later file onto the backup before its
    own): a rollback would not put it back, and it would go with the journal."""
    named: dict[str, set[str]] = {}
    for saved in intent.backups(base):
        folder, _, name = saved.rpartition("/")
        named.setdefault(folder, set()).add(name)
    journal_backup = os.path.join(base, JOURNAL_DIR, BACKUP)
    for folder in [journal_backup, *(os.path.join(base, d) for d in intent.backup_dirs())]:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        if stray := sorted(set(names) - named.get(folder, set())):
            where = f"{BACKUP}/" if folder == journal_backup else os.path.join(folder, "")
            why = f"{where} holds {stray[0]!r}, the backup of no file {INTENT} names"
            raise _damaged(os.path.dirname(journal_backup), why, intent)


def _check_mounted(base: str, intent: Intent) -> None:
    """Refuse, changing nothing, while a mount the apply backed up on is not mounted:
    a rollback would find no backups (nor the files it wrote there), and dropping the
    journal would lose the only record of where they are."""
    missing = not_mounted(base, [top for top, _ in intent.mounts]) if intent.mounts else []
    if missing:
        raise Refused.one(
            os.path.join(base, missing[0]),
            "the interrupted apply backed up files at the top of the mount here, which is"
            " not mounted now; mount it again, then run recover again",
        )


def _remove_made(base: str, count: int, staging: str | None) -> None:
    """Remove the `count` folders the apply made for the prefix (the prefix folder
    first, then up), those left empty: the journal and whatever the apply put in them
    are gone. Never above the staging folder, nor above the prefix folder without one,
    whatever the journal says; a process killed here leaves them, as before."""
    top = os.path.abspath(staging) if staging is not None else base
    folder = base
    for _ in range(count):
        if not is_within(folder, top) or not is_real_dir(folder):
            return
        try:
            os.rmdir(folder)
        except OSError:  # not empty: something put there since is kept, and what holds it
            return
        folder = os.path.dirname(folder)
