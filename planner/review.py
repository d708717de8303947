"""The human review of a plan: what will change, every overlap, every warning.

Short enough for one screen on a handful of wheels; long lists are cut to a count,
saying where they are whole (the caller knows: the plan file, or `--json`), and never
cut a warning about what the user overrode. Every line is `printable`: a name, warning
or path from a wheel or a hand-edited plan cannot break a line, or send the terminal
a control sequence, and so cannot forge lines of the review.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from planner.paths import parents, printable
from planner.place import place_of
from planner.plan import INSTALLING, Distribution, Plan, overridden

LIST_LIMIT = 10
_KIND_NOTE = {
    "identical": "(written once, listed in every owner's RECORD)",
    "different": "(only the winner's RECORD lists the file)",
}


def human_size(count: int) -> str:
    """Bytes in decimal units, as pip and uv print them."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _limited(lines: list[str], what: str, whole: str, limit: int = LIST_LIMIT) -> list[str]:
    """The first of `lines`, and a count of the others of `what` (one, as "warning")."""
    limit = max(limit, 0)
    if len(lines) <= limit:
        return lines
    return [
        *lines[:limit],
        f"  ... and {plural(len(lines) - limit, 'more ' + what)} ({whole})",
    ]


def _resolution(resolution: str, names: dict[str, str]) -> str:
    """The JSON's `prefer:NAME` in words; `shared` stays as it is."""
    winner = resolution.removeprefix("prefer:")
    if winner == resolution:
        return resolution
    return f"{names.get(winner, winner)} wins (--prefer)"


def _swaps(plan: Plan) -> list[str]:
    """Paths an upgrade turns from a file into a folder, or from a folder into a file."""
    removed = {entry.path for entry in plan.files if entry.action == "remove"}
    emptied = {parent for path in removed for parent in parents(path)}
    written = {entry.path for entry in plan.files if entry.action != "remove"}
    swapped = [(path, "a file becomes a folder") for path in removed.intersection(plan.directories)]
    swapped += [(path, "a folder becomes a file") for path in written & emptied]
    return [f"  {path}: {change}" for path, change in sorted(swapped)]


def _change(dist: Distribution) -> str:
    version = dist.version
    if dist.previous_version and dist.previous_version != dist.version:
        version = f"{dist.previous_version} -> {dist.version}"
    return f"  {dist.action:<10} {dist.display_name} {version}"


def changes(plan: Plan) -> list[str]:
    """What an applied plan changed, one line per distribution, as the review names it
    (pip and uv list what they installed; `install` prints no review)."""
    return [printable(_change(dist)) for dist in plan.distributions if dist.action != "unchanged"]


def render(plan: Plan, *, whole: str) -> str:
    """The review of `plan`; `whole` says where a cut list is given whole ("see FILE")."""
    target = plan.target
    names = {dist.name: dist.display_name for dist in plan.distributions}
    owners_of = {entry.path: entry.owners for entry in plan.files}
    writing = {dist.name for dist in plan.distributions if dist.action in INSTALLING}
    lost_to: dict[str, Counter[str]] = defaultdict(Counter)
    for conflict in plan.conflicts:
        winner = conflict.resolution.removeprefix("prefer:")
        if winner != conflict.resolution:
            # A file the plan does not write stays with its installed owners (--prefer OLD).
            keep = owners_of.get(conflict.path) or set(conflict.owners) - writing
            for owner in set(conflict.owners) - set(keep):
                lost_to[owner][winner] += 1
    files_of: Counter[str] = Counter()
    bytes_of: Counter[str] = Counter()
    removed_of: Counter[str] = Counter()
    for entry in plan.files:
        for owner in entry.owners:
            if entry.action == "remove":
                removed_of[owner] += 1
            else:
                files_of[owner] += 1
                bytes_of[owner] += entry.source.size if entry.source else 0
    place = place_of(target.layout, target.prefix)
    where = target.prefix if place is None else place.described
    lines = [f"Plan for {where} (Python {target.python_version}, {target.interpreter})"]
    if plan.lock is not None:
        lines.append(f"From lock file {plan.lock.path} (sha256 {plan.lock.sha256[:16]}...)")
    if target.externally_managed:
        lines.append(
            "Another package manager owns this Python (PEP 668): planned for it anyway,"
            " as --break-system-packages (or install's staging --root) asks"
        )
    if plan.distributions:  # a removal of what is not installed plans none
        lines.append("")
    for dist in plan.distributions:
        if dist.action == "remove":
            detail = f"{removed_of[dist.name]} files removed"
        elif dist.action == "unchanged":
            detail = "already installed"
        else:
            detail = f"{files_of[dist.name]} files, {human_size(bytes_of[dist.name])}"
            for winner, count in sorted(lost_to[dist.name].items()):
                detail += f"; {plural(count, 'file')} lost to {names.get(winner, winner)}"
        lines.append(f"{_change(dist)}  ({detail})")
    actions = Counter(entry.action for entry in plan.files)
    emptied = len(plan.removed_directories)
    lines += [
        "",
        f"Files: {actions['write']} new, {actions['replace']} replaced,"
        f" {actions['remove']} removed"
        + (f" (and {plural(emptied, 'empty folder')})" if emptied else "")
        + f"; {plural(len(plan.units), 'work unit')};"
        f" {plural(len(plan.directories), 'directory', 'directories')}",
    ]
    if plan.conflicts:
        kinds: dict[str, list[str]] = defaultdict(list)
        for conflict in plan.conflicts:
            owners = ", ".join(
                names.get(owner, owner) + ("" if owner in writing else " (installed)")
                for owner in conflict.owners
            )
            kinds[conflict.kind].append(
                f"  {conflict.path}: {owners} -> {_resolution(conflict.resolution, names)}"
            )
        lines += ["", f"Overlaps: {len(plan.conflicts)}"]
        for kind in sorted(kinds):
            lines += [
                f" {kind} content {_KIND_NOTE[kind]}:",
                *_limited(kinds[kind], "overlap", whole),
            ]
    # A kept distribution's RECORD the plan rewrites: it lost files to --prefer, or
    # gives up its rows for the bytecode of a source the plan writes again.
    kept_records = {
        entry.owners[0]
        for entry in plan.files
        if entry.action == "replace"
        and entry.path.endswith("/RECORD")
        and len(entry.owners) == 1
        and entry.owners[0] not in writing
    }
    losers = [
        f"  {names.get(owner, owner)}: "
        + (
            ", ".join(
                f"{plural(count, 'file')} lost to {names.get(winner, winner)}"
                for winner, count in sorted(lost_to[owner].items())
            )
            or "the bytecode of a source written again"
        )
        for owner in sorted(kept_records | (set(lost_to) - writing))
    ]
    if losers:
        lines += ["", "Installed distributions whose RECORD is rewritten without what they lose:"]
        lines += _limited(losers, "distribution", whole)
    removed = [(entry.path, entry.reason) for entry in plan.files if entry.action == "remove"]
    reinstalled = {dist.dist_info for dist in plan.distributions if dist.action == "reinstall"}
    removed += [
        (
            f"{folder}/",
            "an empty folder in the old metadata folder of a reinstall"
            if reinstalled.intersection(parents(folder))
            else "an empty folder in the metadata folder that goes",
        )
        for folder in plan.removed_directories
    ]
    removals = [f"  {path}: {reason}" for path, reason in sorted(removed, key=lambda r: r[0])]
    if removals:
        lines += ["", "Removals:", *_limited(removals, "removal", whole)]
    swaps = _swaps(plan)
    if swaps:
        lines += ["", "Swapped (the removals make room first):", *_limited(swaps, "swap", whole)]
    if plan.warnings:
        # What the user overrode comes first and whole; the others fill the rest.
        kept = [f"  {w}" for w in plan.warnings if overridden(w)]
        others = [f"  {w}" for w in plan.warnings if not overridden(w)]
        room = LIST_LIMIT - len(kept)
        lines += ["", "Warnings:", *kept, *_limited(others, "warning", whole, room)]
    return "".join(printable(line) + "\n" for line in lines)
