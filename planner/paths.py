"""Path safety: the one place that decides whether a name may become a file.

Every path that reaches the disk (wheel members, RECORD rows, plan destinations)
passes through `path_problem`, so a name that could escape the environment is
refused the same way wherever it comes from.
"""

from __future__ import annotations

import posixpath
import re

_DRIVE = re.compile(r"^[A-Za-z]:")


def path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative POSIX path, or None when it is."""
    if not path:
        return "is empty"
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        return "contains a NUL or control character"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(path):
        return "starts with a drive letter"
    parts = path.split("/")
    if ".." in parts:
        return "contains a '..' component"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' component"
    return None


def join(base: str, path: str) -> str:
    """`base/path` in POSIX form, where either may be empty."""
    if not base:
        return path
    if not path:
        return base
    return f"{base}/{path}"


def is_within(path: str, root: str) -> bool:
    """Whether relative `path` lies at or below relative `root` ('' is the prefix)."""
    return root == "" or path == root or path.startswith(root + "/")


def parents(path: str) -> list[str]:
    """Every proper ancestor directory of a relative path, shallowest first."""
    result = []
    head = posixpath.dirname(path)
    while head:
        result.append(head)
        head = posixpath.dirname(head)
    return result[::-1]
