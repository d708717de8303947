"""Why a wheel fits none of the target's tags, part by part.

pip says only that a wheel "is not a supported wheel on this platform"; uv names the
part of the tag that matches nothing (Python, ABI or platform) with one the target
takes. Which part it is says what to fetch instead: a build for another Python, an
ABI the interpreter has (not a debug or free-threaded one), or another platform.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.tags import Tag, parse_tag
from packaging.utils import parse_wheel_filename

# Enough of what the target takes to show its kind (the best first), short enough for
# one line: a CPython takes some 25 Python tags and 40 platform tags.
SHOWN = 3

_PARTS = (("Python", "interpreter"), ("ABI", "abi"), ("platform", "platform"))


def target_tags(supported: Sequence[str]) -> list[Tag]:
    """The target's tags (`interpreter-abi-platform` text, as its probe gives them) as
    packaging's `Tag`s, in its order of preference."""
    return [tag for text in supported for tag in parse_tag(text)]


def misfit(filename: str, supported: Sequence[str]) -> str:
    """Why no tag of the wheel `filename` is one of `supported`, the target's tags in
    its order of preference: each part of the wheel's tags that none of the target's
    has, with the best ones it has instead; else (each part fits, but never all three
    in one tag) the best tags the target takes."""
    wheel = parse_wheel_filename(filename)[3]
    target = target_tags(supported)
    if not target:
        return "it takes no tag at all"
    reasons = []
    for label, part in _PARTS:
        taken = list(dict.fromkeys(getattr(tag, part) for tag in target))
        given = sorted({getattr(tag, part) for tag in wheel})
        if not set(given) & set(taken):
            reasons.append(f"it takes no {label} tag {' or '.join(given)} (but {_some(taken)})")
    if reasons:
        return "; ".join(reasons)
    return f"it takes each part of its tags, but never all in one tag (it takes {_some(target)})"


def _some(values: Sequence[str | Tag]) -> str:
    """The first SHOWN of `values`, and how many more there are."""
    shown = ", ".join(str(value) for value in values[:SHOWN])
    return f"{shown} and {len(values) - SHOWN} more" if len(values) > SHOWN else shown
