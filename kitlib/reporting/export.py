"""Executed notebook -> one self-contained HTML report that opens offline.

Why not ``jupyter nbconvert --to html``: with plotly >= 6 a papermill run stores figures only as
``application/vnd.plotly.v1+json``, which nbconvert drops with a warning, and the stock ``lab``
template loads require.js, MathJax and mermaid from CDNs. Here, in process:

- code is hidden (inputs and prompts excluded); stderr noise and glue records are dropped;
- every plotly figure becomes an inline ``<div>`` + ``Plotly.newPlot`` call, and plotly.js is
  embedded once in the page head (only when there is a figure);
- the ``offline`` template (``kitlib/templates/offline``) removes the CDN blocks;
- a header says what was analysed (workspace, window, generated at, kit version) and what was
  missing (tables absent, partial results, warnings), every value HTML-escaped.

A notebook with an error output is never exported.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import plotly.io as pio
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from plotly.offline import get_plotlyjs
from traitlets.config import Config

from kitlib.errors import NotebookError, UsageError
from kitlib.render.glue import GLUE_PREFIX, LIVE_ONLY, RUN_GLUE, read_glued
from kitlib.render.html import esc
from kitlib.resources import templates_dir
from kitlib.version import __version__

log = logging.getLogger(__name__)

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
TEMPLATES = templates_dir()
_STATIC = TEMPLATES / "offline" / "static"
#: Cell tags whose cell, input or output never reaches the report (Jupyter Book's names).
REMOVE_CELL_TAGS = ("remove-cell", "parameters", "injected-parameters")


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the plotly wheel (no network)."""
    return str(get_plotlyjs())


@dataclass
class ReportHeader:
    """What the report header states; everything here is escaped when rendered."""

    title: str
    workspace: str = "unknown"
    start: str = ""
    end: str = ""
    lookback: str = ""
    generated_at: str = ""
    kit_version: str = ""
    missing_tables: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_run(
        cls, title: str, run: Mapping[str, Any] | None, *, generated_at: dt.datetime, notes: Iterable[str] = ()
    ) -> ReportHeader:
        """Build from the notebook's glued ``kitlib.run`` record (absent: say it is unknown)."""
        run = run or {}
        header = cls(
            title=title,
            workspace=str(run.get("workspace") or "unknown"),
            start=str(run.get("start") or ""),
            end=str(run.get("end") or ""),
            lookback=str(run.get("lookback") or ""),
            generated_at=generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            kit_version=str(run.get("kit_version") or __version__),
            missing_tables=[str(t) for t in run.get("missing_tables") or []],
            gaps=[str(g) for g in run.get("gaps") or []],
            warnings=[str(w) for w in run.get("warnings") or []],
            complete=bool(run.get("complete", True)),
            notes=[],
        )
        if not run:
            header.warnings.append("the notebook did not record what it analysed (no kitlib.run record)")
        if run.get("pseudonymized"):
            header.notes.append(f"User identities are pseudonymised ({run.get('pseudonym_key') or 'keyed HMAC'}).")
        header.notes.extend(notes)
        return header

    def to_html(self) -> str:
        """The header block; missing data is stated, never hidden."""

        def when(text: str) -> str:
            return text.replace("T", " ").replace("+00:00", " UTC") if text else "?"

        rows = [
            ("Workspace", esc(self.workspace)),
            (
                "Window",
                f"{esc(when(self.start))} &rarr; {esc(when(self.end))}"
                + (f" ({esc(self.lookback)})" if self.lookback else ""),
            ),
            ("Generated", esc(self.generated_at)),
            ("Kit version", esc(self.kit_version)),
        ]
        if self.missing_tables:
            rows.append(
                (
                    "Missing",
                    '<span class="kit-missing"><strong>Tables absent:</strong> '
                    + esc(", ".join(self.missing_tables))
                    + ". Findings that need them are incomplete.</span>",
                )
            )
            if self.gaps:
                items = "".join(f"<li>{esc(g)}</li>" for g in self.gaps)
                rows.append(("Could not judge", f'<ul class="kit-missing">{items}</ul>'))
        else:
            rows.append(("Missing", "nothing: every table the analysis reads was present"))
        if not self.complete:
            rows.append(
                (
                    "Partial",
                    '<span class="kit-missing"><strong>Some results are partial</strong>: '
                    "the service returned only part of the rows.</span>",
                )
            )
        if self.warnings:
            items = "".join(f"<li>{esc(w)}</li>" for w in self.warnings)
            rows.append(("Warnings", f'<ul class="kit-missing">{items}</ul>'))
        for note in self.notes:
            rows.append(("Note", esc(note)))
        body = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
        return f'<header class="kit-header"><h1>{esc(self.title)}</h1><dl>{body}</dl></header>'


class OfflineOutputs(Preprocessor):
    """Plotly JSON -> inline HTML; drop glue records, live-only displays and stderr streams."""

    def preprocess(
        self, nb: nbformat.NotebookNode, resources: dict[str, Any]
    ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        figures = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            kept = []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    raise NotebookError("the notebook has an error output; a failed run is never exported")
                if output.get("output_type") == "stream":
                    if output.get("name") == "stderr":
                        continue
                    kept.append(output)
                    continue
                data = output.get("data", {})
                if output.get("metadata", {}).get(LIVE_ONLY) or any(m.startswith(GLUE_PREFIX) for m in data):
                    continue
                if PLOTLY_MIMETYPE in data:
                    figures += 1
                    data["text/html"] = figure_html(data[PLOTLY_MIMETYPE], f"kit-fig-{figures}")
                    del data[PLOTLY_MIMETYPE]
                    data.pop("text/plain", None)
                kept.append(output)
            cell.outputs = kept
        resources["kitlib_figures"] = figures
        resources["kitlib_plotly_js"] = plotly_js() if figures else ""
        return nb, resources


def figure_html(spec: Mapping[str, Any], div_id: str) -> str:
    """A figure's div and its ``Plotly.newPlot`` call; plotly's JSON escapes ``<``/``>``."""
    layout = spec.get("layout") or {}
    height = int(layout.get("height") or 450) if isinstance(layout, Mapping) else 450
    return str(
        pio.to_html(
            dict(spec),
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_height=f"{height}px",
            div_id=div_id,
            validate=False,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _drop_repeated_title(nb: nbformat.NotebookNode, title: str) -> None:
    """The header already shows the title: drop a leading ``# title`` line that repeats it."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        if lines and lines[0].strip() == f"# {title}":
            cell.source = "\n".join(lines[1:]).lstrip("\n")
        return


@dataclass(frozen=True)
class ExportResult:
    """Where the HTML went, how big it is, and how many figures it draws."""

    path: Path
    bytes: int
    figures: int


def _exporter() -> HTMLExporter:
    config = Config()
    config.HTMLExporter.template_name = "offline"
    config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES)]
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    config.HTMLExporter.embed_images = True
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_CELL_TAGS)
    config.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    exporter = HTMLExporter(config=config)
    exporter.register_preprocessor(OfflineOutputs(), enabled=True)  # type: ignore[no-untyped-call]  # traitlets base
    return exporter


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's ``metadata.title``, else its first Markdown heading, else ``fallback``."""
    title = nb.metadata.get("title")
    if title:
        return str(title)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return str(line[2:]).strip()
    return fallback


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """An executed notebook from ``path``, or a UsageError saying why the file is not one."""
    try:
        nb: nbformat.NotebookNode = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it ({type(exc).__name__})") from None
    except (nbformat.reader.NotJSONError, json.JSONDecodeError):
        raise UsageError(f"{path}: not a notebook (the file is not JSON)") from None
    except (nbformat.ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UsageError(f"{path}: not a Jupyter notebook ({reason})") from None
    return nb


def export_html(
    notebook: nbformat.NotebookNode | Path,
    out: Path,
    *,
    generated_at: dt.datetime | None = None,
    notes: Iterable[str] = (),
    title: str | None = None,
) -> ExportResult:
    """Write ``notebook`` (executed) as one offline HTML file at ``out``."""
    if isinstance(notebook, nbformat.NotebookNode):
        nb = nbformat.from_dict(notebook)
        name = out.stem
    else:
        nb = read_notebook(Path(notebook))
        name = Path(notebook).stem
    glued = read_glued(nb)
    heading = title or notebook_title(nb, name.replace("_", " ").capitalize())
    header = ReportHeader.from_run(
        heading, glued.get(RUN_GLUE), generated_at=generated_at or dt.datetime.now(dt.UTC), notes=notes
    )
    nb.metadata["title"] = heading
    _drop_repeated_title(nb, heading)
    resources = {
        "metadata": {"name": name},
        "kitlib_header": header.to_html(),
        "kitlib_css": (_STATIC / "kit.css").read_text(encoding="utf-8"),
        "kitlib_js": (_STATIC / "kit.js").read_text(encoding="utf-8"),
    }
    body, resources = _exporter().from_notebook_node(nb, resources=resources)
    figures = int(str(resources.get("kitlib_figures", 0)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    size = out.stat().st_size
    log.info("exported %s: %d bytes, %d figure(s)", out, size, figures)
    return ExportResult(out, size, figures)


class _References(HTMLParser):
    """Collects every src/href/action/data attribute and CSS ``url(...)`` in a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "data", "poster", "srcset", "xlink:href") and value:
                self.found.append((tag, name, value.strip()))


_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"(?:@import\s+|url\(\s*)['\"]?((?:https?:)?//[^'\")\s]+)", re.IGNORECASE)


def external_references(page: str) -> list[str]:
    """Every URL in ``page`` a browser would fetch from elsewhere (must be empty for a report)."""
    parser = _References()
    parser.feed(page)
    refs = [f"<{tag} {name}={value}>" for tag, name, value in parser.found if _EXTERNAL.match(value)]
    refs.extend(f"css {m.group(1)}" for m in _CSS_URL.finditer(page))
    return refs


def status_sentence(status: str, *, figures: int = 0, seconds: float = 0.0, error: str = "", notebook: str = "") -> str:
    """One notebook's line on index.html, in plain words (plain text: escape it when rendering).

    ``ran in 11 s, 8 figures`` for a success; for a failure, what failed and where to look,
    instead of a raw ``FAILED: KeyError: 'verdict'``.
    """
    if status == "ok":
        drawn = f"{figures:,} figure" + ("" if figures == 1 else "s")
        return f"ran in {seconds:.0f} s, {drawn}"
    if status == "withheld":
        return "withheld: the pseudonymisation check found an identity that must not be shared"
    kind, _, detail = (error or "").partition(":")
    where = f" (the executed notebook is notebooks/{notebook}.ipynb)" if notebook else ""
    if not error:
        return f"did not finish{where}"
    cause = f"{kind.strip()} {detail.strip()}".strip() if detail else kind.strip()
    return f"did not finish: the notebook stopped with an error ({cause}){where}"
