"""Offline HTML export of executed notebooks, on notebooks built in the test (no kernel)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest

from kitlib import notebook as kn
from kitlib.errors import NotebookError
from kitlib.reporting.export import PLOTLY_MIMETYPE, ReportHeader, export_html, external_references, plotly_js

HOSTILE = "<img src=x onerror=alert(1)>"
GENERATED = dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)


def figure_output(label: str) -> nbformat.NotebookNode:
    fig = go.Figure(go.Bar(x=[label], y=[1]))
    return nbformat.v4.new_output("display_data", data={PLOTLY_MIMETYPE: fig.to_dict(), "text/plain": "Figure()"})


def executed_notebook(*, figures: int = 2, run: dict | None = None, extra: list | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('lookback = "30d"', metadata={"tags": ["parameters"]})
    code = nbformat.v4.new_code_cell("secret_code_marker = 1\nfigures")
    code.outputs = [figure_output(f"bar {i} {HOSTILE}") for i in range(figures)]
    if run is not None:
        data, metadata = kn.glue_bundle(kn.RUN_GLUE, run)
        code.outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=metadata))
    data, metadata = kn.glue_bundle("will_break", 3)
    code.outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=metadata))
    code.outputs.append(nbformat.v4.new_output("stream", name="stderr", text="FutureWarning: noise\n"))
    code.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": kn.note(HOSTILE).html}))
    code.outputs.extend(extra or [])
    nb.cells = [nbformat.v4.new_markdown_cell("# Readiness"), params, code]
    return nb


RUN = {
    "workspace": "demo-tenant (local folder)",
    "start": "2026-10-28T00:00:00+00:00",
    "end": "2026-11-27T00:00:00+00:00",
    "lookback": "30d",
    "kit_version": "9.9.9",
    "missing_tables": ["AADNonInteractiveUserSignInLogs"],
    "warnings": [f"table {HOSTILE} is not in this workspace"],
    "complete": False,
    "pseudonymized": True,
    "pseudonym_key": "one-off key for this run: pseudonyms cannot be linked to other reports",
}


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, object]:
    out = tmp_path_factory.mktemp("export") / "report.html"
    result = export_html(executed_notebook(run=RUN), out, generated_at=GENERATED)
    return out.read_text(encoding="utf-8"), result


def test_report_has_no_external_urls(page: tuple[str, object]) -> None:
    html, _ = page
    assert external_references(html) == []
    page_only = html.replace(plotly_js(), "").lower()  # plotly.js itself mentions MathJax
    assert "cdnjs" not in page_only and "require.js" not in page_only and "mathjax" not in page_only


def test_every_figure_is_drawn_and_plotly_js_is_embedded_once(page: tuple[str, object]) -> None:
    html, result = page
    assert result.figures == 2  # type: ignore[attr-defined]
    assert html.count('class="plotly-graph-div"') == 2
    assert html.count(plotly_js()) == 1
    assert html.index(plotly_js()) < html.index('class="plotly-graph-div"')


def test_code_glue_and_stderr_are_hidden(page: tuple[str, object]) -> None:
    html, _ = page
    assert "secret_code_marker" not in html
    assert "scrapbook" not in html
    assert "FutureWarning" not in html
    assert 'lookback = "30d"' not in html


def test_header_says_what_was_analysed_and_what_was_missing(page: tuple[str, object]) -> None:
    html, _ = page
    header = html[html.index('<header class="kit-header">') : html.index("</header>")]
    assert "<h1>Readiness</h1>" in header
    assert "demo-tenant (local folder)" in header
    assert "2026-10-28 00:00:00 UTC" in header and "2026-11-27 00:00:00 UTC" in header
    assert "2026-11-27 08:30 UTC" in header
    assert "9.9.9" in header
    assert "AADNonInteractiveUserSignInLogs" in header
    assert "Some results are partial" in header
    assert "one-off key for this run" in header


def test_data_strings_are_escaped_everywhere(page: tuple[str, object]) -> None:
    html, _ = page
    assert HOSTILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the note and the header warning
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in html  # inside the figure JSON


def test_a_notebook_without_a_run_record_says_so(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = export_html(executed_notebook(figures=0), out, generated_at=GENERATED)
    html = out.read_text(encoding="utf-8")
    assert result.figures == 0
    assert plotly_js()[:2000] not in html
    assert "did not record what it analysed" in html


def test_a_failed_notebook_is_never_exported(tmp_path: Path) -> None:
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=["boom"])
    out = tmp_path / "r.html"
    with pytest.raises(NotebookError):
        export_html(executed_notebook(run=RUN, extra=[error]), out)
    assert not out.exists()


def test_header_escapes_hostile_workspace_names() -> None:
    header = ReportHeader.from_run("T", {"workspace": HOSTILE, "missing_tables": [HOSTILE]}, generated_at=GENERATED)
    html = header.to_html()
    assert "<img" not in html and html.count("&lt;img") == 2


def test_external_references_spots_every_kind_of_outside_url() -> None:
    page = (
        '<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//cdn.example/a.css">'
        '<img src="http://example/p.png"><a href="#local">ok</a><a href="data.csv">ok</a>'
        "<style>@import url('https://fonts.example/f.css');</style>"
    )
    assert len(external_references(page)) == 4


def test_figure_labels_from_logs_are_entity_escaped_for_plotly() -> None:
    import pandas as pd

    from kitlib.render import figures

    frame = pd.DataFrame({"OperationNameValue": [HOSTILE, "microsoft.web/sites/write"], "Operations": [5, 3]})
    fig = figures.top_bar(frame, "OperationNameValue", "Operations", title=HOSTILE)
    assert list(fig.data[0].y) == ["microsoft.web/sites/write", "&lt;img src=x onerror=alert(1)&gt;"]
    assert fig.layout.title.text == "&lt;img src=x onerror=alert(1)&gt;"


def test_empty_inputs_draw_a_figure_that_says_so() -> None:
    import pandas as pd

    from kitlib.render import figures

    fig = figures.writes_by_day(pd.DataFrame(columns=["Day", "TokenHasMfa", "Operations"]))
    assert fig.layout.annotations[0].text == "No data in this window."
    no_runs = figures.burn_down(pd.DataFrame(columns=["run_at", "will_break"]))
    assert no_runs.layout.annotations[0].text.startswith("The trend starts with the next scheduled run")
