"""Configuration errors: each names its file, 1-based line and column, and key path.

A :class:`ConfigError` renders as ``config/queues.yaml:14:7 queues.billing.overflow.after:
must be a duration like 30s``. Validation collects every error of a configuration tree and
raises them together as one :class:`ConfigErrors`, so IT fixes everything in one round.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigError:
    """One problem in one place of the configuration.

    ``file`` is the path as it was reached from the configuration directory given by the
    caller (so relative to the working directory when that directory was relative);
    ``line`` and ``column`` are 1-based; ``key_path`` is the dotted path of the offending
    key (list items by index, e.g. ``rules.2.match.channel``), or ``""`` when the problem is
    the file itself (broken YAML, missing file).
    """

    file: str
    line: int
    column: int
    key_path: str
    message: str

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}:{self.column}"
        if self.key_path:
            return f"{place} {self.key_path}: {self.message}"
        return f"{place}: {self.message}"


class ConfigErrors(Exception):
    """Every error found in one validation pass, in file order; ``errors`` is never empty."""

    def __init__(self, errors: list[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.column, e.key_path, e.message))
        super().__init__(f"{len(self.errors)} configuration error(s); first: {self.errors[0]}")

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
