"""What a plan does to each distribution: install, upgrade, downgrade, reinstall,
leave unchanged or remove.

Settled from the wheels' versions against what is installed, and from the removals
and `--sync` asked for, before any file is looked at: the driver in `build.py` then
plans the files of those that change.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from planner.asinstalled import unchanged
from planner.errors import Problem
from planner.installed import Installed, installed_twice
from planner.layout import dist_info_path
from planner.plan import Distribution
from planner.synckeeps import sync_kept
from planner.target import TargetInfo
from planner.wheels import Wheel


def _action(wheel: Wheel, old: Installed | None) -> str:
    from packaging.version import Version

    if old is None:
        return "install"
    try:
        newer = Version(wheel.version) > Version(old.version)
        same = Version(wheel.version) == Version(old.version)
    except ValueError:  # InvalidVersion, or a number past int()'s 4,300 digits
        newer, same = True, False
    if same:
        return "reinstall"
    return "upgrade" if newer else "downgrade"


@attrs.frozen
class Changes:
    """What a plan does to each distribution, settled before any file is looked at."""

    distributions: list[Distribution]
    # The wheels whose files are written (an unchanged reinstall writes none).
    active: list[Wheel]
    # Installed name -> why its files may go (replaced, reinstalled or removed).
    gone: dict[str, str]
    problems: list[Problem]
    # What --sync kept though not given: name -> the line saying why.
    kept: dict[str, str]


def changes(
    wheels: Sequence[Wheel],
    target: TargetInfo,
    remove: frozenset[str],
    *,
    sync: bool,
    reinstall: bool,
) -> Changes:
    """Each wheel's action against what is installed, and the removals asked for."""
    installed = {item.name: item for item in target.installed}
    planned_names = {wheel.name for wheel in wheels}
    gone: dict[str, str] = {}
    distributions: list[Distribution] = []
    active: list[Wheel] = []
    problems: list[Problem] = []
    every_listed: set[str] = set()

    def listed_elsewhere(path: str) -> bool:
        """Whether an installed distribution lists `path` (gathered on first asking)."""
        if not every_listed:
            every_listed.update(path for item in target.installed for path in item.files)
        return path in every_listed

    for wheel in wheels:
        old = installed.get(wheel.name)
        if old is not None and old.unlisted is not None:
            # Replacing it would leave its files, and its metadata beside the new one's:
            # two versions would claim the name (see README, "Planning against what is
            # installed").
            problems.append(
                Problem(
                    old.dist_info,
                    f"cannot replace {old.named} with {wheel.filename}:"
                    f" {old.unlisted}, so which files are its own is unknown (remove it first)",
                )
            )
        action = _action(wheel, old)
        if (
            old is not None
            and action == "reinstall"
            and not reinstall
            and unchanged(wheel, old, target, listed_elsewhere)
        ):
            action = "unchanged"
        else:
            active.append(wheel)
            if old is not None:
                gone[old.name] = (
                    f"{old.named} is reinstalled"
                    if action == "reinstall"
                    else f"{old.named} is replaced by {wheel.version}"
                )
        distributions.append(
            Distribution(
                name=wheel.name,
                display_name=wheel.display_name,
                version=wheel.version,
                action=action,  # type: ignore[arg-type]
                dist_info=dist_info_path(wheel, target.schemes),
                previous_version=old.version if old else None,
                wheel=wheel.filename,
                wheel_path=wheel.path,
                wheel_sha256=wheel.sha256,
                wheel_size=wheel.size,
                requested=True,
            )
        )
    removing = set(remove).intersection(installed)
    kept: dict[str, str] = {}
    if sync:
        kept = sync_kept(installed, planned_names, remove, target.markers)
        removing |= set(installed) - planned_names - kept.keys()
    problems += installed_twice(target.installed, planned_names | removing)
    for name in sorted(removing):
        old = installed[name]
        if old.unlisted is not None:
            problems.append(Problem(old.dist_info, f"cannot remove: {old.unlisted}"))
            continue
        gone[name] = f"{old.named} is removed" + (" (--sync)" if name not in remove else "")
        distributions.append(
            Distribution(
                name=name,
                display_name=old.display_name,
                version=old.version,
                action="remove",
                dist_info=old.dist_info,
            )
        )
    return Changes(distributions, active, gone, problems, kept)
