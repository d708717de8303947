"""The files an environment needs to run, which no RECORD row removes.

A RECORD may list `pyvenv.cfg` or `bin/python` (written by hand, or by a tool that
listed what it found), or a symlink on the way to the scheme folders (a `lib` that
links elsewhere in the prefix): pip 26.3 and uv 0.13.9 remove them on uninstall, and
the venv no longer starts, or no longer finds its packages. No distribution owns them,
whatever its RECORD says, so a plan keeps them and says which rows it leaves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import attrs

from planner.paths import is_within, path_problem
from planner.target import above_schemes

VENV_CONFIG = "pyvenv.cfg"
# What a plan that would change one of them is told.
NEEDED = "the environment needs it (its interpreter, pyvenv.cfg, or the way to its scheme folders)"


@attrs.frozen
class OwnFiles:
    """Where the target's own files really are: `pyvenv.cfg` at the top of the prefix,
    its interpreter, by the name the plan runs and by every other name in that
    folder that leads to the same executable (`python3`, `python3.11` in a venv), and
    its scheme folders and those above them (a folder is never removed, but a symlink
    there is, as a file)."""

    real_prefix: str
    folders: frozenset[str]
    # The interpreter's real path, and its real folder relative to the prefix (None:
    # outside it, as with --target or --prefix).
    executable: str
    folder: str | None
    name: str

    @classmethod
    def of(cls, prefix: str, interpreter: str, schemes: Mapping[str, str]) -> OwnFiles:
        real_prefix = os.path.realpath(prefix)
        real_folder = os.path.realpath(os.path.dirname(interpreter))
        folder = None
        if is_within(real_folder, real_prefix):
            relative = os.path.relpath(real_folder, real_prefix)
            folder = "" if relative == "." else relative
        name = os.path.basename(interpreter)
        roots = {root for root in schemes.values() if root and path_problem(root) is None}
        folders = frozenset(roots.union(above_schemes(schemes)))
        return cls(real_prefix, folders, os.path.realpath(interpreter), folder, name)

    def holds(self, really: str) -> bool:
        """Whether `really` (a path relative to the prefix, its folders resolved, as
        `RealPaths.of` gives it) is one of them."""
        if really == VENV_CONFIG or really in self.folders:
            return True
        folder, _, name = really.rpartition("/")
        return folder == self.folder and (
            name == self.name
            or os.path.realpath(os.path.join(self.real_prefix, really)) == self.executable
        )


def left_needed(named: str, paths: Sequence[str]) -> str:
    """Why a plan that removes or replaces `named` leaves `paths` its RECORD lists."""
    rows = ", ".join(map(repr, paths))
    return (
        f"{named}: its RECORD lists {rows}, which the environment needs (its interpreter,"
        " pyvenv.cfg, or the way to its scheme folders); left as it is"
    )


__all__ = ["NEEDED", "VENV_CONFIG", "OwnFiles", "left_needed"]
