"""The planner's driver: wheels and a target in, one immutable Plan out.

Nothing here writes; every check that can be made before the first byte is
written is made from here (most by the modules it asks, one concern each), and
every problem is reported together.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs

from planner import actions, requirements, units
from planner.asinstalled import (
    as_installed,
    installed_difference,
    keeps_alike,
    sha256_of,
)
from planner.clashes import file_and_directory, through_links
from planner.disowning import Losses, listed_bytecode, preferred
from planner.errors import Problem, Refused, in_subject_order
from planner.externallymanaged import check_externally_managed
from planner.inputs import best_builds, expand_inputs
from planner.installed import (
    Installed,
    in_metadata,
    left_in_metadata,
    left_outside,
    unlisted_metadata,
)
from planner.journalnames import JOURNAL_DIR, RESERVED_FOR_JOURNAL, in_journal, plan_can_name
from planner.layout import claims_for
from planner.limits import Limits
from planner.listing import (
    Listing,
    RealPaths,
    empty_below,
    going_metadata,
    is_real_dir,
    left_below,
    metadata_left,
    not_folders,
)
from planner.mounts import MountPoints, mounts_staying
from planner.overlaps import describe_owners, settle
from planner.ownfiles import NEEDED, OwnFiles, left_needed
from planner.paths import is_within, parents
from planner.place import recover_command
from planner.plan import (
    FORMAT,
    FileEntry,
    LockSource,
    Plan,
    Target,
)
from planner.synckeeps import lacking
from planner.target import TargetInfo, interpreter_problem, prefix_problem
from planner.wheelhash import DigestCache
from planner.wheelreader import read_wheels
from planner.wheels import Wheel
from planner.wheelset import check_wheel_set


@attrs.frozen
class Request:
    """What the user asked for, as the CLI (or a lock file reader) parsed it."""

    wheels: tuple[str, ...] = ()
    prefer: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    sync: bool = False
    reinstall: bool = False
    strict: bool = False
    direct_url: bool = True
    limits: Limits = attrs.field(factory=Limits)
    lock: LockSource | None = None
    # Known wheel hashes (the CLI passes the cache's stat-keyed index); None: hash each wheel.
    digests: DigestCache | None = None
    # `wheels` already read by `read_wheels` (the CLI reads them while it probes the target).
    read: tuple[Wheel, ...] | None = None
    # Plan for a Python another package manager owns (PEP 668) all the same.
    break_system_packages: bool = False
    # Plan wheels whose Requires-Python leaves out the target's Python, with a warning.
    ignore_requires_python: bool = False


def _pycache_listings(folders: Iterable[str], disk: Listing) -> dict[str, frozenset[str]]:
    """What the `__pycache__` of each of `folders` holds on disk, for those where it
    holds anything (in a fresh environment, none)."""
    found = {}
    for folder in folders:
        entries = disk.names(f"{folder}/__pycache__" if folder else "__pycache__")
        if entries and entries is not Listing.UNREADABLE:
            found[folder] = entries
    return found


def _bytecode_of(path: str, pycache: Mapping[str, frozenset[str]]) -> list[str]:
    """Cached bytecode of a source file (`path` ends in .py), for every optimisation
    level, as it is on disk (`pycache`: see `_pycache_listings`)."""
    folder = path.rpartition("/")[0]
    cache = f"{folder}/__pycache__" if folder else "__pycache__"
    return listed_bytecode((f"{cache}/{entry}" for entry in pycache.get(folder, ())), path)


def _with_ancestors(folders: Iterable[str]) -> set[str]:
    """`folders` and every folder above them, without the prefix ("").

    Each folder's ancestors once, not each file's: 1,500 folders hold 17,000 files.
    """
    found: set[str] = set()
    for folder in folders:
        while folder and folder not in found:  # a folder found has its ancestors found
            found.add(folder)
            folder = folder.rpartition("/")[0]
    return found


def _emptied_in_rewritten(
    prefix: str, points: MountPoints, rewritten: Iterable[str], directories: Collection[str]
) -> list[str]:
    """The empty folders of each `.dist-info` that a reinstall writes again, but none of
    its new files is in or below: pip's uninstall of the old copy takes the folder
    whole (uv's leaves them). One that is, or holds, a mount point (no rmdir takes it),
    or a folder no plan can name (the apply would refuse the plan), stays, as
    everything did before.
    """
    found = [
        folder
        for metadata in rewritten
        for folder in empty_below(prefix, metadata)
        if folder not in directories
    ]
    staying = {
        path for folder in found if not plan_can_name(folder) for path in (folder, *parents(folder))
    }
    staying.update(points.of_folders(found))
    return [folder for folder in found if folder not in staying]


def _unmet(
    wheels: Sequence[Wheel],
    active: Sequence[Wheel],
    kept: Mapping[str, Installed],
    gone: Collection[str],
    sync_kept: Collection[str],
    target: TargetInfo,
) -> tuple[list[str], list[str]]:
    """Requirements the final set leaves unmet: the planned wheels' own, and those of
    the installed distributions the plan keeps, on what the plan changes; then, apart,
    those on what --sync kept for a tool at a version that does not fit it, or on what
    it lacks altogether. That trouble was there before the plan, so it is said but,
    unlike the first, never refused."""
    # The target's own distributions shadow those it imports from elsewhere.
    final_versions = {**target.elsewhere}
    final_versions.update({name: item.version for name, item in kept.items()})
    final_versions.update({wheel.name: wheel.version for wheel in wheels})
    unmet = requirements.unmet(
        {wheel.name: wheel.requires_dist for wheel in active}, final_versions, target.markers
    )
    # Installed distributions the plan keeps may lose what they need to a removal or downgrade.
    staying = {
        f"{item.name} {item.version} (installed)": item.requires_dist for item in kept.values()
    }
    changed = set(gone) | {wheel.name for wheel in active}
    unmet += requirements.unmet(staying, final_versions, target.markers, only=changed)
    lacks = lacking((kept[name] for name in sync_kept), final_versions.keys(), target.markers)
    misfits = requirements.unmet(
        staying, final_versions, target.markers, only=lacks.union(sync_kept).difference(changed)
    )
    return unmet, misfits


def make_plan(request: Request, target: TargetInfo) -> Plan:
    """Plan `request` against `target`; raise Refused with every problem found."""
    # A plan no apply would take is not written (a line break in a folder's name).
    problems = [
        Problem(subject, problem)
        for subject, problem in (
            (target.interpreter, interpreter_problem(target.interpreter)),
            (target.prefix, prefix_problem(target.prefix)),
        )
        if problem is not None
    ]
    if problems:
        raise Refused(problems)
    check_externally_managed(target, request.break_system_packages)
    if os.path.lexists(os.path.join(target.prefix, JOURNAL_DIR)):
        raise Refused.one(
            target.prefix,
            "an interrupted apply left a journal here; run"
            f" `{recover_command(target.interpreter, target.prefix, target.layout)}` first",
        )
    wheels = (
        list(request.read)
        if request.read is not None
        else read_wheels(expand_inputs(request.wheels), request.limits, request.digests)
    )
    wheels = best_builds(wheels, request.wheels, target.tags)
    disk = Listing(target.prefix)
    python_warnings = check_wheel_set(
        wheels,
        target,
        request.wheels,
        request.remove,
        request.prefer,
        ignore_requires_python=request.ignore_requires_python,
    )
    installed = {item.name: item for item in target.installed}
    changes = actions.changes(
        wheels, target, request.remove, sync=request.sync, reinstall=request.reinstall
    )
    distributions, active, gone = changes.distributions, changes.active, changes.gone
    problems = list(changes.problems)
    # Every copy of a distribution installed more than once keeps its files.
    kept_copies = [item for item in target.installed if item.name not in gone]
    kept = {item.name: item for item in kept_copies}

    claims: list[FileEntry] = []
    for wheel in active:
        claims += claims_for(
            wheel,
            target.schemes,
            target.interpreter,
            target.python_version,
            requested=True,
            direct_url=request.direct_url,
        )
    wheel_of = {wheel.name: wheel.filename for wheel in wheels}
    wheel_named = {wheel.filename: wheel for wheel in wheels}
    # An installed one the plan keeps may be preferred, to keep its files; not one it removes.
    problems += [
        Problem(name, "--prefer names a distribution that this plan removes")
        for name in sorted(request.prefer.intersection(gone).difference(wheel_of))
    ]
    kept_owner_of: dict[str, list[Installed]] = {}
    for item in kept_copies:
        for path in item.files:
            kept_owner_of.setdefault(path, []).append(item)
    losses = Losses()
    # A preferred installed file stays: the claims on it that differ from it lose it.
    claims = losses.hold(
        claims,
        kept_owner_of,
        request.prefer,
        lambda item, claim: keeps_alike(item, claim, target, wheel_named),
    )
    settlement = settle(
        claims, request.prefer, wheel_of, lambda source: sha256_of(source, wheel_named)
    )
    problems += settlement.problems
    warnings = list(settlement.warnings) + python_warnings + list(changes.kept.values())
    for wheel in wheels:
        warnings += wheel.warnings

    gone_owner_of: dict[str, list[str]] = {}
    # Every copy of a name installed more than once (refused), so that its files are
    # not refused besides as nobody's.
    for item in [item for item in target.installed if item.name in gone]:
        metadata, unreadable = unlisted_metadata(item, target.prefix)
        problems += unreadable
        if left := left_outside(item):
            warnings.append(left)
        for path in (*item.files, *metadata):
            gone_owner_of.setdefault(path, []).append(item.name)

    files: list[FileEntry] = []
    folders_to_file: list[str] = []
    written = {entry.path for entry in settlement.files}
    folders = {path.rpartition("/")[0] for path in written}  # "" is the prefix
    on_disk = disk.existing(written, folders)
    # Only these paths meet the target; every other settled entry is planned as it is.
    touched = on_disk.union(written.intersection(kept_owner_of))
    real = RealPaths(target.prefix)
    # The environment's own files, which it needs, whatever a RECORD says.
    own = OwnFiles.of(target.prefix, target.interpreter, target.schemes)
    for entry in settlement.files:
        path = entry.path
        if path not in touched:
            files.append(entry)
            continue
        source = entry.source
        assert source is not None  # settled entries are writes
        all_owners = entry.owners  # sorted, and so they stay unless an installed one joins
        winner = preferred(entry.owners, request.prefer)
        compared = [
            (item, as_installed(path, item.files[path], source, target, wheel_named))
            for item in kept_owner_of.get(path, ())
        ]
        # Installed distributions preferred over a planned file that is not theirs: only
        # where a planned owner is preferred too (`losses.hold` took any other claim).
        keepers = sorted(
            item.name
            for item, alike in compared
            if alike != "same" and not item.legacy and item.name in request.prefer
        )
        for item, alike in compared:
            if alike == "same":
                # A set: each copy of a distribution installed twice lists it too.
                all_owners = tuple(sorted({*all_owners, item.name}))
                losses.keeps_rewritten(item, path)
            elif item.legacy:
                # No hash to compare, and no RECORD that --prefer could rewrite.
                problems.append(
                    Problem(
                        path,
                        f"{item.name} {item.version} (installed, an .egg-info) lists it too;"
                        f" upgrade or remove {item.name} too",
                    )
                )
            elif item.name in keepers:
                both = ", ".join(sorted(request.prefer.intersection([*entry.owners, *keepers])))
                differs = installed_difference(item, alike, entry, wheel_of)
                problems.append(Problem(path, f"{differs}; several of them are preferred ({both})"))
            elif not losses.may_lose(item, path, winner):
                if is_within(path, item.dist_info):
                    remedy = (
                        f"a file of {item.name}'s own .dist-info is never taken from it"
                        f" (--prefer {item.name} keeps its file)"
                    )
                elif item.unlisted is not None:  # never upgraded or removed either
                    remedy = (
                        f"{item.name}'s RECORD cannot be rewritten without it"
                        f" ({item.unlisted}), so --prefer {item.name} keeps its file"
                    )
                else:
                    remedy = (
                        f"upgrade or remove {item.name} too, or --prefer {entry.owners[0]},"
                        f" or --prefer {item.name} to keep its file"
                    )
                differs = installed_difference(item, alike, entry, wheel_of)
                problems.append(Problem(path, f"{differs}; {remedy}"))
        exists = path in on_disk
        if exists and os.path.isdir(os.path.join(target.prefix, path)):
            # Written once the removals empty the folder, or refused below.
            folders_to_file.append(path)
            exists = False
        elif exists and (really := real.of(path)) is not None and own.holds(really):
            # No distribution's, whatever a RECORD lists: removed never, written over never.
            problems.append(
                Problem(
                    path,
                    f"{NEEDED}; planned by {describe_owners(entry.owners, wheel_of)}, and a"
                    " plan never writes over it, whatever a RECORD lists",
                )
            )
        elif exists and path not in gone_owner_of and path not in kept_owner_of:
            problems.append(
                Problem(
                    path,
                    f"exists in the target and belongs to no distribution; planned by"
                    f" {describe_owners(entry.owners, wheel_of)}; remove or move it if"
                    " nothing needs it, then plan again",
                )
            )
        files.append(FileEntry(path, "replace" if exists else "write", all_owners, source))
    removals: dict[str, FileEntry] = {}
    # Where each path really leads: a row may name a file by another path (`lib64/` is
    # `lib/` in a venv), which must not take a file that stays or that goes already.
    settled = real.aliases([*written, *kept_owner_of]) if gone_owner_of else set()
    left_by_hand: list[str] = []  # removals no plan may name
    # The metadata of one that stays is its own, whatever a RECORD that goes lists.
    kept_metadata = {really for item in kept_copies if (really := real.of(item.dist_info))}
    theirs: dict[str, list[str]] = {}
    needed: dict[str, list[str]] = {}
    for path, owners in sorted(gone_owner_of.items()):
        if path in written or path in kept_owner_of:
            continue
        if not disk.lexists(path):
            continue
        if is_real_dir(os.path.join(target.prefix, path)):
            # A RECORD lists files: what a folder it names holds may be anyone's (a
            # damaged row naming `lib` would take the whole tree).
            continue
        really = real.of(path)
        if really is not None:
            if really in settled or really in written or really in kept_owner_of:
                continue
            if in_metadata(really, kept_metadata):
                for name in owners:
                    theirs.setdefault(name, []).append(path)
                continue
            if own.holds(really):
                for name in owners:
                    needed.setdefault(name, []).append(path)
                continue
            settled.add(really)  # removed once, by its first name
        reason = "; ".join(gone[name] for name in sorted(owners))
        reserved = path if in_journal(path) else really if really and in_journal(really) else None
        if reserved is not None:
            # A hand-made row, or a file in the metadata folder: the apply refuses any
            # plan that names it, so it can only go by hand. Reached through a symlinked
            # folder too, which the apply's check of the name alone would not see.
            through = (
                "" if reserved == path else f", reached as {reserved} through a symlinked folder,"
            )
            left_by_hand.append(path)
            problems.append(
                Problem(
                    path,
                    f"a file to remove ({reason}){through} {RESERVED_FOR_JOURNAL}, which no"
                    " plan may name; remove it by hand",
                )
            )
            continue
        removals[path] = FileEntry(
            path=path, action="remove", owners=tuple(sorted(owners)), reason=reason
        )
    warnings += [left_in_metadata(installed[name], paths) for name, paths in theirs.items()]
    warnings += [left_needed(installed[name].named, paths) for name, paths in needed.items()]
    # A loser's bytecode of a source it lost goes too, unless another kept owner lists
    # it; so does a kept owner's of a source written again (stale with the new mtime).
    for cached, names in losses.add_bytecode().items():
        still = [item for item in kept_owner_of.get(cached, ()) if item.name not in names]
        if still:
            kept_owner_of[cached] = still
        else:
            kept_owner_of.pop(cached, None)
    # Bytecode goes with its source: it is looked for only where a folder's __pycache__
    # holds anything (in a fresh environment, nowhere).
    pycache = _pycache_listings(folders.union(path.rpartition("/")[0] for path in removals), disk)
    sources = (
        sorted(path for path in (*removals, *written) if path.endswith(".py")) if pycache else []
    )
    for path in sources:
        previous = removals[path].owners if path in removals else ()
        for cached in _bytecode_of(path, pycache):
            if cached not in removals and cached not in written and cached not in kept_owner_of:
                removals[cached] = FileEntry(
                    path=cached,
                    action="remove",
                    owners=previous,
                    reason=f"bytecode of {path}, which is removed or replaced",
                )
    rewrites = losses.record_rewrites(target.prefix)
    folders.update(entry.path.rpartition("/")[0] for entry in rewrites)
    if removals or rewrites:  # the settled files are in path order already
        files += [*removals.values(), *rewrites]
        files.sort(key=lambda entry: entry.path)

    for path in folders_to_file:
        left = left_below(target.prefix, path, removals.keys())
        if left is not None:
            kept_there = "" if left == path else f"; {left} would remain in it"
            problems.append(
                Problem(
                    path, f"is a directory in the target, but a file is planned there{kept_there}"
                )
            )

    directories = sorted(_with_ancestors(folders))
    written_folders = set(directories)
    points = MountPoints(target.prefix)
    emptied = _emptied_in_rewritten(
        target.prefix,
        points,
        # A reinstall's own folder, written again under its name; not one another wheel
        # writes into (through `.data`) while its distribution goes.
        [
            dist.dist_info
            for dist in distributions
            if dist.action == "reinstall"
            and dist.name in gone
            and installed[dist.name].dist_info == dist.dist_info
        ],
        written_folders,
    )
    if removals:
        going = going_metadata(removals.keys(), written_folders)
        # A mount point stays (no rmdir takes one), and so does the folder holding it.
        mounted = points.of_folders(going)
        problems += mounts_staying(mounted)
        # A metadata folder that goes takes its empty folders along, as pip's does; one
        # that no plan can name stays, and is refused below as what would stay.
        emptied += [
            folder
            for metadata in going
            if metadata not in mounted
            for folder in empty_below(target.prefix, metadata)
            if plan_can_name(folder)
        ]
        problems += [
            Problem(
                folder,
                f"{left} would stay in this metadata folder, which would then still name a"
                " distribution that is gone; remove that by hand",
            )
            for folder, left in metadata_left(
                target.prefix, removals.keys(), written_folders, set(emptied)
            )
            # A folder that is a symlink: unlisted_metadata refused it. A file refused
            # above as one to remove by hand is said once, there.
            if left != folder
            and folder not in mounted
            and not any(is_within(path, left) for path in left_by_hand)
        ]
    problems += through_links([*settlement.files, *rewrites], directories, removals, real, wheel_of)
    for directory in sorted(written.intersection(directories)):
        problems.append(file_and_directory(directory, settlement.files, wheel_of))
    problems += [
        Problem(directory, "is a file in the target, but a directory is planned there")
        for directory in not_folders(target.prefix, directories, disk, real, removals)
    ]

    unmet, misfits = _unmet(wheels, active, kept, gone.keys(), changes.kept.keys(), target)
    if request.strict:
        # In the order the warnings would have come in.
        problems += [Problem("--strict", line) for line in in_subject_order(unmet)]
    else:
        warnings += unmet
    warnings += misfits
    if problems:
        raise Refused(problems)

    writes = [
        entry for entry in files if entry.source is not None and entry.source.kind != "record"
    ]
    return Plan(
        format=FORMAT,
        target=Target(
            interpreter=target.interpreter,
            prefix=target.prefix,
            python_version=target.python_version,
            schemes=dict(target.schemes),
            tags_fingerprint=target.tags_fingerprint,
            installed=target.installed_state,
            externally_managed=target.externally_managed is not None,
            layout=target.layout,
        ),
        distributions=tuple(sorted(distributions, key=lambda dist: dist.name)),
        files=tuple(files),
        conflicts=losses.conflicts(settlement.conflicts, settlement.files),
        directories=tuple(directories),
        units=units.partition(writes),
        owner_hashes=tuple(item for item in settlement.owner_hashes if item.path in written),
        warnings=in_subject_order(warnings),
        lock=request.lock,
        removed_directories=tuple(sorted(emptied)),
    )


__all__ = ["Request", "make_plan"]
