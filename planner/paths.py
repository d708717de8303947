"""Path safety: the one place that decides whether a name may become a file.

Every path that reaches the disk (wheel members, RECORD rows, plan destinations)
passes through `path_problem`, so a name that could escape the environment is
refused the same way wherever it comes from.
"""

from __future__ import annotations

import re

_DRIVE = re.compile(r"^[A-Za-z]:")
# C0 controls, DEL and C1 controls: nothing a file name needs, and a terminal obeys them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The longest file name (one component, in bytes) Linux filesystems accept.
NAME_MAX = 255
# The most components a path may have: real wheels nest a few dozen folders, and the
# folder checks walk a path one component at a time, recursively.
MAX_DEPTH = 256
# A path every check below accepts: relative, no drive, no control character or
# backslash, no empty, '.' or '..' component, and components short enough (at most
# NAME_MAX / 4 characters, each at most 4 UTF-8 bytes) that no byte count is needed.
# Surrogates are left to the checks below, which encode the path.
_SAFE_COMPONENT = rf"(?!\.\.?(?:/|\Z))[^/\\\x00-\x1f\x7f-\x9f\ud800-\udfff]{{1,{NAME_MAX // 4}}}"
_SAFE = re.compile(rf"(?![A-Za-z]:){_SAFE_COMPONENT}(?:/{_SAFE_COMPONENT})*")


def has_control(text: str) -> bool:
    """Whether `text` holds a NUL or another control character."""
    return _CONTROL.search(text) is not None


def is_utf8(text: str) -> bool:
    """Whether a name read through `os` is UTF-8: one that is not comes with surrogates
    in it, which no JSON file (a plan) and no shebang line can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plan_path_problem(path: str) -> str | None:
    """Why a wheel's absolute path cannot stand in a plan, or None: every wheel path a
    plan gets (named on the command line, or derived from a lock) is checked here
    before the wheel is read, so none is refused only once the plan is written or
    applied (the applier refuses a control character, applier/validate.py)."""
    if not is_utf8(path):
        return "the path is not valid UTF-8, and a plan holds paths as text"
    if has_control(path):
        return "the path has a control character"
    return None


def printable(text: str) -> str:
    """`text` with each character a terminal does not show as itself escaped as `repr`
    escapes it: control characters and line separators (a file name holding a line
    break still makes one line of output), invisible format characters (a U+202E
    override turns "txt.exe" around), and the surrogates of a name that is not UTF-8
    (whose raw bytes may be C1 controls)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative POSIX path, or None when it is.

    One match accepts nearly every real path; only the rest take the checks that
    name a reason (this runs for each of a plan's 17,000 members and destinations).
    """
    if _SAFE.fullmatch(path) and path.count("/") < MAX_DEPTH:
        return None
    return _problem(path)


def _problem(path: str) -> str | None:
    """The checks one by one, so that a refusal says which one failed."""
    if not path:
        return "is empty"
    if has_control(path):
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
    if "" in parts or "." in parts:
        return "has an empty or '.' component"
    if len(parts) > MAX_DEPTH:
        return f"has more than {MAX_DEPTH} components"
    if len(path.encode("utf-8", "surrogateescape")) > NAME_MAX and any(
        len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in parts
    ):
        return f"has a component longer than {NAME_MAX} bytes"
    return None


def join(base: str, path: str) -> str:
    """`base/path` in POSIX form, where either may be empty."""
    if not base:
        return path
    if not path:
        return base
    return f"{base}/{path}"


def is_within(path: str, root: str) -> bool:
    """Whether relative `path` lies at or below relative `root` ('' is the prefix); as
    well for two resolved absolute paths (is a symlink's target inside the base?)."""
    # "/" already ends in the separator that marks a folder's inside.
    inside = root if root.endswith("/") else root + "/"
    return root == "" or path == root or path.startswith(inside)


def parents(path: str) -> list[str]:
    """Every proper ancestor directory of a relative path, shallowest first."""
    result = []
    end = path.rfind("/")
    while end > 0:
        result.append(path[:end])
        end = path.rfind("/", 0, end)
    return result[::-1]
