"""What a report run produced: each notebook's outcome, and the run's (the manifest is made of these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class NotebookRun:
    """One notebook's outcome in a run."""

    name: str
    source: str
    parameters: dict[str, Any]
    status: str = "pending"  # ok | failed | withheld
    duration_seconds: float = 0.0
    executed: str | None = None
    html: str | None = None
    html_bytes: int = 0
    figures: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    error: str | None = None


@dataclass
class ReportRun:
    """What a batch produced; ``exit_code`` is 0 only when every notebook succeeded and nothing leaked."""

    out: Path
    notebooks: list[NotebookRun]
    started_at: str
    duration_seconds: float
    parameters: dict[str, Any]
    exports: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: What the analysis could not see: absent tables, what that hides, and if every answer was whole.
    missing_tables: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    complete: bool = True
    #: Per present table: rows in all and in the window, oldest and newest row.
    coverage: list[dict[str, Any]] = field(default_factory=list)
    leak_hits: int = 0
    #: How the findings were routed to owners (owners, identities, unassigned).
    worklists: dict[str, Any] = field(default_factory=dict)
    published: bool = True

    @property
    def ok(self) -> bool:
        return self.published and self.leak_hits == 0 and all(r.status == "ok" for r in self.notebooks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.json"

    @property
    def failed(self) -> list[NotebookRun]:
        return [r for r in self.notebooks if r.status != "ok"]

    def console_warnings(self, limit: int = 25) -> list[str]:
        """The run's warnings for a terminal: the first ``limit``, then where the rest are."""
        shown = self.warnings[:limit]
        rest = len(self.warnings) - len(shown)
        return shown + ([f"... and {rest} more warning(s) in {self.manifest}"] if rest > 0 else [])
