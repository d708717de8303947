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
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from applier import cachedir, wheelindex
from planner import review
from planner.errors import Problem, Refused
from planner.limits import Limits
from planner.paths import printable
from planner.place import folder_given, place_of, recover_command
from planner.plan import Plan
from planner.planjson import dumps, encode, read_plan
from planner.review import human_size, plural
from planner.target import BackgroundProbe
from wheelplan import epilogue, output, planfile, progress
from wheelplan.arguments import build_parser, given_cache_dir, given_place, parse

if TYPE_CHECKING:
    from applier.apply import Summary
    from applier.options import Options
    from applier.preflight import Preflight
    from planner.build import Request

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


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
    return wheelindex.WheelIndex(given_cache_dir(args))


def _options(args: argparse.Namespace) -> Options:
    from applier.options import Options

    return Options(
        jobs=max(1, args.jobs),
        compile_bytecode=args.compile_bytecode,
        fsync=args.fsync,
        root=args.root,
        # `install --wheel-dir` names the download folder; the plan already points there.
        wheel_dir=args.wheel_dir if args.command == "apply" else None,
        cache_dir=given_cache_dir(args),
        link_mode=args.link_mode,
        place=given_place(args) if args.command == "apply" else None,
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

    bar = progress.Bar() if sys.stderr.isatty() and not args.quiet else None
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
            if summary.empty_folders:  # "0 removed" said nothing of them; as the review says
                removed += f" (and {plural(summary.empty_folders, 'empty folder')})"
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


def _verify(args: argparse.Namespace) -> int:
    from applier.environment import existing_base, verified_target
    from planner import verify

    place = given_place(args)
    target = verified_target(args.python, place, args.root)
    base = existing_base(target.prefix, args.root, place)
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
    if args.command == "install" and args.root is not None:
        from applier.environment import staging_folder

        staging_folder(args.root)  # a file: refused before the plan, in a dry run too
    # The target's interpreter starts first, and answers while the planner is imported.
    place = given_place(args)
    probing = BackgroundProbe(args.python, place=place) if args.lock is None else None
    from applier.manifests import Manifests
    from wheelplan import planning

    index = _index(args)
    directory = given_cache_dir(args)
    # What the wheel reader made of wheels planned before (saved, like the index, at the end).
    manifests = Manifests(directory) if directory is not None else None
    fetched_now = 0  # of a lock's wheels
    try:
        request = _request(args, index)
        if args.lock is not None:
            quiet = getattr(args, "quiet", False)  # `plan` has no --quiet
            downloads = progress.Downloads() if sys.stderr.isatty() and not quiet else None
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
                    args.timeout,
                )
            finally:
                if downloads is not None:
                    downloads.end()
            plan, fetched_now = locked.plan, locked.fetched_now
        else:
            assert probing is not None
            plan = planning.plan_wheels(request, probing, manifests)
    finally:
        if manifests is not None:
            manifests.save(index)
        index.save()
    if args.command == "install" and args.dry_run and args.root is not None:
        _check_staged(plan, args.root)
    if args.command == "install" and (not args.dry_run or args.quiet):
        # No review is printed, so its warnings (unmet requirements, ...) are printed here.
        for warning in plan.warnings:
            _warn(warning)
        if args.dry_run:  # quiet: as pip's and uv's quiet dry runs, it prints nothing more
            return EXIT_OK
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
        sys.stdout.write(review.render(plan, whole=epilogue.whole_lists(plan, args, on_stdout)))
        if args.output:
            written = printable(shlex.quote(str(args.output)))
            place = place_of(plan.target.layout, plan.target.prefix)
            again = f" {printable(place.option)}" if place is not None else ""
            print(f"\nplan written to {written}; apply it with: wheelplan apply {written}{again}")
        else:
            done = epilogue.dry_run(plan, args, fetched_now)
            then = (
                "without --dry-run, this plan is applied"
                if args.command == "install"
                else "use -o PLAN.json to save the plan"
            )
            print(f"\n{done} ({then})")
    return EXIT_OK


def _check_staged(plan: Plan, root: str) -> None:
    """Refuse a dry run whose real run the staged prefix would refuse (it holds other
    distributions than the planned environment), with the real run's warnings first: a
    dry run tells what the real run would. Reads the staged tree only."""
    from applier.environment import base_of
    from applier.preflight import check_installed

    try:
        check_installed(plan, base_of(plan.target.prefix, root), root)
    except Refused:
        for warning in plan.warnings:
            _warn(warning)
        raise


def _apply_command(args: argparse.Namespace) -> int:
    from applier.preflight import start_preflight

    # The wheels are hashed and the target's interpreter asked while the rest loads.
    started: list[Preflight] = []
    options = _options(args)
    plan = read_plan(
        args.plan,
        lambda target, dists: started.append(start_preflight(target, dists, options)),
    )
    _apply(plan, args.plan, args, options, started[0] if started else None)
    return EXIT_OK


def _recover_command(args: argparse.Namespace) -> int:
    from applier.environment import existing_base, recover_target, recovered_prefix

    # The journal's own half-written files must not stop the recovery they ask for.
    place = given_place(args)
    prefix = recovered_prefix(args.python, place, args.root)
    # Under --root, the staged tree is the one recovered, and named.
    base = existing_base(prefix, args.root, place)
    outcome = recover_target(prefix, args.root)
    print(f"{printable(base)}: {outcome}")
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
    """`uninstall NAME... -r FILE...` as `install --remove NAME...` with no wheels, the
    files' names after those given: install's defaults for what uninstall does not take
    (looked up only for an uninstall)."""
    from planner.requirementsfile import uninstall_names

    named = dict.fromkeys([*args.remove, *uninstall_names(args.requirements, os.environ)])
    if not named:  # only files, that name nothing: pip refuses it too
        files = ", ".join(dict.fromkeys(args.requirements))
        raise Refused.one(files, "names no distribution to remove")
    merged = vars(build_parser().parse_args(["install"]))
    merged.update(vars(args), remove=list(named), wheels=[], command="install")
    return argparse.Namespace(**merged)


def _check_conflicts(plan: Plan, subject: str) -> None:
    """Refuse to show a plan whose conflicts disagree with its files: the review shows
    the conflicts, and `apply` refuses such a plan (`applier.validate`)."""
    from applier.conflicts import conflict_problems

    problems = conflict_problems(plan)
    if problems:
        raise Refused(Problem(subject, problem) for problem in problems)


def _check_cache_dir(args: argparse.Namespace) -> None:
    """Refuse a `--cache-dir` that is a file, or lies below one, where a command would
    use the cache: plan, install and apply said nothing and cached nothing, and `cache
    clean` found nothing to remove. `cache dir` prints it still, as pip's and uv's do,
    and --no-cache uses none, as uv's does."""
    given = getattr(args, "cache_dir", None)  # verify and recover take none
    using = args.command in ("plan", "install", "apply") and not args.no_cache
    if given and (using or getattr(args, "cache_command", None) == "clean"):
        folder_given(given, "--cache-dir")


def run(args: argparse.Namespace) -> int:
    if args.command == "uninstall":
        args = _as_install(args)
    _check_cache_dir(args)
    if args.command in ("plan", "install"):
        return _plan_command(args)
    if args.command == "show":
        plan = read_plan(args.plan)
        _check_conflicts(plan, args.plan)
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
    problem = _lost_output()
    if problem is None or code != EXIT_OK:
        return code
    changed = args.command in ("apply", "install", "uninstall", "recover") or (
        args.command == "cache" and args.cache_command == "clean"
    )
    if changed and not getattr(args, "dry_run", False):
        _warn(f"{problem} (the output is lost; the work is done)")
        return code
    print(f"error: {problem}", file=sys.stderr)
    return EXIT_REFUSED


def _lost_output() -> Problem | None:
    """Why what was printed is lost, if it is (a reader that went away is no loss)."""
    error = output.lost()
    return None if error is None else Problem("standard output", str(error.strerror or error))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; `--help` and `--version` exit here, and fail as any command
    whose output is its result fails when that output is lost."""
    try:
        return parse(argv)
    except SystemExit as leaving:
        if leaving.code in (0, None) and (problem := _lost_output()) is not None:
            print(f"error: {problem}", file=sys.stderr)
            raise SystemExit(EXIT_REFUSED) from None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.command in ("plan", "install"):
        if args.wheels and args.lock:
            args.command_error("give either wheels or --lock PYLOCK.toml")
        if not args.wheels and not args.lock and not args.remove:
            # `--remove NAME` alone is a plan of removals only.
            args.command_error("give wheels, --lock PYLOCK.toml or --remove NAME")
        if args.lock is None and (args.extra or args.group or args.wheel_dir):
            args.command_error("--extra, --group and --wheel-dir need --lock")
    if args.command == "uninstall" and not args.remove and not args.requirements:
        args.command_error("give NAME... or -r FILE")
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
