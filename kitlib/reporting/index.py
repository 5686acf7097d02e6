"""``index.html``: an offline page linking a run's reports and saying, in plain words, how each went."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kitlib import __version__
from kitlib.render.html import esc
from kitlib.reporting.export import status_sentence
from kitlib.reporting.outcome import ReportRun


def write_index(report: ReportRun, folder: Path, generated_at: dt.datetime) -> None:
    """An offline page linking the reports and stating what failed (all text escaped)."""
    params = report.parameters
    rows = []
    for run in report.notebooks:
        sentence = status_sentence(
            run.status, figures=run.figures, seconds=run.duration_seconds, error=run.error or "", notebook=run.name
        )
        status = esc(sentence)
        if run.status == "ok" and run.html:
            link = f'<a href="{esc(run.html)}">{esc(run.name.replace("_", " "))}</a>'
        else:
            link = esc(run.name.replace("_", " "))
        gaps = ""
        if run.missing_tables:
            gaps = f"tables absent: {esc(', '.join(run.missing_tables))}"
        rows.append(f"<tr><td>{link}</td><td>{status}</td><td>{gaps}</td></tr>")
    exports = "".join(f'<li><a href="{esc(name)}">{esc(name)}</a></li>' for name in report.exports)
    overview = next((r.summary for r in report.notebooks if r.name == "readiness_overview" and r.status == "ok"), {})
    headline = ""
    if overview:
        parts = [
            (label, overview[key])
            for label, key in (
                ("user identities would break", "will_break"),
                ("of them likely automation", "will_break_automation"),
                ("at risk", "at_risk"),
                ("writes without MFA per day", "writes_without_mfa_per_day"),
            )
            if key in overview
        ]
        headline = "<p><strong>" + " &middot; ".join(f"{esc(v)} {esc(k)}" for k, v in parts) + "</strong></p>"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in report.warnings)
    window = f"{esc(params.get('lookback'))} ending {esc(params.get('now'))}"
    workspace = esc(Path(str(params.get("workspace"))).name or params.get("workspace"))
    generated = esc(generated_at.strftime("%Y-%m-%d %H:%M UTC"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>MFA readiness report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:32px auto;padding:0 16px;color:#1f2328}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #d8dee4;padding:6px 12px;text-align:left}}
.meta{{color:#57606a}}</style></head>
<body><h1>MFA readiness report</h1>
<p class="meta">Workspace {workspace} &middot; window {window} &middot; generated {generated}
&middot; kit {esc(__version__)}
{" &middot; identities pseudonymised" if params.get("pseudonymize") else ""}</p>
{headline}
<table><thead><tr><th>Report</th><th>Status</th><th>Gaps</th></tr></thead><tbody>{"".join(rows)}</tbody></table>
{f"<h2>Data files</h2><ul>{exports}</ul>" if exports else ""}
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
<p class="meta">Executed notebooks are in <code>notebooks/</code>;
manifest.json lists parameters, durations and summary numbers.</p>
</body></html>
"""
    (folder / "index.html").write_text(page, encoding="utf-8")
