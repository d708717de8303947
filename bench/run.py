"""Benchmark wheelplan against uv, pip, pypa/installer and two floors (extracting, linking).

`make bench` runs this; options go through BENCH_ARGS, e.g.

    make bench BENCH_ARGS="--sets nvidia --rounds 1"

It builds its own venv with the installers pinned in bench/tools.txt (build/bench/venv),
downloads the pinned wheel sets (bench/datascience.txt, bench/nvidia.txt) into a cache outside
the repo, takes the torch wheel from disk when present, then installs each set with every row,
round-robin, each run into a fresh venv on --target-dir (tmpfs by default, so the disk is not
what is measured). It prints medians, ratios to uv and pip with the goals of the performance
issue, and writes the same as JSON.
"""

import argparse
import datetime
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from procs import TreeCount, count_tree, make_venv, read_all, remove_tree
from report import RowResult, SetResult, format_set, machine_info, write_json
from rows import (
    BENCH_DIR,
    Row,
    RowError,
    SetContext,
    Tools,
    Wheelplan,
    all_rows,
    measure,
    probe_wheelplan,
)
from wheelsets import WheelSet, ensure_downloaded, find_torch, read_pins, set_stats

REPO = BENCH_DIR.parent
SET_NAMES = ("datascience", "torch", "nvidia")
CP311_SETS = frozenset({"datascience", "torch"})  # their wheels only install on CPython 3.11
# The rows that time `plan` then `apply` (the goals judge cold and warm), and every row
# that runs wheelplan.
PLAN_APPLY_ROWS = frozenset({"wheelplan cold", "wheelplan first", "wheelplan warm"})
WHEELPLAN_ROWS = PLAN_APPLY_ROWS | {"wheelplan install cold", "wheelplan install warm"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line; every default keeps generated files out of the repo except build/."""
    shm = Path("/dev/shm")
    work = REPO / "build" / "bench"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all rows (default 3)")
    parser.add_argument("--sets", default=",".join(SET_NAMES), help="comma list of wheel sets")
    parser.add_argument(
        "--installers",
        default=",".join(r.name for r in all_rows()),
        help="comma list of rows, e.g. 'uv cold,pip' or uv-cold,pip (default: all)",
    )
    parser.add_argument(
        "--target-dir",
        type=Path,
        default=shm if shm.is_dir() and os.access(shm, os.W_OK) else work,
        help="where the fresh venvs go; a temporary folder is made inside (default /dev/shm)",
    )
    parser.add_argument("--work-dir", type=Path, default=work, help="bench venv and logs")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "wheelplan-bench",
        help="download cache for the pinned wheels (default ~/.cache/wheelplan-bench)",
    )
    parser.add_argument(
        "--tool-cache-dir",
        type=Path,
        help="where uv/wheelplan caches go (default: beside the venvs, same filesystem)",
    )
    parser.add_argument("--torch", help="torch wheel or folder (default: look in $PIP_FIND_LINKS)")
    parser.add_argument("--json", type=Path, default=work / "results.json", help="results file")
    parser.add_argument(
        "--python", type=Path, default=Path(sys.executable), help="interpreter for the venvs"
    )
    parser.add_argument(
        "--wheelplan",
        help="wheelplan command (default: this checkout, pip-installed into a venv of its own)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    for name in ("target_dir", "work_dir", "cache_dir", "tool_cache_dir", "json"):
        value = getattr(args, name)
        if value is not None:  # absolute, so logs and the JSON name real places
            setattr(args, name, value.expanduser().resolve())
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(args.sets) - set(SET_NAMES)
    if unknown:
        parser.error(f"unknown set(s) {', '.join(sorted(unknown))}; known: {', '.join(SET_NAMES)}")
    return args


def select_rows(spec: str) -> list[Row]:
    """Rows named in --installers (by name or slug), in table order."""
    wanted = {w.strip().lower() for w in spec.split(",") if w.strip()}
    rows = [r for r in all_rows() if r.name in wanted or r.slug() in wanted]
    known = {r.name for r in rows} | {r.slug() for r in rows}
    if wanted - known:
        names = ", ".join(r.slug() for r in all_rows())
        raise SystemExit(
            f"unknown installer(s) {', '.join(sorted(wanted - known))}; known: {names}"
        )
    return rows


def ensure_tools(work_dir: Path) -> Tools:
    """The bench venv with pip, uv and installer at the pinned versions; rebuilt on a new pin."""
    venv = work_dir / "venv"
    python = venv / "bin" / "python"
    spec = (BENCH_DIR / "tools.txt").read_bytes()
    stamp = venv / f".tools-{hashlib.sha256(spec).hexdigest()[:16]}"
    if not stamp.exists():
        print(f"setting up bench venv {venv} from bench/tools.txt", flush=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(BENCH_DIR / "tools.txt")], check=True)
        stamp.touch()
    where = "import installer, os; print(os.path.dirname(os.path.dirname(installer.__file__)))"
    found = subprocess.run([str(python), "-c", where], check=True, capture_output=True, text=True)
    return Tools(python, venv / "bin" / "uv", Path(found.stdout.strip()))


def tool_versions(tools: Tools) -> dict[str, str]:
    """Installed versions as reported by the bench venv itself, for the JSON."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d: m.version(d) for d in ('pip', 'uv', 'installer')}))"
    )
    done = subprocess.run([str(tools.python), "-c", code], check=True, capture_output=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def python_version(python: Path) -> str:
    """The X.Y.Z of the interpreter the venvs are made from."""
    code = "import platform; print(platform.python_version())"
    done = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def resolve_sets(
    args: argparse.Namespace, tools: Tools, version: str
) -> tuple[list[WheelSet], dict[str, str]]:
    """Wheel files for each requested set, and why any set is skipped."""
    sets, skipped = [], {}
    wheel_cache = args.cache_dir / "wheels"
    for name in args.sets:
        if name in CP311_SETS and not version.startswith("3.11."):
            skipped[name] = f"needs a CPython 3.11 target (--python), not {version}"
        elif name == "torch":
            torch = find_torch(args.torch)
            if torch is None:
                skipped[name] = "no torch wheel found (--torch PATH or a $PIP_FIND_LINKS folder)"
            else:
                sets.append(WheelSet(name, (torch,)))
        else:
            pins = read_pins(BENCH_DIR / f"{name}.txt")
            print(f"set {name}: {len(pins)} pinned wheels", flush=True)
            sets.append(WheelSet(name, tuple(ensure_downloaded(pins, wheel_cache, tools.python))))
    for name, why in skipped.items():
        print(f"note: skipping set {name}: {why}", flush=True)
    return sets, skipped


def link_note(cache_root: Path, scratch: Path) -> str:
    """Say whether uv will hardlink (same filesystem) or copy from its cache."""
    same = cache_root.stat().st_dev == scratch.stat().st_dev
    how = "hardlinks from its cache" if same else "copies (cache on another filesystem)"
    return f"uv link mode: default; caches and venvs on the same filesystem: {same}, so uv {how}"


@dataclass(frozen=True)
class Bench:
    """What every set shares: the tools, the CLI, the interpreter and where things go."""

    tools: Tools
    wheelplan: Wheelplan
    target_python: Path
    scratch: Path
    caches: Path
    logs: Path
    timeout: float
    rounds: int


def set_context(wheel_set: WheelSet, bench: Bench) -> SetContext:
    """Per-set folders (emptied) and the set's expected contents, for the rows to use."""
    ctx = SetContext(
        wheels=wheel_set.wheels,
        stats=set_stats(wheel_set.wheels),
        target_python=bench.target_python,
        scratch=bench.scratch / wheel_set.name,
        cache_root=bench.caches / wheel_set.name,
        logs=bench.logs / wheel_set.name,
        tools=bench.tools,
        wheelplan=bench.wheelplan,
        timeout=bench.timeout,
    )
    for folder in (ctx.scratch, ctx.cache_root, ctx.logs):
        remove_tree(folder)
        folder.mkdir(parents=True)
    ctx.baseline = baseline_venv(ctx)
    return ctx


def run_set(wheel_set: WheelSet, rows: Sequence[Row], bench: Bench) -> SetResult:
    """Prepare every row, then the rounds, rotating the start row so no row always runs first
    (or right after the same neighbour)."""
    ctx = set_context(wheel_set, bench)
    read_all(ctx.wheels)
    stats = ctx.stats
    print(
        f"\nset {wheel_set.name}: {stats.wheels} wheels, {stats.files} files, "
        f"{stats.bytes / 1e6:.1f} MB; logs in {ctx.logs}",
        flush=True,
    )
    results = {row.name: RowResult(row.name) for row in rows}
    for row in rows:
        try:
            row.prepare(ctx)
        except RowError as exc:
            fail(results[row.name], exc)
    for number in range(bench.rounds):
        active = [row for row in rows if results[row.name].error is None]
        shift = number % len(active) if active else 0
        for row in active[shift:] + active[:shift]:
            try:
                sample = measure(row, ctx, f"{row.slug()}-r{number + 1}")
            except RowError as exc:
                fail(results[row.name], exc)
                continue
            results[row.name].samples.append(sample)
            print(f"  round {number + 1} {row.name:<15} {sample.seconds:8.3f}s", flush=True)
    return SetResult(wheel_set.name, stats, results, [link_note(ctx.cache_root, ctx.scratch)])


def fail(result: RowResult, exc: RowError) -> None:
    """Record and print a row's failure; the other rows go on."""
    result.error = str(exc)
    print(f"  {result.name}: {exc}", flush=True)


def baseline_venv(ctx: SetContext) -> TreeCount:
    """What an empty venv holds, to subtract from installed venvs when verifying them."""
    where = ctx.scratch / "baseline"
    make_venv(ctx.target_python, where)
    try:
        return count_tree(where)
    finally:
        remove_tree(where)


def summary(results: Sequence[SetResult]) -> dict[str, float | None]:
    """Peak memory of `wheelplan apply` on the torch wheel, which the issue asks for."""
    out: dict[str, float | None] = {}
    for result in results:
        if result.name != "torch":
            continue
        for name in sorted(PLAN_APPLY_ROWS):
            row = result.rows.get(name)
            if row is not None:
                out[name] = row.peak_rss_mb("apply")
    return out


def install_wheelplan(work_dir: Path) -> tuple[str, ...]:
    """This checkout installed as a user installs it (`pip install .`), in a venv of its own.

    Not the repository's editable install: its import hook costs every process about
    10 ms that no installed copy pays. Reinstalled on every run, so the code measured
    is the code checked out.
    """
    venv = work_dir / "wheelplan-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print(f"installing this checkout into {venv}", flush=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(REPO)], check=True)  # the dependencies, once
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(REPO)], check=True)
    return (str(venv / "bin" / "wheelplan"),)


def precompile(command: Sequence[str]) -> None:
    """Write wheelplan's bytecode, as installing a wheel does: the repo's editable install
    has none, and under PYTHONDONTWRITEBYTECODE every run would compile its modules again."""
    python = Path(command[0]).with_name("python")
    if python.is_file():
        packages = [str(REPO / name) for name in ("planner", "applier", "wheelplan")]
        subprocess.run([str(python), "-m", "compileall", "-q", *packages], check=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, measure every set, print the tables and write the JSON; exit 1 if a baseline
    row failed (that means the bench itself is broken, not wheelplan)."""
    args = parse_args(argv)
    rows = select_rows(args.installers)
    version = python_version(args.python)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.target_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info(args.target_dir, version)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()), flush=True)
    tools = ensure_tools(args.work_dir)
    versions = tool_versions(tools)
    command = (
        tuple(shlex.split(args.wheelplan)) if args.wheelplan else install_wheelplan(args.work_dir)
    )
    precompile(command)
    wheelplan = (
        probe_wheelplan(command)
        if any(r.name in WHEELPLAN_ROWS for r in rows)
        else Wheelplan(command)
    )
    print(f"tools: {versions}; wheelplan: {' '.join(command)}", flush=True)
    if wheelplan.error:
        print(f"note: wheelplan rows will fail: {wheelplan.error}", flush=True)
    sets, skipped = resolve_sets(args, tools, version)
    scratch = Path(tempfile.mkdtemp(prefix="wheelplan-bench-", dir=args.target_dir))
    if args.tool_cache_dir:
        args.tool_cache_dir.mkdir(parents=True, exist_ok=True)
        caches = Path(tempfile.mkdtemp(prefix="wheelplan-bench-", dir=args.tool_cache_dir))
    else:
        caches = scratch / "caches"
    bench = Bench(
        tools,
        wheelplan,
        args.python,
        scratch,
        caches,
        args.work_dir / "logs",
        args.timeout,
        args.rounds,
    )
    try:
        results = [run_set(wheel_set, rows, bench) for wheel_set in sets]
    finally:
        remove_tree(scratch)
        remove_tree(caches)
    print()
    for result in results:
        print(format_set(result) + "\n")
    peaks = summary(results)
    for name, peak in peaks.items():
        if peak is not None:
            print(f"peak RSS of `wheelplan apply` on torch ({name}): {peak:.0f} MiB")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    payload = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "tools": versions | {"wheelplan_command": list(command)},
        "wheelplan_flags": {
            "plan": sorted(wheelplan.plan_flags),
            "apply": sorted(wheelplan.apply_flags),
            "error": wheelplan.error,
        },
        "config": {"rounds": args.rounds, "sets": args.sets, "target_dir": str(args.target_dir)},
        "sets": {r.name: r.to_json() for r in results},
        "skipped_sets": skipped,
        "wheelplan_apply_torch_peak_rss_mib": peaks,
    }
    write_json(args.json, payload)
    print(f"results written to {args.json}")
    broken = [
        f"{r.name}/{name}"
        for r in results
        for name, row in r.rows.items()
        if row.error and name not in WHEELPLAN_ROWS
    ]
    if broken:
        print(f"baseline rows failed: {', '.join(broken)}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
