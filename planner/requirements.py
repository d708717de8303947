"""Is the environment consistent after the plan? Requires-Dist under the target's
markers, and each wheel's Requires-Python against the target's Python."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

# A marker that cannot be evaluated: `python_version ~= "3"` (UndefinedComparison, a
# ValueError); `extras`, a name only lock files define (UndefinedEnvironmentName).
MARKER_ERRORS = (ValueError, UndefinedEnvironmentName)


def applies(requirement: Requirement, markers: Mapping[str, str]) -> bool:
    """Whether `requirement` holds on the target, no extra asked for (an installed
    distribution's extras are not recorded). Raises one of MARKER_ERRORS."""
    return not requirement.marker or requirement.marker.evaluate({**markers, "extra": ""})


def required_names(texts: Iterable[str], markers: Mapping[str, str]) -> set[str]:
    """The names that requirements `texts` ask for on the target.

    One that cannot be parsed names nothing; one whose marker cannot be evaluated
    counts, since what it names is needed on some reading of it.
    """
    names: set[str] = set()
    for text in texts:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        try:
            if not applies(requirement, markers):
                continue
        except MARKER_ERRORS:
            pass
        names.add(canonicalize_name(requirement.name))
    return names


def unmet(
    requirements: Mapping[str, Iterable[str]],
    final_versions: Mapping[str, str],
    markers: Mapping[str, str],
    only: Collection[str] | None = None,
) -> list[str]:
    """One line per requirement of a planned distribution that the final set leaves unmet,
    said as packaging renders it (`certifi>=2017.4.17`), as pip's install does, not as
    METADATA may spell it (`certifi (>=2017.4.17)`).

    `only` limits the check to requirements on those names: an installed distribution
    the plan keeps is checked only against what the plan changes, so trouble that was
    there before the plan is not blamed on it.
    """
    lines = []
    for owner in sorted(requirements):
        for text in requirements[owner]:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                if only is None:  # else it was there before, whatever the plan changes
                    lines.append(f"{owner}: cannot parse requirement {text!r}")
                continue
            name = canonicalize_name(requirement.name)
            if only is not None and name not in only:
                continue
            try:
                if not applies(requirement, markers):
                    continue
            except MARKER_ERRORS:
                lines.append(f"{owner}: cannot evaluate the marker of requirement {text!r}")
                continue
            have = final_versions.get(name)
            if have is None:
                lines.append(f"{owner} requires {requirement}, which is not installed or planned")
                continue
            if not requirement.specifier:
                continue  # any version meets it, even one that is not a version
            try:
                ok = requirement.specifier.contains(Version(have), prereleases=True)
            except ValueError:  # InvalidVersion, or a number past int()'s 4,300 digits
                ok = False
            if not ok:
                # An .egg-link whose project is gone has no version at all.
                what = f"{have} is planned or installed" if have else "is of no known version"
                lines.append(f"{owner} requires {requirement}, but {name} {what}")
    return lines


def python_excluded(requires_python: str, python_full_version: str) -> bool:
    """Whether a (valid) Requires-Python leaves the target's Python out.

    The version is compared as its X.Y.Z release, as pip compares it, so a 3.13 release
    candidate meets ">=3.13" and a "3.11.7+" build is 3.11.7.
    """
    release = re.match(r"\d+(?:\.\d+)*", python_full_version)
    if release is None:
        return False
    try:
        python = Version(release.group())
    except ValueError:  # a number past int()'s 4,300 digits: nothing to compare either
        return False
    return not SpecifierSet(requires_python).contains(python, prereleases=True)
