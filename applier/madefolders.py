"""The folders a step makes on the way to its own, and takes away again if it fails.

An apply makes a missing `--target`, `--prefix` or staging folder (and the folders
above it); a download makes a missing `--wheel-dir`, or the cache's `downloads/`. What
was missing is found before anything is made, so that a failure removes only folders
it made, and only those it left empty: never one that was there, never one holding
anything (the checked wheels a failed fetch keeps, a journal left for `recover`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence


def missing_folders(path: str) -> list[str]:
    """The folders `os.makedirs(path)` would make, shallowest first."""
    missing = []
    folder = path
    while not os.path.isdir(folder) and folder != os.path.dirname(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing[::-1]


def remove_empty(folders: Sequence[str]) -> None:
    """Remove `folders` (as `missing_folders` gave them), deepest first, those empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


__all__ = ["missing_folders", "remove_empty"]
