"""What a review ends with: where its cut lists can be read whole, and what a dry run
did. Each names a command to run next, in another shell, so it names the target as the
plan has it rather than as this shell's environment would."""

from __future__ import annotations

import argparse
import os
import shlex

from planner.paths import printable
from planner.place import target_options
from planner.plan import Plan
from planner.review import plural
from wheelplan.arguments import plan_options


def whole_lists(plan: Plan, args: argparse.Namespace, on_stdout: bool) -> str:
    """Where the review's cut lists are whole: the plan file written, else the JSON
    `plan --json` prints (a dry run writes no file)."""
    if on_stdout:
        return "see the plan above"
    if args.output:
        return f"see {shlex.quote(str(args.output))}"
    if args.command == "install":
        return f"`{printable(plan_again(plan, args))}` prints them all"
    return "--json prints them all"


# What names the target, given again as the plan's target is (see `plan_again`).
_TARGET_DESTS = ("python", "target", "prefix", "break_system_packages")


def plan_again(plan: Plan, args: argparse.Namespace) -> str:
    """The `wheelplan plan ... --json` that prints the plan an install's or uninstall's
    dry run reviewed, to be run in another shell: its plan options, but none of the
    apply's, which `plan` refuses, and the target named as the plan has it (the
    interpreter, whatever is active there; --break-system-packages where the plan
    needed it, which `install --root` does without)."""
    target = plan.target
    words = [
        *map(shlex.quote, plan_options(args, leave=_TARGET_DESTS)),
        target_options(target.interpreter, target.prefix, target.layout),
    ]
    if target.externally_managed:
        words.append("--break-system-packages")
    return " ".join(["wheelplan plan", *words, "--json"])


def dry_run(plan: Plan, args: argparse.Namespace, fetched_now: int) -> str:
    """What a dry run did: applied nothing to the target, but a lock's wheels are fetched
    (to plan them, as pip's and uv's dry runs fill their caches), so it says where they
    are, and how many of them this run put there (`fetched_now`) and did not find."""
    from applier.environment import base_of

    where = printable(base_of(plan.target.prefix, getattr(args, "root", None)))
    line = f"dry run: nothing applied to {where}"
    if args.lock is None:
        return line
    from wheelplan import fetch

    folder = fetch.store_folder(args.wheel_dir, str(args.cache_dir) if args.cache_dir else None)
    stored = fetch.stored_count(plan, folder)
    if not stored:
        return line
    total = sum(1 for dist in plan.distributions if dist.wheel_path is not None)
    which = "the lock's" if stored == total else f"{stored} of the lock's"
    wheels = f"{which} {plural(total, 'wheel')} {'is' if stored == 1 else 'are'}"
    now = f"{fetched_now or 'none'} fetched now"
    return f"{line}; {wheels} in {printable(os.path.abspath(folder))}, {now}"
