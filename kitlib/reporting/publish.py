"""Publishing a run folder: the manifest, moving the staged run into place, or refusing to.

Work happens in a staging folder beside ``out`` and is moved in at the end, so a reader never
sees a half-written run; files an earlier run wrote are replaced, not mixed in.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kitlib.reporting.outcome import ReportRun
from kitlib.version import __version__


def manifest_dict(report: ReportRun) -> dict[str, Any]:
    return {
        "kit_version": __version__,
        "started_at": report.started_at,
        "duration_seconds": report.duration_seconds,
        "status": "ok" if report.ok else ("refused" if not report.published else "failed"),
        "parameters": report.parameters,
        "exports": report.exports,
        "worklists": report.worklists,
        "complete": report.complete,
        "missing_tables": report.missing_tables,
        "gaps": report.gaps,
        "coverage": report.coverage,
        "warnings": report.warnings,
        "leak_check": (
            None
            if not report.parameters.get("pseudonymize")
            else {"hits": report.leak_hits, "published": report.published}
        ),
        "notebooks": [asdict(r) for r in report.notebooks],
    }


def write_manifest(report: ReportRun, folder: Path) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest_dict(report), indent=2, default=str), encoding="utf-8")


def _previous_outputs(out: Path) -> list[Path]:
    """Files an earlier run wrote into ``out`` (from its manifest), to be replaced, not mixed."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return []
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    names = ["manifest.json", "index.html", *data.get("exports", [])]
    for run in data.get("notebooks", []):
        names.extend(n for n in (run.get("html"), run.get("executed")) if n)
    return [out / n for n in names]


def publish(staging: Path, out: Path) -> None:
    """Move the staged run into ``out``, replacing what the previous run there had written."""
    out.mkdir(parents=True, exist_ok=True)
    for old in _previous_outputs(out):
        if old.is_file() and (old.resolve() == out or out in old.resolve().parents):
            old.unlink()
    for item in sorted(staging.rglob("*")):
        if item.is_file():
            target = out / item.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, target)


def publish_refusal(report: ReportRun, out: Path) -> None:
    """On a leak: remove the previous run's outputs too, and leave only a manifest saying why."""
    out.mkdir(parents=True, exist_ok=True)
    for old in _previous_outputs(out):
        if old.is_file():
            old.unlink()
    for run in report.notebooks:
        run.html = None
        run.executed = None
        run.summary = {}
        run.error = run.error and "withheld (pseudonymised run)"
    report.exports = []
    write_manifest(report, out)
