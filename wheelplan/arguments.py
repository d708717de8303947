"""The command line's arguments: every command's options, spelled as pip and uv users
type them, and what the commands read back from them."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Collection, Sequence
from typing import Any, NoReturn, TypeVar

from applier import cachedir, links
from planner.limits import Limits
from planner.place import Place

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

_PLAN_HELP = "the plan file `wheelplan plan -o PLAN.json` wrote"


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


def given_place(args: argparse.Namespace) -> Place | None:
    """The folder `--target` or `--prefix` names, if either does."""
    if args.target is not None:
        return Place("directory", args.target)
    if args.prefix is not None:
        return Place("prefix", args.prefix)
    return None


class _Answered(argparse.Action):
    """An option of pip's or uv's that wheelplan does not take, answered with the way
    to do what it asks (its `const`) rather than a bare 'unrecognized arguments'."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        parser.error(str(self.const))


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
    # pip's `--requirement` and uv's `--requirements`.
    parser.add_argument(
        "-r",
        "--requirement",
        "--requirements",
        action=_Answered,
        const="-r: wheelplan installs wheel files and lock files, and resolves no"
        " requirements; `pip lock -r FILE` or `uv pip compile FILE --format pylock.toml`"
        " writes a lock that `install --lock` takes",
        help=argparse.SUPPRESS,
    )


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
        help="with --lock: select this extra of the lock (repeatable)",
    )
    parser.add_argument(
        "--group",
        action="append",
        metavar="NAME",
        help="with --lock: select this dependency group (repeatable; default: the lock's"
        " default groups)",
    )
    parser.add_argument(
        "--wheel-dir",
        type=_folder,
        metavar="DIR",
        help="with --lock: put every wheel the plan needs here, by file name, for"
        " `apply --wheel-dir` (default: downloads go to the user cache, `path` wheels"
        " are read where they are)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="with --lock: how long a download waits for the connection or its next byte"
        " before a try fails, as pip's --timeout and uv's UV_HTTP_TIMEOUT (default 30)",
    )
    parser.add_argument("--python", type=_path, help=_PYTHON_HELP)
    _folder_arguments(parser)
    parser.add_argument(
        "--prefer",
        action="append",
        default=[],
        type=_name,
        metavar="NAME",
        help="this distribution (a wheel given, or one installed that the plan keeps) wins"
        " every overlap with different content it is part of (repeatable)",
    )
    parser.add_argument(
        "--remove",
        action="append",
        default=[],
        type=_name,
        metavar="NAME",
        help="remove this installed distribution (repeatable)",
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
    ceilings = (
        (
            "--max-total-size",
            limits.max_total_size,
            "BYTES",
            "refuse a wheel larger than this uncompressed",
        ),
        ("--max-entries", limits.max_entries, "N", "refuse a wheel with more members"),
        (
            "--max-ratio",
            limits.max_ratio,
            "N",
            f"refuse a member over {limits.ratio_floor // 1024**2} MiB that expands more than"
            " N times",
        ),
    )
    for option, default, metavar, refuse in ceilings:
        parser.add_argument(
            option,
            type=_limit,
            default=default,
            metavar=metavar,
            help=f"{refuse} (default {default})",
        )


_Number = TypeVar("_Number", int, float)


def _positive(expected: str, number: Callable[[str], _Number]) -> Callable[[str], _Number]:
    """An argument type for a positive, finite `number`, refused as a usage error
    otherwise."""

    def parse(text: str) -> _Number:
        try:
            value: _Number | None = number(text)
        except ValueError:
            value = None
        if value is None or not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_limit = _positive("a positive whole number", int)
_jobs = _positive("a positive number of workers", int)
_seconds = _positive("a positive number of seconds", float)


def _jobs_argument(parser: argparse.ArgumentParser, workers: str) -> None:
    """`--jobs N`, one worker per CPU unless told: an apply's and a verify's alike."""
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        metavar="N",
        help=f"{workers} (default: CPU count)",
    )


def _apply_arguments(
    parser: argparse.ArgumentParser,
    root: str = "install under this staging folder instead of /",
    *,
    installs: bool = True,
) -> None:
    """The options of an apply; one that `installs` no file (a removal) takes none that
    only an installed file uses."""
    _jobs_argument(parser, "parallel workers")
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
            help="how files come from the cache: auto tries reflink, then hardlink, then"
            " copy; a mode named is forced, and an apply that cannot use it fails",
        )


def given_cache_dir(args: argparse.Namespace) -> str | None:
    """The cache directory the command uses, or None under --no-cache."""
    if args.no_cache:
        return None
    return str(args.cache_dir) if args.cache_dir else cachedir.default_dir()


# The plan options that name files, given again as absolute paths: a command that
# sends the user to `wheelplan plan` may be run from another folder.
_PLAN_PATHS = frozenset({"wheels", "lock", "wheel_dir", "cache_dir"})


def plan_options(args: argparse.Namespace, leave: Collection[str]) -> list[str]:
    """The plan options `args` gives (an install's, among its apply's own), as arguments
    that `wheelplan plan` takes, but those whose dest is in `leave`; each once, by its
    first long name, and only where it differs from its default."""
    parser = argparse.ArgumentParser(add_help=False)
    _plan_arguments(parser)
    _cache_arguments(parser, link_mode=False)
    words: list[str] = []
    for action in parser._actions:
        value = getattr(args, action.dest, action.default)
        if action.dest in leave or value in (action.default, None, False, []):
            continue
        values = value if isinstance(value, list) else [value]
        if action.dest in _PLAN_PATHS:
            values = [os.path.abspath(item) for item in values]
        if not action.option_strings:  # the wheels
            words += values
            continue
        option = next(name for name in action.option_strings if name.startswith("--"))
        if action.nargs == 0:  # a flag
            words.append(option)
        else:
            words += [word for item in values for word in (option, str(item))]
    return words


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
    show.add_argument("plan", metavar="PLAN.json", help=_PLAN_HELP)
    show.add_argument("--json", action="store_true", help="print the plan JSON")
    apply = commands.add_parser("apply", help="apply a saved plan")
    apply.add_argument("plan", metavar="PLAN.json", help=_PLAN_HELP)
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
        help="print the review (with -q, only its warnings) and write nothing, as `plan`"
        " without -o does",
    )
    install.set_defaults(output=None, json=False)
    _pip_spellings(install)
    uninstall = commands.add_parser(
        "uninstall", help="remove installed distributions (install --remove NAME, no wheels)"
    )
    uninstall.add_argument(
        "remove", nargs="*", type=_name, metavar="NAME", help="a distribution to remove"
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
    uninstall.add_argument(
        "-r",
        "--requirement",
        "--requirements",
        dest="requirements",
        action="append",
        default=[],
        type=_path,
        metavar="FILE",
        help="remove the distributions this requirements file names, as pip and uv read it"
        " (repeatable)",
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
        "--dry-run",
        action="store_true",
        help="print the review (with -q, only its warnings) and write nothing",
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
    _jobs_argument(check, "processes hashing files")
    recover = commands.add_parser("recover", help="undo an interrupted apply")
    recover.add_argument("--python", type=_path, help=_PYTHON_HELP)
    _folder_arguments(
        recover, "the target directory the apply wrote to", "the prefix the apply wrote to"
    )
    recover.add_argument(
        "--root", type=_folder, metavar="DIR", help="the staging folder the apply used"
    )
    cache = commands.add_parser("cache", help="show or clean the cache")
    # Before the action too, as pip's and uv's `cache --cache-dir DIR dir` take it. The
    # action's own has no default, which would overwrite one given before it.
    cache_dir: dict[str, Any] = {
        "type": _folder,
        "metavar": "DIR",
        "help": "the cache directory (default: as for plan)",
    }
    cache.add_argument("--cache-dir", **cache_dir)
    actions = cache.add_subparsers(dest="cache_command", required=True)
    for action, what in (
        ("dir", "print the cache directory"),
        ("clean", "remove everything wheelplan keeps in the cache"),
    ):
        actions.add_parser(action, help=what).add_argument(
            "--cache-dir", default=argparse.SUPPRESS, **cache_dir
        )
    # What is checked after parsing (arguments left over, or what they must be together)
    # is reported with the command's usage, not the top level's.
    for command in (*commands.choices.values(), *actions.choices.values()):
        command.set_defaults(command_error=command.error)
    for chosen in (commands, actions):
        # A missing one is named by its metavar, else by its dest ("cache_command"),
        # which is no word a user types; the usage already spells it by its choices.
        chosen.metavar = "{" + ",".join(chosen.choices) + "}"
    return parser


# The list positional of each command that takes one: argparse takes it at its first
# place only, and pip and uv take names and wheels wherever they stand.
_LISTS = {"plan": "wheels", "install": "wheels", "uninstall": "remove"}


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, its list positional taken between options too (`plan a.whl
    --python PY b.whl` left `b.whl` unrecognized); anything else not taken is a usage
    error naming the command."""
    parser = build_parser()
    args, leftovers = parser.parse_known_args(argv)
    field = _LISTS.get(args.command)
    if leftovers and field and not any(text.startswith("-") for text in leftovers):
        # Parsed as the command's own list, so each is checked as the first place is.
        getattr(args, field).extend(getattr(parser.parse_args([args.command, *leftovers]), field))
    elif leftovers:
        args.command_error(f"unrecognized arguments: {' '.join(leftovers)}")
    return args
