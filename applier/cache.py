"""The unpacked-wheel cache: each wheel unpacked and verified once, then linked from.

Layout, under the cache directory (`$XDG_CACHE_HOME/wheelplan`, default
`~/.cache/wheelplan`; `--cache-dir` moves it, `--no-cache` skips all of it):

    index-v1.json                     the wheel index (applier/wheelindex.py)
    wheels-v1/<sha[:2]>/<sha>/        one entry per wheel, named by the wheel's sha256
        files/<member>                the wheel's members, unpacked and verified
        entry.json                    marker, written last: member -> RECORD hash, size,
                                      mtime (ns) and mode of the cached file
    tmp/<sha>-<ns>-<pid>-<nonce>/     an entry being populated, by `pid` in PID namespace
                                      `ns` (applier/cachedir.py)

Populating is atomic: an apply that installs a wheel with no entry has its workers
write each member into a temporary entry (checking its RECORD hash as always) and
link it from there; once every worker has succeeded the marker is written and the
temporary folder renamed into place. A write into a temporary entry that fails (the
cache's filesystem full, its folder deleted) drops that entry, and its files are
written from the wheel (`unitwriter._through_cache`). An entry holds the members that
apply wrote: files wheelplan generates or rewrites (RECORD, INSTALLER, REQUESTED,
direct_url.json, entry-point wrappers, `#!python` scripts) are never cached, and
always written fresh.

On a warm hit the apply reads each entry's marker, and links a planned file from the
entry when the marker has its member with the RECORD hash and size the plan expects. A
file cached with another mode than the one it gets (an entry made under another umask)
is reflinked or copied, never hardlinked, so that it gets its own inode and mode;
under `--link-mode hardlink` it is written from the wheel. The worker that links a
file first checks it with one `lstat`: a regular file with the marker's size, mtime
and mode. Any difference (a file edited, truncated, replaced or missing) makes that
worker write the file straight from the wheel instead and report the entry as damaged;
once the install is complete, each damaged entry is extracted again from its wheel and
replaces the old one (a failure there leaves the entry as it was, and never fails the
install). An entry whose marker is broken, or disagrees with the plan, is extracted
again during the apply, like a missing one. Not checked on a hit: the bytes themselves
(that is what would make a hit cost as much as a miss), so an edit that keeps the size
and restores the mtime goes unnoticed. With hardlinks the installed files share their
inode with the cache: editing one in place edits the other, as with uv; the next apply
from that entry then sees the new mtime.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs
import msgspec

from applier.atomic import write_atomic
from applier.cachedir import ENTRIES, STAGING, WHEEL_SHA256, staging_name, stale_staging
from applier.links import modes_for, own_inode
from applier.modes import file_mode
from applier.removal import remove_tree
from planner.hashing import open_regular
from planner.inputfiles import read_own
from planner.paths import parents, path_problem
from planner.plan import INSTALLING, FileEntry, Plan, Source, Unit

MARKER = "entry.json"
FILES = "files"
FORMAT = 1


# --- entries --------------------------------------------------------------------------


def linkable(source: Source) -> bool:
    """Whether a planned file may come from the cache: a member written as it is.

    (Its name is a path inside the entry; `_stage` refuses unsafe ones, and a hit needs
    the name in a marker, which only `_stage`-checked names reach.)
    """
    return (
        source.kind == "member"
        and not source.rewrite_shebang
        and source.wheel is not None
        and source.member is not None
        and source.hash.startswith("sha256=")
    )


@attrs.frozen
class Staging:
    """An entry being populated: where it is, where it goes, what it will hold."""

    wheel: str
    sha256: str
    directory: str
    entry: str
    members: tuple[tuple[str, str, str], ...]  # (member, RECORD hash, planned path)
    replaces: bool  # a corrupt entry is in the way


# A file to link: its path in the entry, and the size, mtime (ns) and mode its marker
# records, which the worker checks (one `lstat`) before it links it.
CachedFile = tuple[str, int, int, int]
# What a marker records of a member: its RECORD hash, and the size, mtime (ns) and mode
# of the cached file.
CachedMember = tuple[str, int, int, int]


@attrs.frozen
class _Marker:
    """An entry's marker file: msgspec writes it and reads it back, types checked."""

    format: int
    wheel_sha256: str
    files: dict[str, CachedMember]


_MARKER_ENCODER = msgspec.json.Encoder()
_MARKER_DECODER = msgspec.json.Decoder(_Marker)


@attrs.define
class Placement:
    """How this apply uses the cache: files to link, files to extract into new entries."""

    linked: dict[str, CachedFile] = attrs.field(factory=dict)
    staged: dict[str, str] = attrs.field(factory=dict)
    stagings: list[Staging] = attrs.field(factory=list)
    # Wheel -> its entry's sha256 and planned files, for each entry linked from: what
    # `repair` extracts again when a worker finds a changed file in it.
    hits: dict[str, tuple[str, list[tuple[str, Source]]]] = attrs.field(factory=dict)


class Cache:
    """One cache directory."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)

    def entry(self, sha256: str) -> str:
        return os.path.join(self.directory, ENTRIES, sha256[:2], sha256)

    def marker(self, sha256: str) -> Mapping[str, CachedMember] | None:
        """The files an entry holds, from its marker; None for no entry (or a broken one)."""
        try:
            marker = _MARKER_DECODER.decode(read_own(os.path.join(self.entry(sha256), MARKER)))
        except (OSError, msgspec.MsgspecError):
            return None
        if marker.format != FORMAT or marker.wheel_sha256 != sha256:
            return None
        return marker.files

    def _sweep(self) -> None:
        """Remove temporary entries left by applies that were killed."""
        staging = os.path.join(self.directory, STAGING)
        with contextlib.suppress(OSError):
            for name in os.listdir(staging):
                if stale_staging(staging, name):
                    remove_tree(os.path.join(staging, name), ignore_errors=True)

    def prepare(
        self,
        files: Mapping[str, FileEntry],
        units: Iterable[Unit],
        wheel_sha256: Mapping[str, str],
        umask: int,
        copying: bool,
    ) -> Placement:
        """Decide, for each planned write, whether it is linked, extracted to a new entry
        (then linked), or written straight from the wheel as without a cache.

        `copying`: the link modes include one that gives a file an inode of its own
        (reflink or copy), so a cached file of another mode may still be placed.
        """
        by_wheel: dict[str, list[tuple[str, Source]]] = {}
        for unit in units:
            for path in unit.paths:
                source = files[path].source
                if source is not None and linkable(source):
                    assert source.wheel is not None
                    by_wheel.setdefault(source.wheel, []).append((path, source))
        placement = Placement()
        swept = False
        for wheel, planned in sorted(by_wheel.items()):
            sha256 = wheel_sha256.get(wheel, "")
            if not WHEEL_SHA256.fullmatch(sha256):
                continue
            marker = self.marker(sha256)
            if marker is not None:
                linked = self._check(sha256, marker, planned, umask, copying)
                if linked is not None:
                    placement.linked.update(linked)
                    placement.hits[wheel] = (sha256, planned)
                    continue
            # No entry, or one whose marker is broken or disagrees with the plan: extract it.
            damaged = os.path.lexists(self.entry(sha256))
            if not swept:
                self._sweep()
                swept = True
            self._stage(wheel, sha256, planned, damaged, placement)
        return placement

    def _check(
        self,
        sha256: str,
        marker: Mapping[str, CachedMember],
        planned: Sequence[tuple[str, Source]],
        umask: int,
        copying: bool,
    ) -> dict[str, CachedFile] | None:
        """Planned path -> cached file to link, from the marker alone; None if the marker
        disagrees with the plan (another RECORD hash or size: a damaged marker).

        A file cached with another mode than this apply gives it (an entry made under
        another umask) is placed only when `copying`: a hardlink would share that mode.
        Nothing else is read here: the worker that links a file checks it first.
        """
        root = os.path.join(self.entry(sha256), FILES) + os.sep
        linked: dict[str, CachedFile] = {}
        for path, source in planned:
            member = source.member
            assert member is not None
            row = marker.get(member)
            if row is None or member.startswith("/") or ".." in member:
                continue  # not in this entry (or a name no entry may hold): written fresh
            hash_text, size, mtime_ns, mode = row
            if hash_text != source.hash or size != source.size:
                return None
            if copying or mode == file_mode(source.mode, umask):
                linked[path] = (root + member, source.size, mtime_ns, mode)
        return linked

    def _stage(
        self,
        wheel: str,
        sha256: str,
        planned: Sequence[tuple[str, Source]],
        replaces: bool,
        placement: Placement,
    ) -> None:
        directory = os.path.join(self.directory, STAGING, staging_name(sha256, os.urandom(4).hex()))
        root = os.path.join(directory, FILES)
        # The plan is input: a member name must not lead out of the entry.
        planned = [item for item in planned if path_problem(item[1].member or "") is None]
        # Safe relative POSIX names (checked above): joined and split as strings, and each
        # folder made once, parents first (a parent sorts before its children).
        folders: set[str] = set()
        for _, source in planned:
            folder = (source.member or "").rpartition("/")[0]
            if folder and folder not in folders:
                folders.update((folder, *parents(folder)))
        try:
            os.makedirs(root)
            for folder in sorted(folders):
                os.mkdir(f"{root}/{folder}")
        except OSError:
            remove_tree(directory, ignore_errors=True)
            return  # no cache today: these files are written straight from the wheel
        members = []
        staged: set[str] = set()
        for path, source in planned:
            assert source.member is not None
            if source.member in staged:
                # An edited plan may write a member twice: staged once, since it has one
                # name in the entry; the other destination is written from the wheel.
                continue
            staged.add(source.member)
            placement.staged[path] = f"{root}/{source.member}"
            members.append((source.member, source.hash, path))
        placement.stagings.append(
            Staging(wheel, sha256, directory, self.entry(sha256), tuple(members), replaces)
        )

    def finish(
        self,
        placement: Placement,
        stamps: Mapping[str, tuple[int, int, int]] | None = None,
        dropped: Collection[str] = (),
    ) -> None:
        """Mark and move each populated entry into place, once every worker has succeeded.

        `stamps` are the workers' (see `unitwriter.Slot`); a file they lack is stat'ed here.
        `dropped` names wheels whose entry a worker could not write a file into: those
        files came from the wheel, and the entry, incomplete, is removed.
        """
        for staging in placement.stagings:
            try:
                if staging.wheel not in dropped:
                    self._publish(staging, stamps or {})
            except OSError:
                pass  # the install itself is done; this entry is simply not cached
            finally:
                remove_tree(staging.directory, ignore_errors=True)

    def _publish(self, staging: Staging, stamps: Mapping[str, tuple[int, int, int]]) -> None:
        root = os.path.join(staging.directory, FILES)
        files: dict[str, CachedMember] = {}
        for member, hash_text, path in staging.members:
            stamp = stamps.get(path)
            if stamp is None:
                info = os.lstat(os.path.join(root, member))
                stamp = (info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode))
            files[member] = (hash_text, *stamp)
        marker = _MARKER_ENCODER.encode(_Marker(FORMAT, staging.sha256, files))
        write_atomic(os.path.join(staging.directory, MARKER), marker)
        os.makedirs(os.path.dirname(staging.entry), exist_ok=True)
        if staging.replaces:
            trash = f"{staging.directory}-old"
            with contextlib.suppress(FileNotFoundError):
                os.rename(staging.entry, trash)
            remove_tree(trash, ignore_errors=True)
        with contextlib.suppress(OSError):  # another apply populated it first: keep theirs
            os.rename(staging.directory, staging.entry)

    def discard(self, placement: Placement) -> None:
        """Drop the temporary entries of an apply that failed."""
        for staging in placement.stagings:
            remove_tree(staging.directory, ignore_errors=True)

    def repair(
        self,
        placement: Placement,
        damaged: Iterable[str],
        wheel_paths: Mapping[str, str],
        umask: int,
    ) -> None:
        """Extract again each entry a worker found a changed file in (`damaged` names
        wheels), as a miss would, and put it in place of the old one.

        Run once the install is complete, and only then: whatever fails here leaves
        that entry as it was (the next apply finds it damaged again), never the install.
        """
        # Imported here: `plan` imports this module but none of the writing machinery.
        from applier.streams import write_file

        for wheel in sorted(damaged):
            if wheel not in placement.hits or wheel not in wheel_paths:
                continue
            sha256, planned = placement.hits[wheel]
            again = Placement()
            self._stage(wheel, sha256, planned, True, again)
            if not again.stagings:
                continue
            sources = dict(planned)
            try:
                wheel_fd = open_regular(wheel_paths[wheel])
                try:
                    for path, staged in again.staged.items():
                        write_file(staged, sources[path], wheel_fd, b"", umask=umask)
                finally:
                    os.close(wheel_fd)
                self.finish(again)
            except Exception:
                pass  # the install is complete: this entry is simply not repaired
            finally:
                self.discard(again)  # nothing left once published


def placement_for(
    directory: str | None,
    plan: Plan,
    files: Mapping[str, FileEntry],
    wheel_paths: Mapping[str, str],
    link_mode: str,
    mtime: int | None,
    umask: int,
) -> tuple[Cache | None, Placement, tuple[str, ...]]:
    """The cache (None when disabled), its placement of this plan's writes, the link modes.

    Entries are chosen by the sha256 of each wheel in `wheel_paths`, which
    `preflight.planned_wheels` proved against the file: an unchanged or removed
    distribution's sha256 is never checked, so an edited plan could name another
    wheel's entry with it.

    With SOURCE_DATE_EPOCH every file's mtime is set, which would reach the cached copy
    through a hardlink: then files are reflinked or copied (`--link-mode hardlink` is
    refused with it before the apply starts; called with it, no file is taken from the
    cache).
    """
    modes = modes_for(link_mode)
    if mtime is not None:
        modes = own_inode(modes)
    if directory is None or not modes:
        return None, Placement(), ()
    cache = Cache(directory)
    copying = bool(own_inode(modes))
    shas = {
        dist.wheel: dist.wheel_sha256
        for dist in plan.distributions
        if dist.action in INSTALLING
        and dist.wheel is not None
        and dist.wheel in wheel_paths
        and dist.wheel_sha256 is not None
    }
    return cache, cache.prepare(files, plan.units, shas, umask, copying), modes


__all__ = ["Cache", "Placement", "linkable", "placement_for"]
