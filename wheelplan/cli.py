"""The command line: parse arguments, call the planner or the applier, format the result.

Exit codes: 0 done, 1 refused or failed (one `error:` line per problem on stderr),
2 usage error.

Each command imports what only it uses when it runs: `apply` loads no wheel reader
(installer, packaging), `plan` no applier beyond the cache and wheel index.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from applier import cachedir, links, wheelindex
from planner import review
from planner.errors import Problem, Refused
from planner.inputfiles import MAX_PLAN_BYTES, read_at_most
from planner.limits import Limits
from planner.paths import printable
from planner.plan import Distribution, Plan, Target, dumps, encode, loads
from planner.review import human_size, plural
from planner.target import BackgroundProbe, Place, place_of, recover_command
from wheelplan import output, planfile

if TYPE_CHECKING:
    from applier.apply import Summary
    from applier.options import Options
    from applier.preflight import Preflight
    from planner.build import Request

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


_PYTHON_HELP = (
    "the target environment's interpreter or folder (default: $VIRTUAL_ENV, else an"
    " activated conda environment other than base, else the .venv in this folder or its"
    " nearest parent); with --target or --prefix, the Python the folder is for (default:"
    " as above, else the python3 on PATH)"
)
_TARGET_HELP = (
    "a plain folder instead of an environment, as pip's and uv's --target (made when"
    " missing): modules at its top, scripts in DIR/bin"
)
_PREFIX_HELP = (
    "a folder laid out as a venv there would be, as pip's and uv's --prefix (made when"
    " missing): modules in DIR/lib/pythonX.Y/site-packages, scripts in DIR/bin"
)


def _given(kind: str) -> Callable[[str], str]:
    """A path argument of `kind` that is not empty: an empty one (an unset shell
    variable) would mean this folder, or that none was given."""

    def check(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError(f"expected a {kind}, got ''")
        return text

    return check


_folder = _given("folder")
_path = _given("path")


def _name(text: str) -> str:
    """A distribution's name, normalized; a requirement (`pkg==1.0`, which pip's
    uninstall takes) or a typo was normalized into a name nobody has, and skipped as
    not installed."""
    from packaging.utils import InvalidName, canonicalize_name

    try:
        return canonicalize_name(text, validate=True)
    except InvalidName:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a distribution name (give the name alone, without a version)"
            if text
            else "expected a distribution name, got ''"
        ) from None


def _folder_arguments(
    parser: argparse.ArgumentParser, target: str = _TARGET_HELP, prefix: str = _PREFIX_HELP
) -> None:
    """`--target` and `--prefix`: a folder instead of the interpreter's environment."""
    either = parser.add_mutually_exclusive_group()
    either.add_argument("-t", "--target", type=_folder, metavar="DIR", help=target)
    either.add_argument("--prefix", type=_folder, metavar="DIR", help=prefix)


def _place(args: argparse.Namespace) -> Place | None:
    """The folder `--target` or `--prefix` names, if either does."""
    if args.target is not None:
        return Place("directory", args.target)
    if args.prefix is not None:
        return Place("prefix", args.prefix)
    return None


class _Requirements(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        parser.error(
            "-r: wheelplan installs wheel files and lock files, and resolves no requirements;"
            " `pip lock -r FILE` or `uv pip compile FILE --format pylock.toml` writes a lock"
            " that `install --lock` takes"
        )


def _pip_spellings(parser: argparse.ArgumentParser) -> None:
    """What pip users type out of habit: taken where wheelplan does it anyway (it
    installs the wheels given and nothing else, replacing an installed version), and
    answered with the way to do it where it does not."""
    parser.add_argument(
        "--no-deps", action="store_true", help="accepted as pip takes it: no dependency is added"
    )
    parser.add_argument(
        "-U",
        "--upgrade",
        action="store_true",
        help="accepted as pip takes it: a wheel given replaces the version installed",
    )
    parser.add_argument("-r", "--requirement", action=_Requirements, help=argparse.SUPPRESS)


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "wheels",
        nargs="*",
        type=_given("wheel file or folder"),
        metavar="WHEEL_OR_DIR",
        help="wheel files or folders of wheels",
    )
    parser.add_argument(
        "--lock", metavar="PYLOCK.toml", help="install what this lock file selects for the target"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="with --lock: select this extra of the lock",
    )
    parser.add_argument(
        "--group",
        action="append",
        metavar="NAME",
        help="with --lock: select this dependency group (default: the lock's default groups)",
    )
    parser.add_argument(
        "--wheel-dir",
        type=_folder,
        metavar="DIR",
        help="with --lock: put every wheel the plan needs here, by file name, for"
        " `apply --wheel-dir` (default: downloads go to the user cache, `path` wheels"
        " are read where they are)",
    )
    parser.add_argument("--python", type=_path, help=_PYTHON_HELP)
    _folder_arguments(parser)
    parser.add_argument(
        "--prefer",
        action="append",
        default=[],
        type=_name,
        metavar="NAME",
        help="this distribution wins every overlap with different content it is part of",
    )
    parser.add_argument(
        "--remove",
        action="append",
        default=[],
        type=_name,
        metavar="NAME",
        help="remove this installed distribution",
    )
    parser.add_argument(
        "--sync",
        action="store_true",
        help="remove every installed distribution not given, but for pip, setuptools,"
        " wheel, uv, wheelplan and what they require",
    )
    parser.add_argument(
        "--reinstall",
        "--force-reinstall",
        action="store_true",
        help="reinstall distributions already installed at the same version (pip's"
        " --force-reinstall, which uv also takes)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse the plan when a requirement is unmet"
    )
    parser.add_argument(
        "--break-system-packages",
        action="store_true",
        help="plan for a Python that another package manager owns (PEP 668) anyway: risky",
    )
    parser.add_argument(
        "--ignore-requires-python",
        action="store_true",
        help="plan wheels whose Requires-Python leaves out the target's Python",
    )
    limits = Limits()
    parser.add_argument(
        "--max-total-size",
        type=_limit,
        default=limits.max_total_size,
        metavar="BYTES",
        help=f"refuse a wheel larger than this uncompressed (default {limits.max_total_size})",
    )
    parser.add_argument(
        "--max-entries",
        type=_limit,
        default=limits.max_entries,
        metavar="N",
        help=f"refuse a wheel with more members (default {limits.max_entries})",
    )
    parser.add_argument(
        "--max-ratio",
        type=_limit,
        default=limits.max_ratio,
        metavar="N",
        help=(
            f"refuse a member over {limits.ratio_floor // 1024**2} MiB that expands more than"
            f" N times (default {limits.max_ratio})"
        ),
    )


def _positive(expected: str) -> Callable[[str], int]:
    """An argument type for a positive whole number, refused as a usage error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_limit = _positive("a positive whole number")
_jobs = _positive("a positive number of workers")


def _apply_arguments(
    parser: argparse.ArgumentParser,
    root: str = "install under this staging folder instead of /",
    *,
    installs: bool = True,
) -> None:
    """The options of an apply; one that `installs` no file (a removal) takes none that
    only an installed file uses."""
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        metavar="N",
        help="parallel workers (default: CPU count)",
    )
    if installs:
        parser.add_argument(
            "--compile-bytecode", action="store_true", help="compile installed .py files"
        )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument(
        "--fsync", action="store_true", help="flush files and folders to disk before the commit"
    )
    parser.add_argument("--root", type=_folder, metavar="DIR", help=root)


def _cache_arguments(parser: argparse.ArgumentParser, *, link_mode: bool) -> None:
    parser.add_argument(
        "--cache-dir",
        type=_folder,
        metavar="DIR",
        help="the unpacked-wheel cache and wheel index"
        " (default: $XDG_CACHE_HOME/wheelplan or ~/.cache/wheelplan)",
    )
    parser.add_argument(
        "--no-cache",
        "--no-cache-dir",
        action="store_true",
        help="neither read nor write the cache (pip's --no-cache-dir is taken too)",
    )
    if link_mode:
        parser.add_argument(
            "--link-mode",
            choices=("auto", *links.MODES),
            default=links.AUTO,
            help="how files come from the cache: auto tries reflink, then hardlink, then copy",
        )


def _cache_dir(args: argparse.Namespace) -> str | None:
    """The cache directory the command uses, or None under --no-cache."""
    if args.no_cache:
        return None
    return str(args.cache_dir) if args.cache_dir else cachedir.default_dir()


class _Version(argparse.Action):
    """`--version`, as pip and uv have it; the version is looked up only when asked,
    as importlib.metadata would cost every command's start."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: object) -> None:
        super().__init__(
            option_strings, argparse.SUPPRESS, nargs=0, help="print the version and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from importlib.metadata import version

        print(f"wheelplan {version('wheelplan')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelplan",
        description="Plan wheels into one reviewed file map, then apply it in parallel.",
    )
    parser.add_argument("-V", "--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="plan an install; a dry run unless -o is given")
    _plan_arguments(plan)
    _cache_arguments(plan, link_mode=False)
    plan.add_argument("-o", "--output", type=_path, metavar="PLAN.json", help="write the plan here")
    plan.add_argument(
        "--json", action="store_true", help="print the plan JSON instead of the review"
    )
    show = commands.add_parser("show", help="review a saved plan")
    show.add_argument("plan", metavar="PLAN.json")
    show.add_argument("--json", action="store_true", help="print the plan JSON")
    apply = commands.add_parser("apply", help="apply a saved plan")
    apply.add_argument("plan", metavar="PLAN.json")
    apply.add_argument(
        "--wheel-dir",
        type=_folder,
        metavar="DIR",
        help="find the plan's wheels in this folder, by file name",
    )
    _folder_arguments(
        apply,
        "the target directory the plan was made for (plan --target DIR)",
        "the prefix the plan was made for (plan --prefix DIR)",
    )
    _apply_arguments(apply)
    _cache_arguments(apply, link_mode=True)
    install = commands.add_parser("install", help="plan and apply in one step")
    _plan_arguments(install)
    _apply_arguments(install)
    _cache_arguments(install, link_mode=True)
    install.add_argument(
        "--dry-run",
        action="store_true",
        help="print the review and write nothing, as `plan` without -o does",
    )
    install.set_defaults(output=None, json=False)
    _pip_spellings(install)
    uninstall = commands.add_parser(
        "uninstall", help="remove installed distributions (install --remove NAME, no wheels)"
    )
    uninstall.add_argument(
        "remove", nargs="+", type=_name, metavar="NAME", help="a distribution to remove"
    )
    uninstall.add_argument("--python", type=_path, help=_PYTHON_HELP)
    _folder_arguments(
        uninstall,
        "remove from this folder (made by --target DIR)",
        "remove from this prefix (made by --prefix DIR)",
    )
    uninstall.add_argument(
        "--break-system-packages",
        action="store_true",
        help="remove from a Python that another package manager owns (PEP 668) anyway: risky",
    )
    uninstall.add_argument(
        "-y", "--yes", action="store_true", help="accepted as pip takes it: wheelplan never asks"
    )
    _apply_arguments(
        uninstall,
        "apply the removal to the environment's copy staged under this folder,"
        " which must hold what the environment holds",
        installs=False,
    )
    # A removal reads no wheel, so it uses no cache; uv's --no-cache is a flag of every
    # command, and pip's --no-cache-dir of every one of its commands.
    uninstall.add_argument(
        "--no-cache",
        "--no-cache-dir",
        action="store_true",
        help="accepted as uv and pip take it: a removal uses no cache",
    )
    uninstall.set_defaults(no_cache=True)
    uninstall.add_argument(
        "--dry-run", action="store_true", help="print the review and write nothing"
    )
    check = commands.add_parser("verify", help="check an installed environment against its RECORDs")
    check.add_argument("--python", type=_path, help=_PYTHON_HELP)
    _folder_arguments(
        check,
        "check this folder (made by --target DIR)",
        "check this prefix (made by --prefix DIR)",
    )
    check.add_argument(
        "--root", type=_folder, metavar="DIR", help="check the tree staged under this folder"
    )
    check.add_argument(
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        metavar="N",
        help="processes hashing files (default: CPU count)",
    )
    recover = commands.add_parser("recover", help="undo an interrupted apply")
    recover.add_argument("--python", type=_path, help=_PYTHON_HELP)
    _folder_arguments(
        recover, "the target directory the apply wrote to", "the prefix the apply wrote to"
    )
    recover.add_argument(
        "--root", type=_folder, metavar="DIR", help="the staging folder the apply used"
    )
    cache = commands.add_parser("cache", help="show or clean the cache")
    actions = cache.add_subparsers(dest="cache_command", required=True)
    for action, what in (
        ("dir", "print the cache directory"),
        ("clean", "remove everything wheelplan keeps in the cache"),
    ):
        actions.add_parser(action, help=what).add_argument(
            "--cache-dir",
            type=_folder,
            metavar="DIR",
            help="the cache directory (default: as for plan)",
        )
    # What is checked after parsing (arguments left over, or what they must be together)
    # is reported with the command's usage, not the top level's.
    for command in (*commands.choices.values(), *actions.choices.values()):
        command.set_defaults(command_error=command.error)
    return parser


def _request(args: argparse.Namespace, index: wheelindex.WheelIndex | None = None) -> Request:
    from planner.build import Request

    return Request(
        digests=index,
        wheels=tuple(args.wheels),
        prefer=frozenset(args.prefer),
        remove=frozenset(args.remove),
        sync=args.sync,
        reinstall=args.reinstall,
        strict=args.strict,
        # pip skips the check under --root too: the files go to a staging tree.
        break_system_packages=args.break_system_packages
        or (args.command == "install" and args.root is not None),
        ignore_requires_python=args.ignore_requires_python,
        limits=Limits(
            max_total_size=args.max_total_size,
            max_entries=args.max_entries,
            max_ratio=args.max_ratio,
        ),
    )


def _index(args: argparse.Namespace) -> wheelindex.WheelIndex:
    """The wheel index of the cache in use (the caller saves it); under --no-cache, one
    held in memory, for `install` to apply with the hashes its plan took."""
    return wheelindex.WheelIndex(_cache_dir(args))


def _read_plan(
    path: str,
    header_read: Callable[[Target, tuple[Distribution, ...]], None] | None = None,
) -> Plan:
    # Bytes: read as text, 9 MB of plan would take 10 ms more (decoding, newlines).
    try:
        data = read_at_most(path, MAX_PLAN_BYTES)
    except OSError as error:
        raise Refused.one(path, f"cannot read plan: {error.strerror}") from None
    return loads(data, path, header_read)


class _Bar:
    """A progress bar over bytes written, redrawn in place on stderr."""

    def __call__(self, done: int, total: int) -> None:
        width = 30
        # Totals come from the plan: one that understates them must not grow the bar.
        filled = min(width, max(0, width * done // total)) if total > 0 else width
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r[{bar}] {human_size(done):>9} / {human_size(total)} ")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def _options(args: argparse.Namespace) -> Options:
    from applier.options import Options

    return Options(
        jobs=max(1, args.jobs),
        compile_bytecode=args.compile_bytecode,
        fsync=args.fsync,
        root=args.root,
        # `install --wheel-dir` names the download folder; the plan already points there.
        wheel_dir=args.wheel_dir if args.command == "apply" else None,
        cache_dir=_cache_dir(args),
        link_mode=args.link_mode,
        place=_place(args) if args.command == "apply" else None,
        # `install` planned from what the interpreter told this process a moment ago.
        confirm_target=args.command == "apply",
    )


def _apply(
    plan: Plan,
    subject: str,
    args: argparse.Namespace,
    options: Options,
    preflight: Preflight | None = None,
) -> Summary:
    from applier.apply import apply_plan
    from applier.environment import base_of

    bar = _Bar() if sys.stderr.isatty() and not args.quiet else None
    try:
        summary = apply_plan(plan, subject, options, bar, preflight)
    finally:
        if bar is not None:
            bar.close()
    for warning in summary.warnings:
        _warn(warning)
    if not args.quiet:
        # uv names the environment it used; `install` may have found it on its own.
        where = base_of(plan.target.prefix, options.root)
        if summary.distributions or summary.files or summary.removed:
            removed = f"{summary.removed} removed"
            if summary.empty_folders:  # "0 removed" said nothing of them
                removed = (
                    f"{plural(summary.removed, 'file')} and"
                    f" {plural(summary.empty_folders, 'empty folder')} removed"
                )
            print(
                f"applied {plural(summary.distributions, 'distribution')} to {printable(where)}:"
                f" {plural(summary.files, 'file')} written ({human_size(summary.bytes)}),"
                f" {removed}, in {summary.seconds:.2f} s"
            )
        elif plan.distributions:  # as pip's "Requirement already satisfied", uv's "Audited"
            planned = plural(len(plan.distributions), "distribution")
            print(f"nothing to change in {printable(where)}: {planned} already installed")
        else:  # only names that are not installed were to be removed
            print(f"nothing to change in {printable(where)}")
        for line in review.changes(plan):
            print(line)
    return summary


class _Downloads:
    """Download progress, redrawn in place on stderr."""

    def __call__(self, done: int, count: int, size: int, total: int) -> None:
        of = f" / {total / 1e6:.1f}" if total else ""
        sys.stderr.write(f"\rdownloading wheels: {done}/{count}, {size / 1e6:.1f}{of} MB ")
        sys.stderr.flush()


def _verify(args: argparse.Namespace) -> int:
    from applier.environment import base_of, verified_target
    from planner import verify

    target = verified_target(args.python, _place(args), args.root)
    base = base_of(target.prefix, args.root)
    if not os.path.isdir(base):
        raise Refused.one(base, "the environment does not exist")
    report = verify.verify(
        target.prefix,
        base,
        target.schemes,
        venv=verify.is_venv(target.prefix),
        jobs=args.jobs,
        recover=recover_command(target.interpreter, target.prefix, target.layout, args.root),
        directory=target.layout == "directory",
    )
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    outcome = plural(len(report.problems), "problem") if report.problems else "no problems"
    counted = f"{plural(report.distributions, 'distribution')}, {plural(report.files, 'file')}"
    print(f"verified {printable(base)}: {counted}; {outcome}")
    return EXIT_REFUSED if report.problems else EXIT_OK


def _warn(line: str) -> None:
    """A warning on stderr; one that cannot be written (`2>/dev/full`) does not turn a
    finished apply into a failed one."""
    with contextlib.suppress(OSError):
        print(f"warning: {printable(line)}", file=sys.stderr)


def _plan_command(args: argparse.Namespace) -> int:
    """`plan`, and `install`, which applies the plan at once."""
    if args.command == "install" and not args.dry_run:
        from applier.options import source_date_epoch

        source_date_epoch(args.link_mode)  # what its apply would refuse: before the plan
    # The target's interpreter starts first, and answers while the planner is imported.
    place = _place(args)
    probing = BackgroundProbe(args.python, place=place) if args.lock is None else None
    from applier.manifests import Manifests
    from wheelplan import planning

    index = _index(args)
    directory = _cache_dir(args)
    # What the wheel reader made of wheels planned before (saved, like the index, at the end).
    manifests = Manifests(directory) if directory is not None else None
    fetched_now = 0  # of a lock's wheels
    try:
        request = _request(args, index)
        if args.lock is not None:
            downloads = _Downloads() if sys.stderr.isatty() and not args.quiet else None
            try:
                locked = planning.plan_lock(
                    request,
                    args.python,
                    place,
                    args.lock,
                    args.extra,
                    args.group,
                    args.wheel_dir,
                    downloads,
                    # Downloads need a home even under --no-cache: the plan points there.
                    str(args.cache_dir) if args.cache_dir else None,
                    manifests,
                )
            finally:
                if downloads is not None:
                    sys.stderr.write("\n")
            plan, fetched_now = locked.plan, locked.fetched_now
        else:
            assert probing is not None
            plan = planning.plan_wheels(request, probing, manifests)
    finally:
        if manifests is not None:
            manifests.save(index)
        index.save()
    if args.command == "install" and not args.dry_run:
        # No review is printed, so its warnings (unmet requirements, ...) are printed here.
        for warning in plan.warnings:
            _warn(warning)
        from applier.environment import base_of
        from applier.preflight import start_preflight

        options = _options(args)
        preflight = start_preflight(plan.target, plan.distributions, options, index)
        # No plan file to name: what the apply refuses in the plan is named by the
        # environment, as its other errors are.
        _apply(plan, base_of(plan.target.prefix, options.root), args, options, preflight)
        return EXIT_OK
    on_stdout = planfile.save(args.output, encode(plan)) if args.output else False
    if args.json:
        if not on_stdout:  # written there once
            sys.stdout.write(dumps(plan))
    else:
        sys.stdout.write(review.render(plan, whole=_whole(args, on_stdout)))
        if args.output:
            written = printable(shlex.quote(str(args.output)))
            place = place_of(plan.target.layout, plan.target.prefix)
            again = f" {printable(place.option)}" if place is not None else ""
            print(f"\nplan written to {written}; apply it with: wheelplan apply {written}{again}")
        elif args.command == "install":
            print(
                f"\n{_dry_run(plan, args, fetched_now)} (without --dry-run, this plan is applied)"
            )
        else:
            print(f"\n{_dry_run(plan, args, fetched_now)} (use -o PLAN.json to save the plan)")
    return EXIT_OK


def _whole(args: argparse.Namespace, on_stdout: bool) -> str:
    """Where the review's cut lists are whole: the plan file written, else the JSON
    `plan --json` prints (a dry run writes no file)."""
    if on_stdout:
        return "see the plan above"
    if args.output:
        return f"see {shlex.quote(str(args.output))}"
    if args.command == "install":
        return "`wheelplan plan` with --json prints them all"
    return "--json prints them all"


def _dry_run(plan: Plan, args: argparse.Namespace, fetched_now: int) -> str:
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


def _apply_command(args: argparse.Namespace) -> int:
    from applier.preflight import start_preflight

    # The wheels are hashed and the target's interpreter asked while the rest loads.
    started: list[Preflight] = []
    options = _options(args)
    plan = _read_plan(
        args.plan,
        lambda target, dists: started.append(start_preflight(target, dists, options)),
    )
    _apply(plan, args.plan, args, options, started[0] if started else None)
    return EXIT_OK


def _recover_command(args: argparse.Namespace) -> int:
    from applier.environment import base_of, recover_target, recovered_prefix

    # The journal's own half-written files must not stop the recovery they ask for.
    prefix = recovered_prefix(args.python, _place(args), args.root)
    outcome = recover_target(prefix, args.root)
    # Under --root, the staged tree is the one recovered, and named.
    print(f"{printable(base_of(prefix, args.root))}: {outcome}")
    return EXIT_OK


def _cache_command(args: argparse.Namespace) -> int:
    directory = os.path.abspath(args.cache_dir or cachedir.default_dir())
    if args.cache_command == "dir":
        print(directory)  # data for scripts, as `uv cache dir` prints it
        return EXIT_OK
    cleaned = cachedir.clean(directory)
    if cleaned.files:
        removed = plural(cleaned.files, "file")
        print(f"removed {removed} ({human_size(cleaned.bytes)}) from {printable(directory)}")
    else:
        print(f"nothing to remove in {printable(directory)}")
    if cleaned.kept:
        kept = plural(cleaned.kept, "temporary entry", "temporary entries")
        print(f"kept {kept} that may still be in use")
    return EXIT_OK


def _as_install(args: argparse.Namespace) -> argparse.Namespace:
    """`uninstall NAME...` as `install --remove NAME...` with no wheels: install's defaults
    for what uninstall does not take (looked up only for an uninstall)."""
    merged = vars(build_parser().parse_args(["install"]))
    merged.update(vars(args), wheels=[], command="install")
    return argparse.Namespace(**merged)


def run(args: argparse.Namespace) -> int:
    if args.command == "uninstall":
        args = _as_install(args)
    if args.command in ("plan", "install"):
        return _plan_command(args)
    if args.command == "show":
        plan = _read_plan(args.plan)
        whole = f"see {shlex.quote(args.plan)}"
        sys.stdout.write(dumps(plan) if args.json else review.render(plan, whole=whole))
        return EXIT_OK
    if args.command == "apply":
        return _apply_command(args)
    if args.command == "verify":
        return _verify(args)
    if args.command == "recover":
        return _recover_command(args)
    if args.command == "cache":
        return _cache_command(args)
    raise AssertionError(args.command)  # pragma: no cover


def _heard(args: argparse.Namespace, code: int) -> int:
    """`code`, unless the output it made was lost: a command whose output is its result
    failed; one that changed the target (or the cache: `cache clean`) did not, and says
    the output is gone."""
    error = output.lost()
    if error is None or code != EXIT_OK:
        return code
    problem = Problem("standard output", str(error.strerror or error))
    changed = args.command in ("apply", "install", "uninstall", "recover") or (
        args.command == "cache" and args.cache_command == "clean"
    )
    if changed and not getattr(args, "dry_run", False):
        _warn(f"{problem} (the output is lost; the work is done)")
        return code
    print(f"error: {problem}", file=sys.stderr)
    return EXIT_REFUSED


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, leftovers = parser.parse_known_args(argv)
    if leftovers:
        args.command_error(f"unrecognized arguments: {' '.join(leftovers)}")
    if args.command in ("plan", "install"):
        if args.wheels and args.lock:
            args.command_error("give either wheels or --lock PYLOCK.toml")
        if not args.wheels and not args.lock and not args.remove:
            # `--remove NAME` alone is a plan of removals only.
            args.command_error("give wheels, --lock PYLOCK.toml or --remove NAME")
        if args.lock is None and (args.extra or args.group or args.wheel_dir):
            args.command_error("--extra, --group and --wheel-dir need --lock")
    # One command builds some 100,000 objects without cycles (plan entries, wheel
    # members): the cycle collector would only rescan them, several times over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _heard(args, run(args))
    except Refused as refused:
        for problem in refused.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as error:
        print(
            f"error: {Problem(str(error.filename or 'wheelplan'), str(error.strerror or error))}",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    finally:
        if collecting:
            gc.enable()


def script() -> NoReturn:
    """The `wheelplan` command: `main`, then leave without tearing the interpreter down.

    A plan is some 100,000 objects; freeing them one by one at exit cost each command
    10-15 ms of wall time. Everything `main` opened is closed by then, threads are joined
    and children reaped, so what is left is what was registered to run at exit (the
    fault-injection trace) and flushing the standard streams; standard output is
    `output`'s, whose failures `_heard` judges.

    SIGTERM (`docker stop`, a cancelled CI job) interrupts as Ctrl-C does: an apply
    rolls back before it exits instead of leaving its journal for `recover`.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    output.guard()
    code = main()
    # The work is done: an interrupt now would only print a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
