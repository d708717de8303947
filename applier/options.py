"""What an apply is asked to do besides its plan: the apply options of the command line."""

from __future__ import annotations

import os

import attrs

from planner.target import Place


@attrs.frozen
class Options:
    """Both the checks before an apply (`applier.preflight`) and the apply itself read them."""

    jobs: int = os.cpu_count() or 1
    compile_bytecode: bool = False
    fsync: bool = False
    root: str | None = None
    wheel_dir: str | None = None
    # The unpacked-wheel cache (applier/cache.py); None: no cache, no wheel index.
    cache_dir: str | None = None
    link_mode: str = "auto"
    # `apply --target DIR` or `--prefix DIR`: the folder a plan for a folder must name.
    place: Place | None = None
    # Run the plan's interpreter and check it reports the plan's prefix, scheme paths
    # and tags. Off for `install`, whose plan was made from that very answer, and for
    # tests that describe a target by hand.
    confirm_target: bool = True
