"""Making a plan from what the user gave: probe the target, read or fetch the wheels, plan.

Orchestration only; every decision is the planner's. It overlaps the target's probe
(another process) with reading the wheels, and for a lock file it fetches and checks
every wheel against the lock before the planner sees it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import TYPE_CHECKING

import attrs

from planner.build import Request, make_plan
from planner.digests import ForkedDigests
from planner.errors import Refused
from planner.externallymanaged import check_externally_managed
from planner.inputs import expand_inputs
from planner.place import Place
from planner.plan import Plan
from planner.target import BackgroundProbe, probe
from planner.wheelreader import read_wheels
from planner.wheels import ManifestCache, Wheel

if TYPE_CHECKING:
    from wheelplan.fetch import Progress


def plan_wheels(
    request: Request, probing: BackgroundProbe, manifests: ManifestCache | None = None
) -> Plan:
    """Read the wheels while the target's interpreter answers `probing`, then plan.

    Waiting for the probe idle would cost its whole start-up time. Errors keep their
    order: a probe failure first, then the planner's own checks (which read the wheels
    again only when reading them failed here, so every problem is reported). Wheels
    the index and `manifests` know are not read again (see read_wheels).
    """
    try:
        paths = expand_inputs(request.wheels)
    except Refused:
        paths = []  # the planner reports it, after any probe failure
    # A forked child hashes the wheels meanwhile (the probe is a process, not a thread).
    hashing = ForkedDigests(paths, request.digests)
    try:
        read: tuple[Wheel, ...] | None = (
            tuple(read_wheels(paths, request.limits, hashing, manifests)) if paths else None
        )
    except Refused:
        read = None
    finally:
        hashing.close()
    target = probing.result()
    return make_plan(attrs.evolve(request, read=read), target)


@attrs.frozen
class LockPlan:
    """A lock's plan, and how many of its wheels this run fetched (downloaded or copied
    into the folder), which a dry run says: the rest were there already."""

    plan: Plan
    fetched_now: int


def plan_lock(
    request: Request,
    python: str | None,
    place: Place | None,
    lock: str,
    extras: Collection[str],
    groups: Collection[str] | None,
    wheel_dir: str | None,
    progress: Progress | None = None,
    cache_dir: str | None = None,
    manifests: ManifestCache | None = None,
    timeout: float | None = None,
) -> LockPlan:
    """Select from the lock for the target, fetch and check every wheel (each try of a
    download waiting `timeout` seconds for a byte, default fetch's), then plan them."""
    # Only lock installs need the TOML reader and the fetcher: keep them off start-up.
    from planner import lockfile
    from wheelplan import fetch

    target = probe(python, place=place)
    check_externally_managed(target, request.break_system_packages)  # before any download
    selection = lockfile.read(lock, target.markers, target.tags, extras, groups)
    fetched = fetch.fetch(
        selection.wheels, wheel_dir, cache_dir=cache_dir, progress=progress, timeout=timeout
    )
    request = attrs.evolve(
        request,
        wheels=tuple(item.path for item in fetched),
        direct_url=False,
        lock=selection.lock,
    )
    read: tuple[Wheel, ...] | None = None
    if manifests is not None:
        # Read here to use and fill the manifests; on a refusal the planner reads again.
        with contextlib.suppress(Refused):
            read = tuple(read_wheels(request.wheels, request.limits, request.digests, manifests))
    plan = make_plan(attrs.evolve(request, read=read), target)
    fetch.confirm(plan, fetched)
    if selection.warnings:
        plan = attrs.evolve(plan, warnings=(*selection.warnings, *plan.warnings))
    return LockPlan(plan, sum(item.stored_now for item in fetched))
