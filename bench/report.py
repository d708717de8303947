"""Results: medians, ratios to the baselines, goal checks, the machine, as a table and as JSON.

The goals come from the performance issue; the ratios are computed from medians of the same
run, on the same machine and filesystem, so they compare like with like even when absolute
seconds move between machines.
"""

import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procs import meminfo_bytes
from rows import Sample
from wheelsets import SetStats

BASELINES = ("uv cold", "uv warm", "pip")
# (row, baseline, the largest ratio that meets the goal)
GOALS = (
    ("wheelplan cold", "uv cold", 0.8),
    ("wheelplan cold", "pip", 0.5),
    ("wheelplan warm", "uv warm", 1.5),
)
MB = 1_000_000
_NAME = 24  # the row-name column: "wheelplan install cold" fits


@dataclass
class RowResult:
    """All samples of one row on one set, or why the row has none."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    def median(self) -> float | None:
        """Median wall seconds; none for a row that failed, so it cannot look fast."""
        if self.error or not self.samples:
            return None
        return statistics.median(s.seconds for s in self.samples)

    def peak_rss_mb(self, part: str | None = None) -> float | None:
        """Largest peak RSS over the runs, of one process (`part`) or of any of the row's."""
        peaks = [
            kb
            for s in self.samples
            for name, kb in s.max_rss_kb.items()
            if part is None or name == part
        ]
        return max(peaks) / 1024 if peaks else None

    def to_json(self, ratios: dict[str, float | None]) -> dict[str, Any]:
        """Everything measured for this row, raw samples included, for later comparison."""
        parts = sorted({p for s in self.samples for p in s.parts})
        return {
            "median_s": self.median(),
            "min_s": min((s.seconds for s in self.samples), default=None),
            "samples_s": [round(s.seconds, 4) for s in self.samples],
            # Each run's split between processes (`plan`, `apply`), to tell which one a
            # slow round slowed.
            "samples_parts_s": [
                {p: round(seconds, 4) for p, seconds in s.parts.items()} for s in self.samples
            ]
            if len(parts) > 1
            else None,
            "parts_median_s": {
                p: statistics.median(s.parts[p] for s in self.samples if p in s.parts)
                for p in parts
            },
            "peak_rss_mib": {p: self.peak_rss_mb(p) for p in parts},
            # KiB each run read from storage: a slow round that paged programs or wheels
            # back in from the disk shows here.
            "samples_read_kb": [s.read_kb for s in self.samples],
            "ratios": ratios,
            "error": self.error,
        }


@dataclass
class SetResult:
    """One wheel set's rows plus what the set installs."""

    name: str
    stats: SetStats
    rows: dict[str, RowResult]
    notes: list[str] = field(default_factory=list)

    def ratio(self, row: str, baseline: str) -> float | None:
        """row median / baseline median, when both exist."""
        mine, base = self._median(row), self._median(baseline)
        return mine / base if mine is not None and base else None

    def goals(self) -> list[dict[str, Any]]:
        """Each goal with its ratio and verdict (None when either side has no median)."""
        out = []
        for row, baseline, limit in GOALS:
            ratio = self.ratio(row, baseline)
            met = None if ratio is None else ratio <= limit
            out.append(
                {"row": row, "baseline": baseline, "limit": limit, "ratio": ratio, "met": met}
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The set's numbers as plain data."""
        rows = {
            name: r.to_json({b: self.ratio(name, b) for b in BASELINES})
            for name, r in self.rows.items()
        }
        stats = vars(self.stats) | {"installed_mb": self.stats.bytes / MB}
        return {"stats": stats, "rows": rows, "goals": self.goals(), "notes": self.notes}

    def _median(self, row: str) -> float | None:
        result = self.rows.get(row)
        return result.median() if result else None


def machine_info(target: Path, target_python_version: str) -> dict[str, Any]:
    """What the numbers depend on: cores, CPU, interpreter and the target's filesystem."""
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": target_python_version,
        "target_dir": str(target),
        "target_fs": filesystem_type(target),
        "proactive_reclaim": proactive_reclaim(),
        "free_page_reporting": free_page_reporting(),
    }


# The virtio device id of a memory balloon, and its feature bit for free page reporting.
_BALLOON, _REPORTING = "0x0005", 5


def free_page_reporting() -> bool:
    """Whether a virtio balloon hands the memory this machine frees back to its host: then a
    page touched again costs far more, which `procs.warm_memory` keeps out of the runs."""
    for device in Path("/sys/bus/virtio/devices").glob("*"):
        try:
            if (device / "device").read_text().strip() != _BALLOON:
                continue
            features = (device / "features").read_text().strip()
        except OSError:
            continue
        if len(features) > _REPORTING and features[_REPORTING] == "1":
            return True
    return False


def proactive_reclaim() -> str:
    """Whether the kernel pages out memory it finds idle (DAMON), and which pages: on such a
    machine the programs and wheels a round uses may have to come from the disk again."""
    actions = []
    for kdamond in sorted(Path("/sys/kernel/mm/damon/admin/kdamonds").glob("[0-9]*")):
        try:
            if (kdamond / "state").read_text().strip() != "on":
                continue
            for scheme in sorted(kdamond.glob("contexts/*/schemes/[0-9]*")):
                actions.append((scheme / "action").read_text().strip())
        except OSError:
            continue
    return f"DAMON: {', '.join(actions)}" if actions else "none found"


def filesystem_type(path: Path) -> str:
    """The type of the mount holding `path` (longest matching mount point in /proc/mounts)."""
    resolved, best, kind = str(path.resolve()), "", "unknown"
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].encode().decode("unicode_escape")  # /proc/mounts escapes spaces as \040
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, fields[2]
    return kind


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    total = meminfo_bytes("MemTotal")
    return None if total is None else round(total / 1024**3, 1)


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _first_line(text: str, width: int = 100) -> str:
    """A table cell for an error; the whole message was printed when it happened."""
    line = text.strip().splitlines()[0] if text.strip() else "failed"
    return line if len(line) <= width else line[: width - 3] + "..."


def format_set(result: SetResult) -> str:
    """The per-set table: medians, ratios to each baseline, peak memory, then the goals."""
    stats = result.stats
    lines = [
        f"== {result.name}: {stats.wheels} wheels, {stats.files} files, "
        f"{stats.bytes / MB:.1f} MB installed ==",
        *[f"   note: {note}" for note in result.notes],
        f"{'row':<{_NAME}}{'median s':>10}{'min s':>9}{'runs':>6}"
        f"{'x uv cold':>11}{'x uv warm':>11}{'x pip':>8}{'peak RSS MiB':>14}{'read MB':>9}",
    ]
    for name, row in result.rows.items():
        if row.error:
            lines.append(f"{name:<{_NAME}}  {_first_line(row.error)}")
            continue
        ratios = [_fmt(result.ratio(name, b), ".2f", "x") for b in BASELINES]
        lines.append(
            f"{name:<{_NAME}}{_fmt(row.median(), '.3f'):>10}"
            f"{_fmt(min((s.seconds for s in row.samples), default=None), '.3f'):>9}"
            f"{len(row.samples):>6}{ratios[0]:>11}{ratios[1]:>11}{ratios[2]:>8}"
            f"{_fmt(row.peak_rss_mb(), '.0f'):>14}"
            f"{_fmt(max((s.read_kb for s in row.samples), default=0) * 1024 / MB, '.1f'):>9}"
        )
    for goal in result.goals():
        verdict = {True: "met", False: "NOT met", None: "n/a"}[goal["met"]]
        lines.append(
            f"   goal: {goal['row']} <= {goal['limit']}x {goal['baseline']}: "
            f"{_fmt(goal['ratio'], '.2f', 'x')} {verdict}"
        )
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write results atomically enough for a CI artifact (whole file or the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
