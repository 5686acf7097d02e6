"""``index.html``: an offline page linking a run's reports and saying, in plain words, how each went.

The page is a Jinja template (``kitlib/templates/run_index``) rendered with autoescaping on, so
no value from a run (notebook errors, warnings, the workspace name) can become markup.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from kitlib.render.html import visible_controls
from kitlib.reporting.export import status_sentence
from kitlib.reporting.outcome import ReportRun
from kitlib.resources import templates_dir
from kitlib.version import __version__

#: The overview's numbers the index repeats, with the words it puts after each.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("user identities would break", "will_break"),
    ("of them likely automation", "will_break_automation"),
    ("at risk", "at_risk"),
    ("writes without MFA per day", "writes_without_mfa_per_day"),
)


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "run_index")),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=lambda value: visible_controls(value) if isinstance(value, str) else value,
    )
    return environment.get_template("index.html.j2")


def index_context(report: ReportRun, generated_at: dt.datetime) -> dict[str, Any]:
    """What the index shows, as plain values (the template escapes them)."""
    params = report.parameters
    rows = [
        {
            "title": run.name.replace("_", " "),
            "html": run.html if run.status == "ok" and run.html else "",
            "status": status_sentence(
                run.status, figures=run.figures, seconds=run.duration_seconds, error=run.error or "", notebook=run.name
            ),
            "missing": ", ".join(run.missing_tables),
        }
        for run in report.notebooks
    ]
    overview = next((r.summary for r in report.notebooks if r.name == "readiness_overview" and r.status == "ok"), {})
    return {
        "workspace": Path(str(params.get("workspace"))).name or params.get("workspace"),
        "lookback": params.get("lookback"),
        "now": params.get("now"),
        "generated": generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        "kit_version": __version__,
        "pseudonymized": bool(params.get("pseudonymize")),
        # None: the page could not measure it (a table was absent); say so rather than print "None".
        "headline": [
            (label, "could not look:" if overview[key] is None else overview[key])
            for label, key in HEADLINE
            if key in overview
        ],
        "gaps": list(report.gaps),
        "rows": rows,
        "exports": list(report.exports),
        "warnings": [w for w in report.warnings if w not in set(report.gaps)],
    }


def write_index(report: ReportRun, folder: Path, generated_at: dt.datetime) -> None:
    """Write ``folder/index.html`` for ``report``."""
    page = _template().render(**index_context(report, generated_at))
    (folder / "index.html").write_text(page, encoding="utf-8")
