"""Re-validate a loaded plan as if a stranger wrote it.

The schema check in `planner.planjson.loads` proves the types; this proves the plan is
safe to execute: every path stays inside the environment, the work units partition
the writes exactly, and every source is complete.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection

from applier.conflicts import conflict_problems
from applier.keptrecords import rewrites_kept_record
from applier.projectnames import canonical_name, project_of
from planner.errors import Problem, Refused
from planner.hashing import ACCEPTED_HASHES, canonical_hash, record_hash
from planner.journalnames import RESERVED_FOR_JOURNAL, in_journal
from planner.limits import MAX_FILE_OFFSET
from planner.paths import has_control, parents, path_problem, printable
from planner.plan import INSTALLING, Distribution, FileEntry, Plan, Target
from planner.target import (
    DIRECTORY_SCHEMES,
    above_schemes,
    interpreter_problem,
    prefix_problem,
)

SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def validate(plan: Plan, subject: str) -> None:
    problems: list[Problem] = []

    def bad(message: str) -> None:
        problems.append(Problem(subject, message))

    target = plan.target
    for problem in (prefix_problem(target.prefix), interpreter_problem(target.interpreter)):
        if problem is not None:
            bad(problem)
    if sorted(target.schemes) != sorted(SCHEMES):
        bad(f"target schemes must be exactly {list(SCHEMES)}")
    elif target.layout == "directory" and dict(target.schemes) != DIRECTORY_SCHEMES:
        # No interpreter vouches for a folder's layout: it must be the one --target makes.
        bad(f"a target directory's schemes must be {dict(DIRECTORY_SCHEMES)}")
    for name, root in target.schemes.items():
        if root and (problem := path_problem(root)):
            bad(f"scheme {name} {root!r} {problem}")
    sites = {target.schemes.get("purelib"), target.schemes.get("platlib")}
    _check_installed(target, sites, bad)
    roots = [root for root in target.schemes.values()]
    # Only the wheels of distributions being installed are read: an unchanged or
    # removed one's wheel is no source.
    wheels = {dist.wheel for dist in plan.distributions if dist.wheel and dist.action in INSTALLING}
    names = Counter(dist.name for dist in plan.distributions)
    for name in sorted(name for name, count in names.items() if count > 1):
        bad(f"distribution {name} is listed {names[name]} times")
    installing = {dist.name: dist for dist in plan.distributions if dist.action in INSTALLING}
    # One file has one sha256 and size; only an installed distribution's are checked
    # against it, so another naming the file must agree (the cache picks by sha256).
    claims: dict[str, list[tuple[str | None, int | None]]] = {}
    for dist in plan.distributions:
        if dist.wheel is not None:
            claims.setdefault(dist.wheel, []).append((dist.wheel_sha256, dist.wheel_size))
    for wheel, facts in sorted(claims.items()):
        if len(set(facts)) > 1:
            bad(
                f"wheel {wheel!r} is named by {len(facts)} distributions"
                " with different sha256s or sizes"
            )
    held = {item.dist_info for item in target.installed}
    for dist in plan.distributions:
        if dist.action in INSTALLING and not (dist.wheel and dist.wheel_sha256):
            bad(f"distribution {dist.name} has no wheel to install from")
        # The review names each one by its display name, and says what it does to it.
        if dist.display_name != dist.name and canonical_name(dist.display_name) != dist.name:
            bad(
                f"distribution {dist.name}: display name {dist.display_name!r} is not a"
                " spelling of its name"
            )
        if dist.action in INSTALLING and not _own_metadata_folder(dist, sites):
            # Its RECORD goes there: in another's folder it would take the other's place.
            bad(
                f"distribution {dist.name}: metadata folder {dist.dist_info!r} is not its own"
                f" ({dist.name.replace('-', '_')}-{dist.version}.dist-info in the target's"
                " purelib or platlib folder)"
            )
        elif dist.action == "install" and dist.dist_info in held:
            bad(
                f"distribution {dist.name}: the target holds its metadata folder"
                f" {dist.dist_info!r} already, which a plan writes again only in a reinstall"
            )
        if dist.wheel_path is not None and has_control(dist.wheel_path):
            bad(f"distribution {dist.name}: wheel path {dist.wheel_path!r} has a control character")
        if dist.wheel is not None and ("/" in dist.wheel or path_problem(dist.wheel)):
            bad(f"distribution {dist.name}: wheel {dist.wheel!r} is not a plain file name")

    # `is_within(path, root)` for every root, as one test (this runs for 19,000 paths).
    anywhere = "" in roots
    exact = frozenset(roots)
    below = tuple(f"{root}/" for root in roots if root)

    def check_path(path: str, what: str, also: frozenset[str] = frozenset()) -> bool:
        problem = path_problem(path)
        if problem:
            bad(f"{what} {path!r} {problem}")
            return False
        inside = anywhere or path in exact or path.startswith(below) or path in also
        if not inside:
            bad(f"{what} {path!r} is outside the environment's scheme directories")
            return False
        if in_journal(path):
            bad(f"{what} {path!r} {RESERVED_FOR_JOURNAL}")
            return False
        return True

    paths = [entry.path for entry in plan.files]
    if len(set(paths)) != len(paths):  # counted only when something is doubled
        for path, count in Counter(paths).items():
            if count > 1:
                bad(f"destination {path!r} appears {count} times")
    writes: set[str] = set()
    # The file lists (RECORD, installed-files.txt) the plan removes: whose they are.
    lists_removed: list[str] = []
    # The RECORDs it writes again other than from a wheel: kept ones', inline.
    records_rewritten: list[FileEntry] = []
    refused: set[str] = set()  # reported once here, not again as a partition mismatch
    records: dict[str, list[str]] = {}
    # Wheel -> the destinations that name it, where no distribution installs from it.
    from_elsewhere: dict[str, list[str]] = {}
    for entry in plan.files:
        if not check_path(entry.path, "removal of" if entry.action == "remove" else "destination"):
            refused.add(entry.path)
            continue
        if len(entry.owners) > 1 and len(set(entry.owners)) != len(entry.owners):
            bad(f"destination {entry.path!r} names an owner more than once")
        source = entry.source
        if entry.action == "remove":
            if source is not None:
                bad(f"removal of {entry.path!r} has a source")
            if entry.path.rpartition("/")[2] in _FILE_LISTS:
                lists_removed.append(entry.path)
            continue
        if source is None:
            bad(f"destination {entry.path!r} has no source")
            continue
        if source.mode not in (0o644, 0o755):
            bad(
                f"destination {entry.path!r} has mode {oct(source.mode)}"
                " (only 0o644 and 0o755 are written)"
            )
        if source.kind == "member":
            algorithm, _, value = source.hash.partition("=")
            if algorithm not in ACCEPTED_HASHES or not value:
                bad(
                    f"destination {entry.path!r}: hash {algorithm!r} is not accepted"
                    " (sha256 or stronger required)"
                )
            if source.wheel is None or source.member is None or source.offset is None:
                bad(f"destination {entry.path!r} names no wheel member")
            elif source.wheel not in wheels:
                from_elsewhere.setdefault(source.wheel, []).append(entry.path)
            elif source.compression not in (0, 8) or source.compressed_size is None:
                bad(f"destination {entry.path!r} has an unsupported compression")
            elif not (
                0 <= source.size <= MAX_FILE_OFFSET
                and 0 <= source.offset <= MAX_FILE_OFFSET
                and 0 <= source.compressed_size <= MAX_FILE_OFFSET
            ):
                bad(f"destination {entry.path!r} has a size or offset no file can have")
        elif (source.wheel, source.member, source.offset) != (None, None, None):
            # The workers read any wheel a source names, whatever its kind.
            bad(f"destination {entry.path!r}: its {source.kind} source names a wheel member")
        elif source.kind == "inline" and (
            source.content is None
            or record_hash(content := source.content.encode()) != source.hash
            or len(content) != source.size
        ):
            bad(f"destination {entry.path!r}: inline content does not match its hash or size")
        if rewrites_kept_record(entry, held):
            records_rewritten.append(entry)
        if source.kind == "record":
            for owner in entry.owners:
                records.setdefault(owner, []).append(entry.path)
            # The apply writes only these: any other would be moved aside, or left
            # missing, with nothing written in its place.
            if not any(
                entry.path == f"{installing[owner].dist_info}/RECORD"
                for owner in entry.owners
                if owner in installing
            ):
                bad(
                    f"destination {entry.path!r}: its record source is the RECORD of no"
                    " distribution the plan installs"
                )
        else:
            writes.add(entry.path)
    for wheel, named_by in sorted(from_elsewhere.items()):
        named = f"destination {named_by[0]!r}"
        named += f" and {len(named_by) - 1} more come" if len(named_by) > 1 else " comes"
        bad(f"{named} from wheel {wheel!r}, but this plan installs no distribution from it")
    for dist in plan.distributions:
        if dist.action in INSTALLING and records.get(dist.name) != [f"{dist.dist_info}/RECORD"]:
            bad(
                f"distribution {dist.name} has no RECORD entry at {dist.dist_info + '/RECORD'!r}"
                " (or more than one)"
            )
    _check_owner_hashes(plan, set(installing), bad)
    _check_going_distributions(plan, lists_removed, bad)
    _check_kept_records(records_rewritten, bad)
    for problem in conflict_problems(plan):
        bad(problem)
    # A folder above a scheme folder is one the planner lists among those to make.
    above = frozenset(above_schemes(target.schemes))
    for directory in plan.directories:
        check_path(directory, "directory", above)
    _check_removed_directories(plan, check_path, bad)
    in_units = [path for unit in plan.units for path in unit.paths if path not in refused]
    unit_paths = set(in_units)
    if len(unit_paths) != len(in_units):
        doubled = sorted(path for path, count in Counter(in_units).items() if count > 1)
        bad(f"work units overlap at {doubled[0]!r}")
    if unit_paths != writes:
        missing = sorted(writes - unit_paths) or sorted(unit_paths - writes)
        bad(f"work units do not partition the planned writes (first difference: {missing[0]!r})")
    if problems:
        raise Refused(problems)


def _own_metadata_folder(dist: Distribution, sites: Collection[str | None]) -> bool:
    """Whether `dist`'s `.dist-info` is named for its name and version, in a site folder."""
    site, _, folder = dist.dist_info.rpartition("/")
    if site not in sites or not folder.endswith(".dist-info"):
        return False
    if folder == f"{dist.name.replace('-', '_')}-{dist.version}.dist-info":
        return True  # as nearly every wheel names it
    # Spelled otherwise (`PyYAML-6.0.1`): compared as the planner compares it, which
    # needs packaging, which an apply imports no sooner.
    from planner.releases import names_release

    return names_release(folder, dist.name, dist.version)


def _check_installed(
    target: Target, sites: Collection[str | None], bad: Callable[[str], None]
) -> None:
    """Each metadata folder the plan says the target held is one a scan may find (in the
    purelib or platlib folder, its name escaped as a scan escapes it), given once, in
    order, with a whole sha256: a stale plan's refusal names them, so none may hold a
    line break, and none can match one that no scan finds."""
    previous: str | None = None
    for item in target.installed:
        where = f"installed folder {item.dist_info!r}"
        if printable(item.dist_info) != item.dist_info:
            bad(f"{where} holds a character a scan records escaped")
        elif item.dist_info.rpartition("/")[0] not in sites or not item.dist_info.endswith(
            (".dist-info", ".egg-info", ".egg-link")
        ):
            bad(
                f"{where} is not a .dist-info, .egg-info or .egg-link in the target's purelib"
                " or platlib folder"
            )
        if previous is not None and item.dist_info <= previous:
            bad(f"installed folders are not sorted, or one is listed twice (at {item.dist_info!r})")
        previous = item.dist_info
        if not _SHA256_HEX.fullmatch(item.listing_sha256):
            bad(f"{where}: listing_sha256 {item.listing_sha256!r} is not 64 lowercase hex digits")


# The file lists whose removal takes an installed distribution with them: the preflight
# lets a plan remove every file that only going distributions list.
_FILE_LISTS = ("RECORD", "installed-files.txt")
# The actions by which a distribution installed before the plan goes.
_REPLACING = frozenset({"remove", "upgrade", "downgrade", "reinstall"})


def _check_going_distributions(
    plan: Plan, lists_removed: Collection[str], bad: Callable[[str], None]
) -> None:
    """A plan removes an installed distribution's file list only for a distribution it
    says it removes or replaces: the review names those, and shows only a count of the
    files removed, so an edit that takes another one whole would go unseen."""
    if not lists_removed:
        return
    installed = {item.dist_info for item in plan.target.installed}
    going = {dist.name for dist in plan.distributions if dist.action in _REPLACING}
    for path in lists_removed:
        folder = path.rpartition("/")[0]
        if folder in installed and (name := project_of(folder)) not in going:
            bad(
                f"removal of {path!r} takes {name} with it, which the plan does not"
                " list among the distributions it removes or replaces"
            )


def _check_kept_records(rewritten: Collection[FileEntry], bad: Callable[[str], None]) -> None:
    """A RECORD the plan writes again in an installed metadata folder, other than from
    a wheel (a `--prefer` loser's, inline: `rewritten`), names that folder's
    distribution as its one owner: the review names the distributions whose RECORD is
    rewritten by that owner, and the apply lets a plan write other bytes over the files
    of those alone (`applier.keptfiles`)."""
    for entry in rewritten:
        folder = entry.path.rpartition("/")[0]
        if list(entry.owners) != [name := project_of(folder)]:
            bad(
                f"destination {entry.path!r} rewrites the RECORD of {name}, which the plan"
                f" keeps, for owners {list(entry.owners)}: the review names it by its one"
                f" owner, which must be {name}"
            )


def _check_removed_directories(
    plan: Plan, check_path: Callable[[str, str], bool], bad: Callable[[str], None]
) -> None:
    """A plan removes an empty folder only inside a `.dist-info` whose RECORD it removes
    (one that goes whole, with its distribution) or replaces with one the apply writes
    (the same folder a reinstall writes again). The preflight checks that the folder is
    still there, and holds nothing now."""
    if not plan.removed_directories:
        return
    # A RECORD the apply writes over one there now is a reinstall's, in the folder it
    # writes again (another version's folder is new; a --prefer loser's is inline).
    metadata = {
        entry.path.removesuffix("/RECORD")
        for entry in plan.files
        if entry.path.endswith(".dist-info/RECORD")
        and (
            entry.action == "remove"
            or (
                entry.action == "replace"
                and entry.source is not None
                and entry.source.kind == "record"
            )
        )
    }
    for directory in plan.removed_directories:
        if check_path(directory, "removed directory") and not metadata.intersection(
            parents(directory)
        ):
            bad(
                f"removed directory {directory!r} is in no metadata folder that the plan"
                " removes whole or writes again from its wheel"
            )


def _check_owner_hashes(
    plan: Plan, installing: Collection[str], bad: Callable[[str], None]
) -> None:
    """Each owner hash names a file the plan writes, one of its owners whose RECORD the
    apply writes, once, and a whole digest by an accepted algorithm in RECORD's
    spelling. Whether the bytes have it is checked when they are read
    (`applier.ownerhashes`)."""
    if not plan.owner_hashes:
        return
    files = {entry.path: entry for entry in plan.files}
    seen: set[tuple[str, str]] = set()
    for item in plan.owner_hashes:
        where = f"owner hash of {item.path!r} for {item.owner}"
        entry = files.get(item.path)
        if entry is None or entry.source is None or entry.source.kind == "record":
            bad(f"{where}: the plan writes no such file")
        elif item.owner not in entry.owners or item.owner not in installing:
            bad(f"{where}: {item.owner} is not an owner of it that the plan installs")
        if (item.path, item.owner) in seen:
            bad(f"{where}: given twice")
        seen.add((item.path, item.owner))
        if (
            item.hash.partition("=")[0] not in ACCEPTED_HASHES
            or canonical_hash(item.hash) != item.hash
        ):
            bad(
                f"{where}: {item.hash!r} is not a whole digest by an accepted algorithm"
                " (sha256 or stronger) in RECORD's spelling"
            )
