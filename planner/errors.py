"""Refusals that carry every problem found, so the user sees them all at once."""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen
class Problem:
    """One thing wrong with one input; `subject` names the file the user must look at."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


class Refused(Exception):
    """Input that wheelplan will not act on; nothing has been written when it is raised."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))

    @classmethod
    def one(cls, subject: str, message: str) -> Refused:
        return cls([Problem(subject, message)])
