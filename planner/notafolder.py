"""What stands where a folder must be: on the way to a folder an option names, or to
the one a download stores its wheels in.

Making such a folder fails at the first thing on the way that is there and is no
folder, and each command said so in its own errno ('Not a directory' below a file, 'No
such file or directory' below a symlink to nothing, 'File exists'): the user is told
instead what that thing is, once, before anything is written.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import PurePath

import attrs

from planner.errors import Refused

A_FILE = "a file, not a folder"
A_DANGLING_SYMLINK = "a symlink whose target does not exist, not a folder"
A_SYMLINK_LOOP = "a symlink in a loop of symlinks, not a folder"
# Below a folder without search permission nothing can be looked at, or made.
NOT_SEARCHABLE = "a folder this user may not look in (Permission denied)"


@attrs.frozen
class NotAFolder:
    """`path`, on the way to a folder (or that folder itself), is `kind`: a file (or a
    FIFO, a socket: anything a folder cannot be made below), a symlink to nothing or in
    a loop, or a folder whose entries this user may not look up."""

    path: str
    kind: str

    def refused(self, folder: str, use: str) -> Refused:
        """The refusal, one wording for every folder: `use` says what the folder is
        for, and is followed by 'it', or by `folder` when this is above it."""
        full = os.path.abspath(folder)
        named = "it" if self.path == full else full
        return Refused.one(self.path, f"is {self.kind}: {use} {named}")


def not_a_folder(folder: str) -> NotAFolder | None:
    """The first thing on the way down to `folder` (absolute) that is there and no
    folder, or that hides what is below it, if one is: what is not there yet is for
    the command to make or refuse."""
    full = PurePath(os.path.abspath(folder))
    for step in (*reversed(full.parents), full):
        try:
            if stat.S_ISDIR(os.stat(step).st_mode):
                continue
        except FileNotFoundError:
            return NotAFolder(str(step), A_DANGLING_SYMLINK) if os.path.islink(step) else None
        except PermissionError:
            return NotAFolder(str(step.parent), NOT_SEARCHABLE)
        except OSError as error:
            if error.errno != errno.ELOOP:
                return None  # for the command to say
            return NotAFolder(str(step), A_SYMLINK_LOOP)
        return NotAFolder(str(step), A_FILE)
    return None


__all__ = [
    "A_DANGLING_SYMLINK",
    "A_FILE",
    "A_SYMLINK_LOOP",
    "NOT_SEARCHABLE",
    "NotAFolder",
    "not_a_folder",
]
