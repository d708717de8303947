"""Progress lines redrawn in place on stderr, for a person at a terminal: the command
line draws them only when stderr is one, so scripts and logs never see them."""

from __future__ import annotations

import sys

from planner.review import human_size


class Bar:
    """A progress bar over bytes written, redrawn in place on stderr."""

    def __init__(self) -> None:
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        self.drawn = True
        width = 30
        # Totals come from the plan: one that understates them must not grow the bar.
        filled = min(width, max(0, width * done // total)) if total > 0 else width
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r[{bar}] {human_size(done):>9} / {human_size(total)} ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")


class Downloads:
    """Download progress, redrawn in place on stderr: a line only when there are wheels
    to fetch, ended only when drawn (a lock refused first has its error alone)."""

    def __init__(self) -> None:
        self.drawn = False

    def __call__(self, done: int, count: int, size: int, total: int) -> None:
        if not count:
            return
        of = f" / {total / 1e6:.1f}" if total else ""
        sys.stderr.write(f"\rdownloading wheels: {done}/{count}, {size / 1e6:.1f}{of} MB ")
        sys.stderr.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
