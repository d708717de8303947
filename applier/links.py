"""Put a file from the unpacked-wheel cache at a planned path: reflink, hardlink or copy.

A reflink (the FICLONE ioctl: btrfs, XFS, bcachefs...) shares the blocks but not the
inode, so the installed file is independent of the cache. A hardlink shares the
inode: editing the installed file in place edits the cached copy too (uv does the
same; the cache notices a changed size or mtime and re-extracts that entry). A copy
(`copy_file_range`, in the kernel) always works. `auto` tries them in that order; a
worker drops a mode the filesystem refuses and keeps the next one for the rest of
its files, so each mode costs at most one failed call per worker.

Each worker owns its `Linker`; nothing here is shared between workers.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Sequence

from applier import faults
from applier.modes import create, file_mode
from planner.errors import name_the_file

MODES = ("reflink", "hardlink", "copy")
AUTO = "auto"
# linux/fs.h: _IOW(0x94, 9, int)
FICLONE = 0x40049409
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
# A mode the filesystem (or the pair of filesystems) does not support at all.
_UNSUPPORTED = frozenset(
    {errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EXDEV, errno.ENOSYS, errno.EPERM}
)
# copy_file_range refusing a pair of files: fall back to reading and writing.
_NO_COPY_RANGE = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL})


def own_inode(modes: Sequence[str]) -> tuple[str, ...]:
    """Those of `modes` that give the placed file an inode of its own (all but a
    hardlink), so that its mode and mtime are not the cached file's."""
    return tuple(mode for mode in modes if mode != "hardlink")


def modes_for(choice: str) -> tuple[str, ...]:
    """The modes to try, in order, for `--link-mode`: all of them for `auto`, else just one."""
    if choice == AUTO:
        return MODES
    if choice not in MODES:
        raise ValueError(f"unknown link mode {choice!r}")
    return (choice,)


def _copy(source_fd: int, destination_fd: int, size: int) -> None:
    copied = 0
    try:
        while copied < size:
            done = os.copy_file_range(source_fd, destination_fd, size - copied)
            if done == 0:
                break
            copied += done
    except OSError as error:
        if error.errno not in _NO_COPY_RANGE or copied:
            raise
    while copied < size:
        block = os.pread(source_fd, min(1 << 20, size - copied), copied)
        if not block:
            break
        view = memoryview(block)
        while view:
            view = view[os.write(destination_fd, view) :]
        copied += len(block)
    if copied != size:
        raise OSError(errno.EIO, f"cached file changed while it was copied ({copied} of {size})")


class Linker:
    """One worker's way of placing cached files, narrowed as modes are refused."""

    def __init__(
        self, modes: tuple[str, ...], umask: int, fsync: bool = False, mtime: int | None = None
    ) -> None:
        self.modes = list(modes)
        self.forced = modes[0] if len(modes) == 1 else None  # `--link-mode NAME`
        self.umask = umask
        self.fsync = fsync
        self.mtime = mtime
        self.refused: dict[str, str] = {}
        self.used: dict[str, int] = {}

    def place(
        self, cached: str, destination: str, mode: int, size: int, cached_mode: int | None = None
    ) -> str:
        """Create `destination` (absent) with the bytes of `cached`; return the mode used.

        `mode` is the planned one: a reflink or a copy gets its `modes.file_mode` under
        the umask. A hardlink shares the cached file's mode, `cached_mode` (None: the
        cache made it so), and is passed over for this file when that is another mode.
        An `OSError` that names no file names `destination`.
        """
        shared = cached_mode is None or cached_mode == file_mode(mode, self.umask)
        try:
            faults.checkpoint("create")
            while True:
                usable = self.modes if shared else own_inode(self.modes)
                if not usable:
                    refused = "; ".join(f"{how}: {why}" for how, why in self.refused.items())
                    said = f"no link mode works here ({refused})"
                    if self.forced in self.refused:  # the others were never tried
                        said = (
                            f"--link-mode {self.forced} does not work here ({refused});"
                            " --link-mode auto takes the first that does"
                        )
                    raise OSError(errno.EOPNOTSUPP, said, destination)
                how = usable[0]
                try:
                    self._place(how, cached, destination, mode, size)
                except OSError as error:
                    if how == "hardlink" and error.errno == errno.EMLINK:
                        # This one inode has too many links; hardlinks still work for the rest.
                        how = "copy"
                        self._place(how, cached, destination, mode, size)
                    elif how != "copy" and error.errno in _UNSUPPORTED:
                        self.refused[how] = error.strerror or str(error)
                        self.modes.remove(how)
                        continue
                    else:
                        raise
                self.used[how] = self.used.get(how, 0) + 1
                return how
        except OSError as error:
            name_the_file(error, destination)
            raise

    def _place(self, how: str, cached: str, destination: str, mode: int, size: int) -> None:
        if how == "hardlink":
            os.link(cached, destination)
            if self.fsync:
                fd = os.open(destination, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            return
        source_fd = os.open(cached, os.O_RDONLY | os.O_CLOEXEC)
        try:
            destination_fd = create(destination, _OPEN_FLAGS, mode, self.umask)
            try:
                if how == "reflink":
                    try:
                        fcntl.ioctl(destination_fd, FICLONE, source_fd)
                    except OSError:
                        os.close(destination_fd)
                        destination_fd = -1
                        os.unlink(destination)
                        raise
                else:
                    _copy(source_fd, destination_fd, size)
                if self.mtime is not None:
                    os.utime(destination_fd, (self.mtime, self.mtime))
                if self.fsync:
                    os.fsync(destination_fd)
            finally:
                if destination_fd >= 0:
                    os.close(destination_fd)
        finally:
            os.close(source_fd)


__all__ = ["AUTO", "MODES", "Linker", "modes_for", "own_inode"]
