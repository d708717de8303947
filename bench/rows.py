"""The rows of the table: each installer, how it is invoked, and how one measured run is made.

Every row installs the same wheels into a fresh venv made outside the timed region, and every
run is verified afterwards (file count and bytes against the wheels' own central directories),
so an installer that fails quietly, or installs nothing, cannot show up as fast.
"""

import os
import re
import shlex
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from procs import (
    Timed,
    TreeCount,
    count_tree,
    log_tail,
    make_venv,
    read_all,
    remove_tree,
    run_timed,
    warm_memory,
)
from wheelsets import SetStats

BENCH_DIR = Path(__file__).resolve().parent
# Installs rewrite RECORD and script shebangs, so bytes may differ a little; files may only grow
# (INSTALLER, REQUESTED, entry-point scripts), never shrink.
MIN_BYTES_FRACTION = 0.95
# Memory a run needs besides its installed files and a cache of them: plan files, processes.
RUN_MEMORY = 1 << 30


class RowError(Exception):
    """A row cannot run here, or a run failed or installed the wrong thing; says which."""


@dataclass(frozen=True)
class Sample:
    """One timed run: total wall seconds, per-process seconds and peak RSS in KiB, and the
    KiB its processes read from storage."""

    seconds: float
    parts: dict[str, float]
    max_rss_kb: dict[str, int]
    read_kb: int = 0

    @classmethod
    def of(cls, processes: Mapping[str, Timed]) -> "Sample":
        """The run of these processes, one after another, by name."""
        return cls(
            sum(timed.seconds for timed in processes.values()),
            {name: timed.seconds for name, timed in processes.items()},
            {name: timed.max_rss_kb for name, timed in processes.items()},
            sum(timed.read_kb for timed in processes.values()),
        )


@dataclass(frozen=True)
class Tools:
    """The pinned baseline installers living in the bench's own venv."""

    python: Path  # has pip and installer
    uv: Path
    installer_path: Path  # folder holding the `installer` package, for PYTHONPATH


@dataclass(frozen=True)
class Wheelplan:
    """How to call the wheelplan CLI and which flags each subcommand's --help shows."""

    command: tuple[str, ...]
    plan_flags: frozenset[str] = frozenset()
    apply_flags: frozenset[str] = frozenset()
    error: str | None = None

    def has_cache_dir(self) -> bool:
        """Whether a warm row is possible: some subcommand takes --cache-dir."""
        return "--cache-dir" in self.plan_flags | self.apply_flags


@dataclass
class SetContext:
    """Everything a row needs to install one wheel set; one per set per bench run."""

    wheels: tuple[Path, ...]
    stats: SetStats
    target_python: Path  # interpreter the fresh venvs are made from
    scratch: Path  # on the target filesystem: venvs and outputs
    cache_root: Path  # where installer caches go (same filesystem by default)
    logs: Path
    tools: Tools
    wheelplan: Wheelplan
    timeout: float
    baseline: TreeCount = field(default_factory=lambda: TreeCount(0, 0))


class Row(ABC):
    """One installer configuration. Subclasses say how to run it; `measure` does the rest."""

    name: str = ""
    needs_venv: bool = True

    def prepare(self, ctx: SetContext) -> None:
        """Untimed, once per set: check the row can run and warm caches it relies on."""
        return None  # most rows need nothing before their first timed run

    @abstractmethod
    def run(self, ctx: SetContext, work: Path, fresh_cache: Path, log: Path) -> Sample:
        """Install ctx.wheels into work/'venv' (or work/'out'), timing only the install."""

    def slug(self) -> str:
        """File-name-safe row name for logs and scratch folders."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


def measure(row: Row, ctx: SetContext, label: str) -> Sample:
    """Fresh venv and empty cache (untimed), the timed install, then verify and clean up.

    The wheels are read into the page cache again before each run (untimed): a machine
    that reclaims idle pages drops some of them between runs (here, minutes after a read,
    100 MB of the 183 MB torch wheel were resident with 18 GB free), and a run would
    otherwise pay for disk reads according to what ran before it. Then memory enough for
    the install, a cache beside it and the processes is touched and freed (untimed, see
    `warm_memory`), so no run pays for memory the machine had handed back.
    """
    work = ctx.scratch / label
    fresh_cache = ctx.cache_root / f"{label}-cache"
    log = ctx.logs / f"{label}.log"
    for folder in (work, fresh_cache):
        remove_tree(folder)
        folder.mkdir(parents=True)
    try:
        if row.needs_venv:
            make_venv(ctx.target_python, work / "venv")
        read_all(ctx.wheels)
        warm_memory(2 * ctx.stats.bytes + RUN_MEMORY)
        sample = row.run(ctx, work, fresh_cache, log)
        verify(row, ctx, work, log)
        return sample
    finally:
        remove_tree(work)
        remove_tree(fresh_cache)


def verify(row: Row, ctx: SetContext, work: Path, log: Path) -> None:
    """Fail the row unless the install holds every file and (nearly) every byte of the wheels."""
    if row.needs_venv:
        got = count_tree(work / "venv").minus(ctx.baseline)
        want_files, want_bytes = ctx.stats.files, int(ctx.stats.bytes * MIN_BYTES_FRACTION)
    else:
        got = count_tree(work / "out")
        want_files, want_bytes = ctx.stats.members, ctx.stats.member_bytes
    if got.files < want_files or got.bytes < want_bytes:
        raise RowError(
            f"verification failed: installed {got.files} files / {got.bytes} bytes, "
            f"expected at least {want_files} files / {want_bytes} bytes (log: {log})"
        )


def checked(returncode: int, what: str, log: Path) -> None:
    """Turn a non-zero exit into a RowError: its last output line first, then the log's end."""
    if returncode != 0:
        tail = log_tail(log)
        said = [line for line in tail if not line.startswith("$ ")]
        first = f"{what} exited with {returncode}: {said[-1] if said else 'no output'}"
        raise RowError("\n".join([first, *("    | " + line for line in tail)]))


def clean_env(
    drop_prefixes: Sequence[str], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The caller's environment minus an installer's own settings, so config files or variables
    on this machine (constraints, link modes, find-links) cannot change what a row does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(drop_prefixes))}
    env.update(extra or {})
    return env


class WheelplanRow(Row):
    """`wheelplan plan` then `wheelplan apply`: two processes, timed back to back as a user runs
    them. Cold passes --no-cache and an empty --cache-dir (each only if --help lists it); first
    passes only the empty --cache-dir, so the run fills it as a user's first install with the
    default settings does (as uv cold fills its cache); warm passes a --cache-dir filled by one
    untimed run. Needs `plan WHEEL... --python PY -o FILE` and `apply FILE`; --quiet is passed
    where --help lists it."""

    def __init__(self, warm: bool, fills_cache: bool = False) -> None:
        self.warm = warm
        self.fills_cache = fills_cache and not warm
        self.name = "wheelplan warm" if warm else "wheelplan cold"
        if self.fills_cache:
            self.name = "wheelplan first"
        self.warm_cache: Path | None = None

    def prepare(self, ctx: SetContext) -> None:
        """Refuse early when the CLI is missing; fill the warm cache with one untimed run."""
        if ctx.wheelplan.error:
            raise RowError(ctx.wheelplan.error)
        if not (self.warm or self.fills_cache):
            return
        if not ctx.wheelplan.has_cache_dir():
            raise RowError(
                "not available yet: neither `wheelplan plan` nor `apply` has --cache-dir"
            )
        if not self.warm:
            return
        self.warm_cache = ctx.cache_root / "wheelplan-warm-cache"
        remove_tree(self.warm_cache)
        self.warm_cache.mkdir(parents=True)
        measure(self, ctx, f"{self.slug()}-populate")

    def run(self, ctx: SetContext, work: Path, fresh_cache: Path, log: Path) -> Sample:
        """Plan into work/plan.json for the fresh venv's python, then apply that plan."""
        wp = ctx.wheelplan
        cache = self.warm_cache if self.warm and self.warm_cache else fresh_cache
        plan_json = work / "plan.json"
        python = str(work / "venv" / "bin" / "python")
        plan_cmd = [*wp.command, "plan", *map(str, ctx.wheels), "--python", python]
        plan_cmd += ["-o", str(plan_json), *self._flags(wp.plan_flags, cache)]
        plan = run_timed(plan_cmd, log, timeout=ctx.timeout)
        checked(plan.returncode, "wheelplan plan", log)
        apply_cmd = [*wp.command, "apply", str(plan_json), *self._flags(wp.apply_flags, cache)]
        applied = run_timed(apply_cmd, log, timeout=ctx.timeout)
        checked(applied.returncode, "wheelplan apply", log)
        return Sample.of({"plan": plan, "apply": applied})

    def _flags(self, flags: frozenset[str], cache: Path) -> list[str]:
        """Cache flags for this row, plus --quiet (as pip gets) so no progress bar is timed."""
        out = ["--quiet"] if "--quiet" in flags else []
        cached = self.warm or self.fills_cache
        out += ["--no-cache"] if not cached and "--no-cache" in flags else []
        return out + (["--cache-dir", str(cache)] if "--cache-dir" in flags else [])


class WheelplanInstallRow(WheelplanRow):
    """`wheelplan install`: planning and applying in one process, with no plan file between
    them. Not what the goals measure (they time `plan` then `apply`, as a reviewed install
    runs), but what an image build that needs no review would run. Same cache flags."""

    def __init__(self, warm: bool) -> None:
        super().__init__(warm)
        self.name = "wheelplan install warm" if warm else "wheelplan install cold"

    def run(self, ctx: SetContext, work: Path, fresh_cache: Path, log: Path) -> Sample:
        """Install ctx.wheels into the fresh venv in one `wheelplan install`."""
        wp = ctx.wheelplan
        cache = self.warm_cache if self.warm and self.warm_cache else fresh_cache
        python = str(work / "venv" / "bin" / "python")
        command = [*wp.command, "install", *map(str, ctx.wheels), "--python", python]
        command += self._flags(wp.plan_flags | wp.apply_flags, cache)
        timed = run_timed(command, log, timeout=ctx.timeout)
        checked(timed.returncode, "wheelplan install", log)
        return Sample.of({"install": timed})


class UvRow(Row):
    """`uv pip install --no-deps --offline`, default link mode. Cold: a new empty --cache-dir
    per run; warm: a cache filled by one untimed install. uv hardlinks from its cache when the
    cache and the venv share a filesystem and copies otherwise; the report says which applies."""

    def __init__(self, warm: bool) -> None:
        self.warm = warm
        self.name = "uv warm" if warm else "uv cold"
        self.warm_cache: Path | None = None

    def prepare(self, ctx: SetContext) -> None:
        """Fill the warm cache once, untimed, through the same verified path as a timed run."""
        if self.warm:
            self.warm_cache = ctx.cache_root / "uv-warm-cache"
            remove_tree(self.warm_cache)
            self.warm_cache.mkdir(parents=True)
            measure(self, ctx, f"{self.slug()}-populate")

    def run(self, ctx: SetContext, work: Path, fresh_cache: Path, log: Path) -> Sample:
        """One uv process installing every wheel from local paths."""
        cache = self.warm_cache if self.warm and self.warm_cache else fresh_cache
        python = str(work / "venv" / "bin" / "python")
        command = [str(ctx.tools.uv), "pip", "install", "--no-deps", "--offline"]
        command += ["--python", python, "--cache-dir", str(cache), *map(str, ctx.wheels)]
        env = clean_env(["UV_"], {"UV_CACHE_DIR": str(cache), "UV_NO_PROGRESS": "1"})
        timed = run_timed(command, log, env=env, timeout=ctx.timeout)
        checked(timed.returncode, "uv pip install", log)
        return Sample.of({"uv": timed})


class PipRow(Row):
    """`pip --python <venv> install --no-deps --no-index --no-compile --no-cache-dir` from the
    bench venv: pip re-runs itself under the target interpreter, as a user of --python sees."""

    name = "pip"

    def run(self, ctx: SetContext, work: Path, fresh_cache: Path, log: Path) -> Sample:
        """Config files and PIP_* variables are ignored so this machine's pip.conf is not timed."""
        python = str(work / "venv" / "bin" / "python")
        command = [str(ctx.tools.python), "-m", "pip", "--python", python, "install"]
        command += ["--no-deps", "--no-index", "--no-compile", "--no-cache-dir"]
        command += ["--disable-pip-version-check", "--quiet", *map(str, ctx.wheels)]
        env = clean_env(["PIP_"], {"PIP_CONFIG_FILE": os.devnull})
        timed = run_timed(command, log, env=env, timeout=ctx.timeout)
        checked(timed.returncode, "pip install", log)
        return Sample.of({"pip": timed})


class InstallerRow(Row):
    """pypa/installer through bench/installer_driver.py: one process, wheels in sequence."""

    name = "installer"

    def run(self, ctx: SetContext, work: Path, fresh_cache: Path, log: Path) -> Sample:
        """Run by the fresh venv's python so installer sees that venv's sysconfig scheme."""
        python = str(work / "venv" / "bin" / "python")
        command = [python, str(BENCH_DIR / "installer_driver.py"), *map(str, ctx.wheels)]
        env = clean_env(["PYTHONPATH"], {"PYTHONPATH": str(ctx.tools.installer_path)})
        timed = run_timed(command, log, env=env, timeout=ctx.timeout)
        checked(timed.returncode, "installer driver", log)
        return Sample.of({"installer": timed})


class FloorRow(Row):
    """bench/floor.py, no installer logic. Cold: inflate and write every member with 2 threads.
    Warm: hardlink every file of the wheels, unpacked once untimed, with 2 processes."""

    needs_venv = False

    def __init__(self, warm: bool) -> None:
        self.warm = warm
        self.name = "floor warm" if warm else "floor"
        self.unpacked: Path | None = None

    def prepare(self, ctx: SetContext) -> None:
        """Warm: unpack the wheels beside the other rows' caches (the same filesystem)."""
        if not self.warm:
            return
        self.unpacked = ctx.cache_root / "floor-warm-cache"
        remove_tree(self.unpacked)
        self.unpacked.mkdir(parents=True)
        log = ctx.logs / f"{self.slug()}-populate.log"
        command = [str(ctx.target_python), str(BENCH_DIR / "floor.py"), "--unpack"]
        timed = run_timed([*command, str(self.unpacked), *map(str, ctx.wheels)], log)
        checked(timed.returncode, "floor unpack", log)

    def run(self, ctx: SetContext, work: Path, fresh_cache: Path, log: Path) -> Sample:
        """Write into work/out, a new folder on the same filesystem as the venvs."""
        out = work / "out"
        out.mkdir()
        command = [str(ctx.target_python), str(BENCH_DIR / "floor.py")]
        if self.warm:
            assert self.unpacked is not None, "prepare() unpacks the wheels first"
            command += ["--link", str(self.unpacked), str(out)]
        else:
            command += [str(out), *map(str, ctx.wheels)]
        timed = run_timed(command, log, timeout=ctx.timeout)
        checked(timed.returncode, self.name, log)
        return Sample.of({self.name: timed})


def all_rows() -> list[Row]:
    """Every row in table order; --installers picks a subset by name."""
    return [
        WheelplanRow(warm=False),
        WheelplanRow(warm=False, fills_cache=True),
        WheelplanRow(warm=True),
        WheelplanInstallRow(warm=False),
        WheelplanInstallRow(warm=True),
        UvRow(warm=False),
        UvRow(warm=True),
        PipRow(),
        InstallerRow(),
        FloorRow(warm=False),
        FloorRow(warm=True),
    ]


def probe_wheelplan(command: tuple[str, ...]) -> Wheelplan:
    """Read `plan --help` and `apply --help` so only flags the CLI has today are passed."""
    flags: dict[str, frozenset[str]] = {}
    for sub in ("plan", "apply"):
        argv = [*command, sub, "--help"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Wheelplan(command, error=f"`{shlex.join(argv)}` failed: {exc}")
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return Wheelplan(
                command, error=f"`{shlex.join(argv)}` exited {done.returncode}: {last[0]}"
            )
        flags[sub] = frozenset(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", done.stdout))
    return Wheelplan(command, flags["plan"], flags["apply"])
