"""Recovery: an interrupted apply's environment put back into one of its two consistent
states, from the journal it left (`journal.py` says what the journal holds and where
its commit point is), and the journal dropped.

Before the first change, every check a rollback can make is made (the journal read
back whole, its paths inside the environment, its backups where it says, its mounts
mounted, no file where a folder goes back), so that a refusal changes nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any, Literal

from applier import faults
from applier.journal import BACKUP, COMMITTED, INTENT, Intent, drop, fsync_dirs, set_times
from applier.journalreader import damaged, not_guessed, read_intent, read_removed_dirs
from applier.mounts import not_mounted
from applier.removal import remove_tree
from planner.errors import Refused
from planner.journalnames import JOURNAL_DIR
from planner.listing import RealPaths, is_real_dir
from planner.paths import is_within

Outcome = Literal["clean", "rolled back", "rolled forward"]


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
        raise damaged(root, "it is not a folder but a symlink or a file")
    intent = read_intent(root)
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
    removed_dirs = read_removed_dirs(root, intent)
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
        raise damaged(root, f"{BACKUP} is not a folder but a symlink or a file", intent)
    _check_backups_named(base, intent)
    # A folder the apply removed is recreated, or given back its mode and owner: a
    # symlink in its place would pass those to whatever it points to.
    linked = [e["path"] for e in removed_dirs if os.path.islink(os.path.join(base, e["path"]))]
    if linked:
        raise damaged(root, f"{linked[0]!r}, a folder the apply removed, is now a symlink", intent)
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
        raise not_guessed(
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
        raise damaged(root, why, intent)
    for backup in backups:
        if os.path.lexists(folder := os.path.join(base, backup)) and not is_real_dir(folder):
            raise damaged(root, f"{backup!r} is not a folder but a symlink or a file", intent)


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
            raise damaged(os.path.dirname(journal_backup), why, intent)


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
