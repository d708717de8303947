"""Which Python a command targets: the interpreter or environment `--python` names,
or, without it, the one found as uv discovers it (the active environment, else the
nearest `.venv`; for `--target` and `--prefix`, else the `python3` on PATH).

Apart from `target.py`, which runs the interpreter found and reads its answer: where
to look is uv's rule, and `recover` and `verify` ask it of a path without running it.
"""

from __future__ import annotations

import os
import re
import shutil

from planner.errors import Refused


def resolve_interpreter(python: str | None, *, system: bool = False) -> str:
    """`--python` as uv takes it: an interpreter or a venv folder; without one, the
    active environment, else the `.venv` of the current folder or its nearest parent.

    `system`: else the `python3` on PATH, as uv takes it for `--target` and `--prefix`,
    whose files go to a folder of their own and not into that Python's environment.
    """
    if python is None:
        python = _active_environment() or _nearest_dot_venv(os.getcwd())
        if not python and system:
            python = shutil.which("python3") or shutil.which("python")
        if not python:
            raise Refused.one(
                "--python",
                "no target given, no virtual or conda environment is active and no .venv is"
                " in this folder or its parents",
            )
    if os.sep not in python and not os.path.lexists(python):
        # A command name (`python3`) or a version (`3.12`), found on PATH as uv finds it.
        python = shutil.which(f"python{python}" if _VERSION.fullmatch(python) else python) or python
    if os.path.isdir(python):
        python = os.path.join(python, "bin", "python")
    try:
        os.stat(python)
    except FileNotFoundError:
        raise Refused.one(python, "the target interpreter does not exist") from None
    except OSError as error:
        raise Refused.one(python, f"cannot run the target interpreter: {error.strerror}") from None
    return os.path.abspath(python)


_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _active_environment() -> str | None:
    """What uv takes as active: $VIRTUAL_ENV, else an activated conda environment other
    than conda's base one, which (like uv) we treat as the system's and never pick."""
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        return venv
    conda = os.environ.get("CONDA_PREFIX")
    if conda and os.environ.get("CONDA_DEFAULT_ENV") not in ("base", "root"):
        return conda
    return None


def _nearest_dot_venv(folder: str) -> str | None:
    """The `.venv` uv finds: in `folder` or its nearest parent, a venv (has pyvenv.cfg)."""
    while True:
        candidate = os.path.join(folder, ".venv")
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def absent_interpreter(python: str | None) -> str | None:
    """The absolute path `--python` gives when nothing is there on this machine (as a
    plan's interpreter staged with `--root` need not be), else None: a command or a
    version is looked for on PATH, and is not such a path."""
    if python is None or os.sep not in python or os.path.lexists(python):
        return None
    return os.path.abspath(python)
