"""The command line: parse arguments, call the planner or the applier, format the result.

Exit codes: 0 done, 1 refused or failed (one `error:` line per problem on stderr),
2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from applier.apply import Options, Summary, apply_plan, recover_target
from planner import review
from planner.build import Request, make_plan
from planner.errors import Refused
from planner.plan import Plan, dumps, loads
from planner.target import probe
from planner.wheels import Limits

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "wheels", nargs="+", metavar="WHEEL_OR_DIR", help="wheel files or folders of wheels"
    )
    parser.add_argument(
        "--python", help="the target environment's interpreter or folder (default: $VIRTUAL_ENV)"
    )
    parser.add_argument(
        "--prefer",
        action="append",
        default=[],
        metavar="NAME",
        help="this distribution wins every overlap with different content it is part of",
    )
    parser.add_argument(
        "--remove",
        action="append",
        default=[],
        metavar="NAME",
        help="remove this installed distribution",
    )
    parser.add_argument(
        "--sync", action="store_true", help="remove every installed distribution not given"
    )
    parser.add_argument(
        "--reinstall",
        action="store_true",
        help="reinstall distributions already installed at the same version",
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse the plan when a requirement is unmet"
    )
    limits = Limits()
    parser.add_argument(
        "--max-total-size",
        type=int,
        default=limits.max_total_size,
        metavar="BYTES",
        help="refuse a wheel larger than this uncompressed",
    )
    parser.add_argument(
        "--max-entries",
        type=int,
        default=limits.max_entries,
        metavar="N",
        help="refuse a wheel with more members",
    )
    parser.add_argument(
        "--max-ratio",
        type=int,
        default=limits.max_ratio,
        metavar="N",
        help="refuse a member that expands more than N times",
    )


def _apply_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel workers (default: CPU count)",
    )
    parser.add_argument(
        "--compile-bytecode", action="store_true", help="compile installed .py files"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    parser.add_argument(
        "--fsync", action="store_true", help="flush files and folders to disk before the commit"
    )
    parser.add_argument("--root", help="install under this staging folder instead of /")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelplan",
        description="Plan wheels into one reviewed file map, then apply it in parallel.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="plan an install; a dry run unless -o is given")
    _plan_arguments(plan)
    plan.add_argument("-o", "--output", metavar="PLAN.json", help="write the plan here")
    plan.add_argument(
        "--json", action="store_true", help="print the plan JSON instead of the review"
    )
    show = commands.add_parser("show", help="review a saved plan")
    show.add_argument("plan", metavar="PLAN.json")
    show.add_argument("--json", action="store_true", help="print the plan JSON")
    apply = commands.add_parser("apply", help="apply a saved plan")
    apply.add_argument("plan", metavar="PLAN.json")
    apply.add_argument("--wheel-dir", help="find the plan's wheels in this folder, by file name")
    _apply_arguments(apply)
    install = commands.add_parser("install", help="plan and apply in one step")
    _plan_arguments(install)
    _apply_arguments(install)
    recover = commands.add_parser("recover", help="undo an interrupted apply")
    recover.add_argument("--python", help="the target environment's interpreter or folder")
    recover.add_argument("--root", help="the staging folder the apply used")
    return parser


def _request(args: argparse.Namespace) -> Request:
    from packaging.utils import canonicalize_name

    return Request(
        wheels=tuple(args.wheels),
        prefer=frozenset(canonicalize_name(name) for name in args.prefer),
        remove=frozenset(canonicalize_name(name) for name in args.remove),
        sync=args.sync,
        reinstall=args.reinstall,
        strict=args.strict,
        limits=Limits(
            max_total_size=args.max_total_size,
            max_entries=args.max_entries,
            max_ratio=args.max_ratio,
        ),
    )


def _read_plan(path: str) -> Plan:
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise Refused.one(path, f"cannot read plan: {error.strerror}") from None
    except UnicodeDecodeError:
        raise Refused.one(path, "not a plan file (not UTF-8 text)") from None
    return loads(text, path)


class _Bar:
    """A progress bar over bytes written, redrawn in place on stderr."""

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done / 1e6:8.1f} / {total / 1e6:.1f} MB"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def _apply(plan: Plan, subject: str, args: argparse.Namespace) -> Summary:
    options = Options(
        jobs=max(1, args.jobs),
        compile_bytecode=args.compile_bytecode,
        fsync=args.fsync,
        root=args.root,
        wheel_dir=getattr(args, "wheel_dir", None),
    )
    bar = _Bar() if sys.stderr.isatty() and not args.quiet else None
    try:
        summary = apply_plan(plan, subject, options, bar)
    finally:
        if bar is not None:
            bar.close()
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(
            f"applied {summary.distributions} distributions: {summary.files} files written"
            f" ({summary.bytes / 1e6:.1f} MB), {summary.removed} removed,"
            f" in {summary.seconds:.2f} s"
        )
    return summary


def run(args: argparse.Namespace) -> int:
    if args.command in ("plan", "install"):
        plan = make_plan(_request(args), probe(args.python))
        if args.command == "install":
            _apply(plan, "install", args)
            return EXIT_OK
        if args.output:
            with open(args.output, "w", encoding="utf-8") as stream:
                stream.write(dumps(plan))
        if args.json:
            sys.stdout.write(dumps(plan))
        else:
            sys.stdout.write(review.render(plan))
            if args.output:
                print(
                    f"\nplan written to {args.output}; apply it with: wheelplan apply {args.output}"
                )
            else:
                print("\ndry run: nothing written (use -o PLAN.json to save the plan)")
        return EXIT_OK
    if args.command == "show":
        plan = _read_plan(args.plan)
        sys.stdout.write(dumps(plan) if args.json else review.render(plan))
        return EXIT_OK
    if args.command == "apply":
        _apply(_read_plan(args.plan), args.plan, args)
        return EXIT_OK
    if args.command == "recover":
        # The journal's own half-written files must not stop the recovery they ask for.
        target = probe(args.python, read_installed=False)
        outcome = recover_target(target.prefix, args.root)
        print(f"{target.prefix}: {outcome}")
        return EXIT_OK
    raise AssertionError(args.command)  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except Refused as refused:
        for problem in refused.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as error:
        print(f"error: {error.filename or 'wheelplan'}: {error.strerror or error}", file=sys.stderr)
        return EXIT_REFUSED
