"""PEP 668: a Python that another package manager owns is not planned for unasked.

Apart from the driver because two callers ask it: the planner, and a lock install
before it downloads anything for a target that would be refused anyway. Only the
marker's reading is the probe's (`target.py`).
"""

from __future__ import annotations

from planner.errors import Refused
from planner.target import TargetInfo

# PEP 668 asks for an installer's own message, suggesting a virtual environment, when
# the marker gives none.
_NO_MANAGER_MESSAGE = (
    "install into a virtual environment instead (python3 -m venv DIR, then --python DIR)"
)


def check_externally_managed(target: TargetInfo, break_system_packages: bool) -> None:
    """Refuse a target whose Python another package manager owns, as pip and uv do,
    unless the user passed --break-system-packages: files written under it would
    overwrite or shadow that manager's, and it would not know."""
    managed = target.externally_managed
    if managed is None or break_system_packages:
        return
    message = " ".join((managed.message or _NO_MANAGER_MESSAGE).split())
    raise Refused.one(
        managed.marker,
        f"{target.interpreter} is externally managed (PEP 668): {message}"
        " (--break-system-packages plans for it anyway)",
    )


__all__ = ["check_externally_managed"]
