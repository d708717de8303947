"""A folder the user names for the files instead of the interpreter's environment
(`--target`, `--prefix`), and how a command names a target again.

Every option that names a folder refuses one alike (`folder_given`), and the messages
that send the user to another command (`recover_command`, `target_options`) name the
target as it was given, quoted for a shell: asked by the command line, the planner and
the apply alike, apart from learning the target from its interpreter.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

import attrs

from planner.notafolder import not_a_folder
from planner.plan import TargetLayout

# The option that names each folder the user gives instead of an environment, and
# what the messages call it.
FOLDER_OPTIONS: Mapping[TargetLayout, str] = {"directory": "--target", "prefix": "--prefix"}
FOLDER_NAMES: Mapping[TargetLayout, str] = {
    "directory": "the target directory",
    "prefix": "the prefix",
}


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def folder_given(folder: str, option: str) -> str:
    """`folder`, refused if it, or anything on the way to it, is a file or a symlink to
    nothing: every option that names a folder (`-t`, `--prefix`, `--root`,
    `--wheel-dir`) says so alike, once, not as 'File exists', 'Not a directory' or 'No
    such file or directory' below it. One not there is for the command to make or
    refuse."""
    if blocked := not_a_folder(folder):
        raise blocked.refused(folder, f"{option} names")
    return folder


@attrs.frozen
class Place:
    """A folder the user names for the files instead of the interpreter's environment:
    `--target` (a plain folder on sys.path) or `--prefix` (laid out as a venv there, as
    uv lays it out). Only the user vouches for it, so `apply` asks for it again."""

    layout: TargetLayout
    folder: str = attrs.field(converter=_absolute)

    @property
    def option(self) -> str:
        """The argument that names this folder, as the user would type it again (quoted
        for a shell where it must be)."""
        return f"{FOLDER_OPTIONS[self.layout]} {shlex.quote(self.folder)}"

    @property
    def described(self) -> str:
        return f"{FOLDER_NAMES[self.layout]} {self.folder}"

    def checked(self) -> str:
        """The folder, refused as `folder_given` refuses it: every command that takes
        one says so alike (recover once said such a file 'does not exist'). One not there is
        for the command to make or refuse."""
        return folder_given(self.folder, FOLDER_OPTIONS[self.layout])


def place_of(layout: TargetLayout, prefix: str) -> Place | None:
    """The folder a planned target was given as, or None for an environment."""
    return None if layout == "environment" else Place(layout, prefix)


def _python_option(interpreter: str) -> str:
    return f"--python {shlex.quote(interpreter)}"


def target_options(interpreter: str, prefix: str, layout: TargetLayout) -> str:
    """The options that name this target to a command that plans for it again, run in
    another shell: the interpreter, whatever is active there, and a folder given in
    place of an environment, whose layout that interpreter's version decides."""
    place = place_of(layout, prefix)
    python = _python_option(interpreter)
    return python if place is None else f"{place.option} {python}"


def recover_command(
    interpreter: str, prefix: str, layout: TargetLayout, root: str | None = None
) -> str:
    """The command that recovers this target (staged under `root`, if one is given),
    for the messages that send the user there: quoted for a shell, every path whole.

    A staged environment is named by its prefix, as a folder is: the interpreter may
    not exist on the machine that stages it, and recovering needs only the prefix.
    """
    place = place_of(layout, prefix)
    if place is None and root is not None:
        place = Place("prefix", prefix)
    named = place.option if place is not None else _python_option(interpreter)
    staged = f" --root {shlex.quote(os.path.abspath(root))}" if root is not None else ""
    return f"wheelplan recover {named}{staged}"
