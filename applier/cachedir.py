"""The cache directory as a whole: where it is, the names wheelplan uses in it, `clean`.

Every name wheelplan creates in the folder is defined here, once: unpacked wheels and
their temporary entries (applier/cache.py), the wheel index (applier/wheelindex.py),
wheel manifests (applier/manifests.py) and the downloads of lock files
(wheelplan/fetch.py). `clean` removes those and nothing else, because `--cache-dir`
may name any folder: a temporary entry (or index) only by its exact name and only once
the process that made it is gone, a download only as a wheel (or a partial one) in a
folder named by its hash.

A cache may be shared between containers (a BuildKit cache mount) or machines, whose
pids are not this process's: a temporary entry names the PID namespace its pid is in,
and one of another namespace is taken for abandoned only once it is a day old.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import stat
import time

import attrs

from applier.atomic import temporary_for
from applier.removal import remove_tree

ENTRIES = "wheels-v1"
STAGING = "tmp"
INDEX = "index-v1.json"
MANIFESTS = "manifests-v1"
DOWNLOADS = "downloads"
# What entries and manifests are named by: a wheel's sha256, in lowercase hex.
WHEEL_SHA256 = re.compile(r"[0-9a-f]{64}")
# A temporary entry: "<wheel sha256>-<namespace>-<pid>-<nonce>", and "-old" for one
# being replaced; without "<namespace>-" when it is unknown (or wheelplan predates it).
_STAGING_NAME = re.compile(
    WHEEL_SHA256.pattern + r"-(?:([0-9a-f]{16})-)?([0-9]+)-[0-9a-f]{8}(?:-old)?"
)
# How long a temporary entry of another PID namespace must be left untouched before it
# is taken for abandoned: far longer than any apply.
FOREIGN_AGE_S = 24 * 3600
# A download folder: the lock's sha256, else "<algorithm>-<hex digest>".
_DOWNLOAD_KEY = re.compile(WHEEL_SHA256.pattern + r"|[a-z0-9_]+-[0-9a-f]{32,128}")


def default_dir() -> str:
    """`$XDG_CACHE_HOME/wheelplan`, or `~/.cache/wheelplan` (XDG: a relative value is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "wheelplan")


@functools.cache
def pid_namespace() -> str | None:
    """Where this process's pid means something, as 16 hex digits: its PID namespace
    (the inode of /proc/self/ns/pid) on this boot of this machine (the boot id, since
    every host's own namespace has one inode number). None when /proc cannot tell."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as stream:
            boot = stream.read(64).strip()
        inode = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return hashlib.sha256(boot + b"\0" + str(inode).encode()).hexdigest()[:16]


def staging_name(sha256: str, nonce: str) -> str:
    """The name of this process's temporary entry for a wheel (`nonce`: 8 hex digits)."""
    namespace = pid_namespace()
    where = f"{namespace}-" if namespace is not None else ""
    return f"{sha256}-{where}{os.getpid()}-{nonce}"


def _running(pid: int) -> bool:
    if pid <= 0:  # os.kill would signal a process group, not ask after a writer
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no pid is that large
        return False
    except PermissionError:
        return True
    return True


def stale_staging(folder: str, name: str) -> bool | None:
    """None for a name no apply makes in `tmp/`; else whether the apply that made
    `folder/name` is gone: its pid is, if it ran in this PID namespace; otherwise
    (another container or machine, or a namespace unknown) the pid says nothing here,
    and the entry must have been untouched for FOREIGN_AGE_S."""
    match = _STAGING_NAME.fullmatch(name)
    if match is None:
        return None
    namespace, pid = match.group(1), int(match.group(2))
    if namespace is not None and namespace == pid_namespace():
        return not _running(pid)
    try:
        touched = os.lstat(os.path.join(folder, name)).st_mtime
    except FileNotFoundError:
        return True  # gone already
    return time.time() - touched > FOREIGN_AGE_S


def _listdir(folder: str) -> list[str]:
    """The names in a folder; none for anything else, a symlink to a folder included."""
    try:
        if stat.S_ISDIR(os.lstat(folder).st_mode):
            return sorted(os.listdir(folder))
    except FileNotFoundError:
        pass
    return []


@attrs.define
class Cleaned:
    """What `clean` removed, and the temporary entries of running applies it left."""

    files: int = 0
    bytes: int = 0
    kept: int = 0

    def count(self, info: os.stat_result) -> None:
        self.files += 1
        if stat.S_ISREG(info.st_mode):
            self.bytes += info.st_size


# Removals of one folder before `clean` gives up on it: an apply may publish an entry
# into it between two passes, and a pass of its own takes that entry too.
_PASSES = 3
# What `rmdir` of a folder that is not empty fails with (POSIX allows either).
_NOT_EMPTY = (errno.ENOTEMPTY, errno.EEXIST)


def _remove_tree(path: str, cleaned: Cleaned) -> None:
    """Remove a folder wheelplan made, counting the files in it (a symlink is not ours).

    Applies may run meanwhile: a name gone before it is removed is no error, and a
    folder that gained an entry while it was emptied is emptied again.
    """
    for attempt in range(_PASSES):
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return  # not ours
        except FileNotFoundError:
            return
        try:
            remove_tree(path, removed=cleaned.count)
            return
        except OSError as error:
            if error.errno not in _NOT_EMPTY or attempt == _PASSES - 1:
                raise  # what stops it


def _remove_file(path: str, cleaned: Cleaned) -> None:
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode):
            os.unlink(path)
            cleaned.count(info)


def _rmdir_if_empty(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def clean(directory: str) -> Cleaned:
    """Remove what wheelplan keeps in `directory`; leave anything else, and the
    temporary entries of applies still running (they would fail without them).

    An apply running meanwhile loses nothing it needs: a cached file gone before it is
    linked is written from the wheel instead.
    """
    cleaned = Cleaned()
    if not os.path.isdir(directory):
        return cleaned
    for name in (ENTRIES, MANIFESTS):
        _remove_tree(os.path.join(directory, name), cleaned)
    _remove_file(os.path.join(directory, INDEX), cleaned)
    for name in _listdir(directory):
        written = temporary_for(name)
        if written is not None and written[0] == INDEX and not _running(written[1]):
            _remove_file(os.path.join(directory, name), cleaned)  # its writer was killed
    staging = os.path.join(directory, STAGING)
    for name in _listdir(staging):
        stale = stale_staging(staging, name)
        if stale:
            _remove_tree(os.path.join(staging, name), cleaned)
        elif stale is not None:
            cleaned.kept += 1
    _rmdir_if_empty(staging)
    downloads = os.path.join(directory, DOWNLOADS)
    for key in _listdir(downloads):
        if _DOWNLOAD_KEY.fullmatch(key) is None:
            continue
        folder = os.path.join(downloads, key)
        for name in _listdir(folder):
            if name.endswith(".whl") or (name.startswith(".") and name.endswith(".part")):
                _remove_file(os.path.join(folder, name), cleaned)
        _rmdir_if_empty(folder)
    _rmdir_if_empty(downloads)
    _rmdir_if_empty(directory)
    return cleaned


__all__ = [
    "DOWNLOADS",
    "ENTRIES",
    "INDEX",
    "MANIFESTS",
    "STAGING",
    "WHEEL_SHA256",
    "Cleaned",
    "clean",
    "default_dir",
    "pid_namespace",
    "staging_name",
    "stale_staging",
]
