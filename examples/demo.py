"""`make demo`: the main job on the example wheels, offline, start to finish.

Builds the example wheels, creates a fresh venv under build/demo, shows the planner
refusing the overlap with different content, plans again with a winner, reviews
the saved plan, applies it, and runs what was installed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build import build_examples  # noqa: E402

WORK = HERE.parent / "build" / "demo"


def step(title: str, *command: str, expect: int = 0) -> None:
    """Run one command of the demo; an empty title continues the step before."""
    heading = f"\n=== {title}\n" if title else ""
    print(f"{heading}$ {shlex.join(command)}", flush=True)
    result = subprocess.run(command, check=False)
    if result.returncode != expect:
        raise SystemExit(f"demo: expected exit {expect}, got {result.returncode}")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    wheels = build_examples(WORK / "wheels")
    venv.create(WORK / "env", with_pip=False)
    python = str(WORK / "env" / "bin" / "python")
    wheelplan = [sys.executable, "-m", "wheelplan"]
    names = [str(path) for path in wheels]
    plan = str(WORK / "plan.json")
    step(
        "Dry run: acme-fast and acme-slow ship different acme/engine.py, so the planner refuses",
        *wheelplan,
        "plan",
        *names,
        "--python",
        python,
        expect=1,
    )
    step(
        "Plan again, choosing acme-fast as the winner, and save the plan",
        *wheelplan,
        "plan",
        *names,
        "--python",
        python,
        "--prefer",
        "acme-fast",
        "-o",
        plan,
    )
    step("Review the saved plan", *wheelplan, "show", plan)
    step("Apply it", *wheelplan, "apply", plan)
    step(
        "The environment imports what was planned",
        python,
        "-c",
        "import acme.core, acme.engine, acme.plugins; "
        "print('acme.engine.SPEED =', acme.engine.SPEED)",
    )
    step("The console script and the .data script run", str(WORK / "env" / "bin" / "acme-hello"))
    step("", str(WORK / "env" / "bin" / "acme-plugins"))
    print("\ndemo: done; the environment is in", WORK / "env")


if __name__ == "__main__":
    main()
