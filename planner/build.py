"""The planner's driver: wheels and a target in, one immutable Plan out.

Nothing here writes; every check that can be made before the first byte is
written is made from here (most by the modules it asks, one concern each), and
every problem is reported together.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence

import attrs

from planner import actions, requirements, units
from planner.asinstalled import (
    keeps_alike,
    sha256_of,
)
from planner.disowning import Losses
from planner.errors import Problem, Refused, in_subject_order
from planner.externallymanaged import check_externally_managed
from planner.folders import plan_folders
from planner.inputs import best_builds, expand_inputs
from planner.installed import (
    Installed,
    left_in_metadata,
)
from planner.journalnames import JOURNAL_DIR
from planner.landing import Ground, land
from planner.layout import claims_for
from planner.limits import Limits
from planner.listing import (
    Listing,
    RealPaths,
)
from planner.overlaps import settle
from planner.ownfiles import OwnFiles, left_needed
from planner.place import recover_command
from planner.plan import (
    FORMAT,
    FileEntry,
    LockSource,
    Plan,
    Target,
)
from planner.removals import gone_files, plan_removals, stale_bytecode
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

    gone_away = gone_files(target.installed, gone, target.prefix)
    problems += gone_away.problems
    warnings += gone_away.warnings

    written = frozenset(entry.path for entry in settlement.files)
    folders = frozenset(path.rpartition("/")[0] for path in written)  # "" is the prefix
    ground = Ground(
        target=target,
        disk=disk,
        written=written,
        folders=folders,
        on_disk=disk.existing(written, folders),
        kept_owner_of=kept_owner_of,
        gone_owner_of=gone_away.owner_of,
        real=RealPaths(target.prefix),
        # The environment's own files, which it needs, whatever a RECORD says.
        own=OwnFiles.of(target.prefix, target.interpreter, target.schemes),
    )
    landed = land(settlement.files, ground, request.prefer, wheel_named, wheel_of, losses)
    files = list(landed.files)
    problems += landed.problems
    removed = plan_removals(ground, gone, kept_copies)
    problems += removed.problems
    warnings += [left_in_metadata(installed[name], left) for name, left in removed.theirs.items()]
    warnings += [left_needed(installed[name].named, left) for name, left in removed.needed.items()]
    # A loser's bytecode of a source it lost goes too, unless another kept owner lists
    # it; so does a kept owner's of a source written again (stale with the new mtime).
    bytecode = stale_bytecode(removed.files, ground, losses.add_bytecode())
    removals = {**removed.files, **{entry.path: entry for entry in bytecode}}
    rewrites = losses.record_rewrites(target.prefix)
    if removals or rewrites:  # the settled files are in path order already
        files += [*removals.values(), *rewrites]
        files.sort(key=lambda entry: entry.path)

    folder_plan = plan_folders(
        ground,
        settlement.files,
        rewrites,
        removals,
        landed.onto_folders,
        # A reinstall's own folder, written again under its name; not one another wheel
        # writes into (through `.data`) while its distribution goes.
        [
            dist.dist_info
            for dist in distributions
            if dist.action == "reinstall"
            and dist.name in gone
            and installed[dist.name].dist_info == dist.dist_info
        ],
        removed.by_hand,
        wheel_of,
    )
    problems += folder_plan.problems

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
        directories=folder_plan.directories,
        units=units.partition(writes),
        owner_hashes=tuple(item for item in settlement.owner_hashes if item.path in written),
        warnings=in_subject_order(warnings),
        lock=request.lock,
        removed_directories=folder_plan.emptied,
    )


__all__ = ["Request", "make_plan"]
