"""Build the example wheels that `make demo` plans and applies, byte-identical every run.

Two namespace wheels share an identical `acme/__init__.py` (the nvidia-*-cu12 case);
`acme-fast` and `acme-slow` both ship `acme/engine.py` with different content, which
the planner refuses until one is preferred.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.wheelfactory import Member, WheelSpec, build_wheel

SHARED_INIT = b"# acme: a namespace shared by several distributions\n"

EXAMPLES = [
    WheelSpec(
        name="acme-core",
        version="1.2.0",
        files={
            "acme/__init__.py": SHARED_INIT,
            "acme/core.py": (
                b"def greet():\n    return 'hello from acme.core'\n\n\n"
                b"def main():\n    print(greet())\n    return 0\n"
            ),
        },
        entry_points="[console_scripts]\nacme-hello = acme.core:main\n",
    ),
    WheelSpec(
        name="acme-plugins",
        version="0.4.1",
        files={
            "acme/__init__.py": SHARED_INIT,
            "acme/plugins.py": b"NAMES = ('alpha', 'beta')\n",
            "acme_plugins-0.4.1.data/scripts/acme-plugins": Member(
                "acme_plugins-0.4.1.data/scripts/acme-plugins",
                b"#!python\nimport acme.plugins\nprint(' '.join(acme.plugins.NAMES))\n",
                mode=0o755,
            ),
        },
        requires=("acme-core>=1.0",),
    ),
    WheelSpec(
        name="acme-fast",
        version="2.0.0",
        files={
            "acme/__init__.py": SHARED_INIT,
            "acme/engine.py": b"SPEED = 'fast'\n",
        },
        requires=("acme-core>=1.0",),
    ),
    WheelSpec(
        name="acme-slow",
        version="1.0.0",
        files={
            "acme/__init__.py": SHARED_INIT,
            "acme/engine.py": b"SPEED = 'slow'\n",
        },
    ),
]


def build_examples(directory: Path) -> list[Path]:
    return [build_wheel(spec, directory) for spec in EXAMPLES]


if __name__ == "__main__":
    for path in build_examples(Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples")):
        print(path)
