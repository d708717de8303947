"""Folders removed with all they hold, at any depth: the cache's entries and temporary
folders, and the journal.

`shutil.rmtree` calls itself once per level, so a tree some 1,000 folders deep (that
someone else made in a folder of ours) raises `RecursionError`, which `ignore_errors`
does not take, part way through. This removes what `planner.trees.walk` yields,
deepest first, each entry by its folder's descriptor, so no depth and no path length
stops it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from planner.trees import walk


def remove_tree(
    path: str,
    *,
    ignore_errors: bool = False,
    removed: Callable[[os.stat_result], object] | None = None,
) -> None:
    """Remove the folder `path` and everything in it; a symlink inside is removed as
    itself, never followed, and one at `path` is an error, as a file there is.

    Whatever cannot be removed is left and the rest removed, then the first error is
    raised (unless `ignore_errors`), its `filename` the whole path. A name gone before it
    is removed is none: other processes may be removing it too (`cache clean`, an
    apply's sweep). `removed` is given the `lstat` of each entry that is not a folder,
    just before it goes.
    """
    errors: list[OSError] = []

    def failed(error: OSError) -> None:
        if not isinstance(error, FileNotFoundError):
            errors.append(error)

    try:
        for folder in walk(path, topdown=False, follow=False, onerror=failed):
            for name in folder.others:
                try:
                    if removed is not None:
                        info = os.stat(name, dir_fd=folder.fd, follow_symlinks=False)
                    os.unlink(name, dir_fd=folder.fd)
                    if removed is not None:
                        removed(info)
                except OSError as error:
                    error.filename = os.path.join(path, folder.path, name)
                    failed(error)
            for name in folder.folders:
                try:
                    os.rmdir(name, dir_fd=folder.fd)
                except OSError as error:
                    error.filename = os.path.join(path, folder.path, name)
                    failed(error)
    except OSError as error:  # a folder moved away while it was emptied
        failed(error)
    if not errors:
        try:
            os.rmdir(path)
        except OSError as error:
            failed(error)
    if errors and not ignore_errors:
        raise errors[0]


__all__ = ["remove_tree"]
