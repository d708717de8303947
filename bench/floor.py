"""The floors: the least work any installer has to do on this machine and filesystem.

Cold: inflate every wheel member and write its bytes. Warm: hardlink every file of wheels
unpacked beforehand (untimed, one folder per wheel) into the output, as an installer with a
warm cache does. Neither is an installer (no RECORD, scripts, permissions or metadata), so the
table can show how far each row is from simply moving the bytes.

Cold splits the members by size between two threads: zlib and os.write release the GIL, so on
a 2-core machine this is roughly what parallel extraction in Python can reach. Warm splits the
files between two forked processes: a link is one short system call, so threads would spend
their time waiting for the GIL (as the applier's workers measured).

Usage:
    python bench/floor.py OUT_DIR WHEEL...          cold: inflate and write
    python bench/floor.py --unpack CACHE WHEEL...   untimed: each wheel into CACHE/NNNN
    python bench/floor.py --link CACHE OUT_DIR      warm: link every unpacked file
"""

import errno
import os
import shutil
import struct
import sys
import threading
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

THREADS = 2
PROCESSES = 2
CHUNK = 1 << 20  # compressed bytes read per step
_LOCAL_HEADER_SIZE = 30  # fixed part of a zip local file header
_STORED, _DEFLATED = 0, 8


@dataclass(frozen=True)
class Member:
    """Where one member's compressed bytes start (via its local header) and what they become."""

    wheel: str
    name: str
    header_offset: int
    compressed: int
    size: int
    method: int


def list_members(wheels: Sequence[str]) -> list[Member]:
    """Read central directories; a later wheel's member wins, as it would on install."""
    members: dict[str, Member] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    members[info.filename] = Member(
                        wheel,
                        info.filename,
                        info.header_offset,
                        info.compress_size,
                        info.file_size,
                        info.compress_type,
                    )
    return list(members.values())


def split_by_bytes(members: Sequence[Member], parts: int) -> list[list[Member]]:
    """Largest first into the lightest bucket: one huge .so must not leave a thread idle."""
    buckets: list[list[Member]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for member in sorted(members, key=lambda m: m.size, reverse=True):
        lightest = loads.index(min(loads))
        buckets[lightest].append(member)
        loads[lightest] += member.size
    return buckets


def extract(members: Sequence[Member], out: str) -> None:
    """pread each member from its local header, raw-inflate and write it in chunks."""
    fds: dict[str, int] = {}
    try:
        for member in members:
            fd = fds.get(member.wheel)
            if fd is None:
                fd = fds[member.wheel] = os.open(member.wheel, os.O_RDONLY)
            _copy_member(fd, member, os.path.join(out, member.name))
    finally:
        for fd in fds.values():
            os.close(fd)


def _copy_member(fd: int, member: Member, path: str) -> None:
    """Stream in CHUNK pieces: a 500 MB .so must not cost 500 MB of memory per thread."""
    if member.method not in (_STORED, _DEFLATED):
        raise ValueError(f"{member.wheel}: {member.name}: compression method {member.method}")
    header = os.pread(fd, _LOCAL_HEADER_SIZE, member.header_offset)
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    position = member.header_offset + _LOCAL_HEADER_SIZE + name_len + extra_len
    end = position + member.compressed
    inflater = zlib.decompressobj(-15) if member.method == _DEFLATED else None
    written = 0
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while position < end:
            raw = os.pread(fd, min(CHUNK, end - position), position)
            if not raw:
                break
            position += len(raw)
            written += _write_all(out, inflater.decompress(raw) if inflater else raw)
        if inflater:
            written += _write_all(out, inflater.flush())
    finally:
        os.close(out)
    if written != member.size:
        raise ValueError(f"{member.wheel}: {member.name}: wrote {written} of {member.size} bytes")


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)


def write_members(members: Sequence[Member], out: str) -> None:
    """Make the members' folders, then extract them with THREADS threads; fail loudly."""
    for folder in sorted({os.path.dirname(m.name) for m in members}):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    errors: list[BaseException] = []

    def work(chunk: list[Member]) -> None:
        try:
            extract(chunk, out)
        except BaseException as exc:  # reported below: a thread must not fail silently
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in split_by_bytes(members, THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def unpack(cache: str, wheels: Sequence[str]) -> None:
    """Each wheel into its own numbered folder, so `link` keeps the wheels' order."""
    for index, wheel in enumerate(wheels):
        write_members(list_members([wheel]), os.path.join(cache, f"{index:04d}"))


def list_unpacked(cache: str) -> tuple[list[str], dict[str, str]]:
    """Every folder and every file (to the tree holding it) under the unpacked wheels;
    a later wheel's file wins, as in `list_members`."""
    folders: set[str] = set()
    files: dict[str, str] = {}
    for tree in sorted(os.listdir(cache)):
        root = os.path.join(cache, tree)
        pending = [""]
        while pending:
            relative = pending.pop()
            with os.scandir(os.path.join(root, relative)) as entries:
                for entry in entries:
                    name = f"{relative}/{entry.name}" if relative else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        folders.add(name)
                        pending.append(name)
                    else:
                        files[name] = root
    return sorted(folders), files


def _place(pairs: Sequence[tuple[str, str]], out: str) -> None:
    """Hardlink each file; across filesystems (where no link is possible) copy it, as uv does."""
    link = True
    for name, root in pairs:
        source, destination = os.path.join(root, name), os.path.join(out, name)
        if link:
            try:
                os.link(source, destination)
                continue
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                link = False
        shutil.copyfile(source, destination)


def link_all(cache: str, out: str) -> int:
    """Link every unpacked file into `out` with PROCESSES forked processes; the file count."""
    folders, files = list_unpacked(cache)
    for folder in folders:  # sorted: a parent before its children
        os.mkdir(os.path.join(out, folder))
    pairs = sorted(files.items())
    children = []
    for part in range(PROCESSES):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _place(pairs[part::PROCESSES], out)
                code = 0
            except BaseException as exc:  # the parent sees the exit code; say why here
                print(f"floor: {exc}", file=sys.stderr)
            finally:
                os._exit(code)
        children.append(pid)
    failed = [pid for pid in children if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])]
    if failed:
        raise RuntimeError(f"{len(failed)} of {PROCESSES} link processes failed")
    return len(pairs)


def main(argv: Sequence[str]) -> int:
    """Run one of the three modes in the module docstring; fail loudly on any error."""
    if len(argv) >= 2 and argv[0] == "--unpack":
        unpack(argv[1], argv[2:])
        return 0
    if len(argv) == 3 and argv[0] == "--link":
        count = link_all(argv[1], argv[2])
        print(f"floor warm: linked {count} files into {Path(argv[2])}")
        return 0
    if len(argv) < 2 or argv[0].startswith("--"):
        print(__doc__, file=sys.stderr)
        return 2
    out, wheels = argv[0], argv[1:]
    members = list_members(wheels)
    write_members(members, out)
    total = sum(m.size for m in members)
    print(f"floor: wrote {len(members)} files, {total} bytes into {Path(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
