"""The target environment as a whole: where its files are on disk, and recovering it.

Apart from `apply.py` so that `recover` and `verify` import neither the workers nor
the inflater: each command imports only what it uses.
"""

from __future__ import annotations

import os

from applier import recovery
from applier.lock import target_lock
from planner.discovery import absent_interpreter
from planner.errors import Refused
from planner.journalnames import JOURNAL_DIR
from planner.paths import is_within
from planner.place import FOLDER_OPTIONS, Place, folder_given
from planner.target import TargetInfo, probe


def staging_folder(root: str) -> str:
    """`--root` made absolute; one that is, or lies below, a file or a symlink to
    nothing is refused here, for every command alike (apply said 'ROOT/tmp: Not a
    directory', verify and recover that the staged environment did not exist)."""
    return folder_given(os.path.abspath(root), "--root")


def base_of(prefix: str, root: str | None) -> str:
    """Where the prefix's files are on disk: under --root when staging an image.

    Under --root every file stays under the staging folder: a symlink on the way to
    the staged prefix that leads out of it (to `/tmp`, and so into the real prefix) is
    refused. The staging folder itself may be a link.
    """
    if root is None:
        return prefix
    staging = staging_folder(root)
    base = os.path.join(staging, prefix.lstrip("/"))
    existing = base  # the staged prefix, or its nearest folder that exists yet
    while not os.path.lexists(existing) and existing != staging:
        existing = os.path.dirname(existing)
    if os.path.lexists(existing) and not is_within(
        os.path.realpath(existing), os.path.realpath(staging)
    ):
        raise Refused.one(base, f"leads out of the staging folder {root} through a symlink")
    return base


def existing_base(prefix: str, root: str | None, place: Place | None) -> str:
    """`base_of(prefix, root)`, the folder a command checks or recovers, refused in one
    line if it is not there (not as the first file found missing in it), called what
    the user named: `verify -t MISSING` called a mistyped folder 'the environment'."""
    base = base_of(prefix, root)
    if not os.path.isdir(base):
        if root is not None:
            missing = "the staged prefix"
        elif place is not None:
            missing = f"the {FOLDER_OPTIONS[place.layout]} folder"
        else:
            missing = "the environment"
        raise Refused.one(base, f"{missing} does not exist")
    return base


def recovered_prefix(python: str | None, place: Place | None, root: str | None) -> str:
    """The prefix `recover` is asked to recover: the folder `--target` or `--prefix`
    names, else the one the `--python` interpreter reports.

    Recovering needs nothing else, so no interpreter is run for a folder. Under `--root`
    the interpreter may not exist on this machine (`apply --root` does not run it
    either): its prefix is then the nearest folder on its path whose staged copy holds
    a journal.
    """
    if place is not None:
        return place.checked()
    absent = absent_interpreter(python) if root is not None else None
    if absent is None:
        return probe(python, planning=False).prefix
    assert root is not None
    folder = absent
    while not os.path.lexists(os.path.join(base_of(folder, root), JOURNAL_DIR)):
        parent = os.path.dirname(folder)
        if parent == folder:
            raise Refused.one(
                absent,
                f"the target interpreter does not exist, and no interrupted apply staged"
                f" for it under {root} was found on its path; name its prefix with --prefix DIR",
            )
        folder = parent
    return folder


def verified_target(python: str | None, place: Place | None, root: str | None) -> TargetInfo:
    """The target `verify` checks, as its interpreter reports it.

    Checking needs the scheme paths, which only an interpreter gives: one that does not
    exist on this machine, as a plan staged with `--root` allows, is refused with the
    way to check the staged tree without it.
    """
    absent = absent_interpreter(python) if root is not None and place is None else None
    if absent is not None:
        raise Refused.one(
            absent,
            "the target interpreter does not exist; to check a tree staged for it under"
            f" {root}, name the staged prefix with --prefix DIR (and --python, a Python"
            " of its version)",
        )
    return probe(python, planning=False, place=place)


def recover_target(prefix: str, root: str | None = None) -> str:
    """Finish or undo an interrupted apply, under the environment's lock."""
    base = base_of(prefix, root)
    with target_lock(base):
        return recovery.recover(base, root)


__all__ = [
    "base_of",
    "existing_base",
    "recover_target",
    "recovered_prefix",
    "staging_folder",
    "verified_target",
]
