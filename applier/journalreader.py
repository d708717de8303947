"""A journal read back for recovery, and never trusted: a file in the target like any
other, which a crash may have torn and a hand may have edited.

Every file of it is checked (its paths safe and in the environment, its numbers ones an
apply could have written) before recovery acts on any of it; a damaged one is refused,
naming where the backups are to restore by hand. What the journal holds is said in
`journal.py`, which writes it.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from applier.journal import INTENT, REMOVED_DIRS, Intent, backup_dir
from applier.mounts import Homes
from planner.errors import Refused, plain
from planner.inputfiles import read_own
from planner.journalnames import BACKUP_DIR, in_journal
from planner.paths import has_control, path_problem

# The largest uid or gid: uid_t is 32 bits, and its all-ones value means "leave it".
_MAX_ID = 2**32 - 2
# The most folders a path names: one of PATH_MAX (4,096 bytes) holds at most 2,048.
_MAX_MADE = 2048
# A journal's backup id: the hex of 64 random bits, which no two journals share.
_BACKUP_ID = re.compile(r"[0-9a-f]{16}")

# What a damaged journal is refused with knows of where its backups are: its `Intent`,
# or else what `intent.json` holds, read as JSON, or nothing (None).
Known = Intent | dict[str, Any] | None


def damaged(root: str, why: str, known: Known = None) -> Refused:
    return not_guessed(root, f"the journal is damaged ({why})", known)


def not_guessed(root: str, what: str, known: Known = None) -> Refused:
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
        raise damaged(root, f"{name} cannot be read: {error.strerror}", known) from None


def read_intent(root: str) -> Intent | None:
    try:
        data: Any = json.loads(_read(root, INTENT))
    except FileNotFoundError:
        return None
    except ValueError as error:  # UnicodeDecodeError too
        raise damaged(root, f"{INTENT} is not valid JSON: {plain(str(error))}") from None
    except RecursionError:
        raise damaged(root, f"{INTENT} is not valid JSON: nested too deeply") from None
    fields = ("created_dirs", "new_files", "moved")
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in fields):
        raise damaged(root, f"{INTENT} does not have the expected fields", data)
    for key in fields:
        for path in data[key]:
            _check_path(root, path, data)
    if len(set(data["moved"])) != len(data["moved"]):
        # Put back from one of its backups only: the other would go with the journal.
        raise damaged(root, f"{INTENT} names a moved file twice", data)
    times = data.get("folder_times", [])
    if not isinstance(times, list) or not all(_is_times(entry) for entry in times):
        raise damaged(
            root,
            f"{INTENT} has folder times that are not [path, atime, mtime] in nanoseconds",
            data,
        )
    for path, _, _ in times:
        if path:  # "" is the prefix
            _check_path(root, path, data)
    made = data.get("made", 0)
    if not _whole(made, _MAX_MADE):
        raise damaged(root, f"{INTENT} has a count of folders made that no path can have", data)
    mounts = _read_mounts(root, data)
    where = data.get("where", "")
    if not isinstance(where, str) or has_control(where) or (where and not os.path.isabs(where)):
        raise damaged(root, f"{INTENT} names where it was written with no folder's path", data)
    backup_id = data.get("backup_id", "")
    # Without its own id, another journal's backup folder could be taken for this one's.
    if mounts and not (isinstance(backup_id, str) and _BACKUP_ID.fullmatch(backup_id)):
        raise damaged(root, f"{INTENT} has backup folders on other mounts but no backup id", data)
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
        raise damaged(
            root, f"{INTENT} has mounts that are not [folder, [moved file's index]]", data
        )
    for top, _ in mounts:
        _check_path(root, top, data)
    indices = [index for _, entry in mounts for index in entry]
    if len(set(indices)) != len(indices) or len({top for top, _ in mounts}) != len(mounts):
        raise damaged(root, f"{INTENT} names a backup or a mount twice", data)
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
        raise damaged(root, f"it names the unsafe path {path!r}", known)


def _is_safe(path: object) -> bool:
    return isinstance(path, str) and path_problem(path) is None and not in_journal(path)


def read_removed_dirs(root: str, intent: Intent) -> list[dict[str, Any]]:
    try:
        text = _read(root, REMOVED_DIRS, intent).decode()
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise damaged(root, f"{REMOVED_DIRS} is not UTF-8 text", intent) from None
    lines = text.split("\n")[:-1]  # a torn last line (no newline yet): not done
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            raise damaged(root, f"{REMOVED_DIRS} has a line that is not JSON", intent) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("mode"), int):
            raise damaged(root, f"{REMOVED_DIRS} has a line without a path and mode", intent)
        _check_path(root, entry.get("path"), intent)
        if not _folder_attributes(entry):
            raise damaged(root, f"{REMOVED_DIRS} has a mode, uid or gid no folder can have", intent)
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
