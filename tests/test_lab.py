"""JupyterLab, the analysts' desk, proven: its server runs a kit notebook, and a browser shows it.

The lab is started as ``make lab`` starts it (the kit's kernel, the demo tenant as the default
workspace), headless on a free port. One test opens a notebook through the server's API with the
``kitlib`` kernel and runs it to the end; the other drives headless Chromium to the lab's URL and
checks that the executed notebook renders with its figures, keeping a screenshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from chromium import Chromium, find_chromium
from conftest import NOW, REPO
from jupyterlab_server import LabServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lab")]

ARTIFACTS = REPO / "build" / "test-artefacts"
NOTEBOOK = "identities_at_risk.ipynb"


def _pin_now(source: Path, target: Path) -> None:
    """The notebook as an analyst would edit it: the parameters cell's ``now`` pinned to the demo's end."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    text = "".join(cell["source"])
    assert 'now: str = ""' in text
    cell["source"] = text.replace('now: str = ""', f'now: str = "{NOW.isoformat()}"')
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


@pytest.fixture(scope="module")
def lab(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    root = tmp_path_factory.mktemp("lab-root")
    _pin_now(REPO / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    with LabServer(root, tmp_path_factory.mktemp("lab-state"), env={"KITLIB_WORKSPACE": str(demo_workspace)}) as server:
        yield server


@pytest.fixture(scope="module")
def executed(lab: LabServer) -> dict[str, Any]:
    return lab.run_notebook(NOTEBOOK, "kitlib")


def test_the_lab_runs_a_kit_notebook_on_the_kit_kernel(lab: LabServer, executed: dict[str, Any]) -> None:
    assert [s["kernel"]["name"] for s in lab.api("GET", "/api/sessions")] == []  # the session was closed
    outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    tables = [o for o in outputs if "kit-table" in str(o.get("data", {}).get("text/html", ""))]
    assert figures and tables
    saved = lab.api("GET", f"/api/contents/{NOTEBOOK}?content=1&type=notebook")["content"]
    assert sum(len(c.get("outputs", [])) for c in saved["cells"]) == len(outputs)


def test_the_lab_shows_the_executed_notebook_with_its_figures_in_a_browser(
    lab: LabServer, executed: dict[str, Any]
) -> None:
    browser = find_chromium()
    figures = sum(
        "application/vnd.plotly.v1+json" in o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", [])
    )
    with Chromium(browser) as page:
        page.navigate(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}&reset")
        page.wait_for("!!document.querySelector('.jp-Notebook .jp-Cell')")
        page.wait_for(f"document.querySelectorAll('.jp-Notebook .js-plotly-plot svg.main-svg').length >= {figures}")
        page.wait_for("document.querySelectorAll('.jp-Notebook table.kit-table').length >= 1")
        state = page.evaluate(
            "({dialogs: document.querySelectorAll('.jp-Dialog').length,"
            " kernel: (document.querySelector('.jp-Toolbar-kernelName') || {}).textContent || ''})"
        )
        page.evaluate("document.querySelector('.jp-Notebook .js-plotly-plot').scrollIntoView({block: 'center'})")
        shot = page.screenshot(ARTIFACTS / "jupyterlab-identities_at_risk.png")
        outside = sorted(
            {
                u
                for u in page.requests
                if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).hostname != "127.0.0.1"
            }
        )
    assert state["dialogs"] == 0, "the lab asked something (a missing kernel?)"
    assert "kitlib" in state["kernel"].lower() or "python (kitlib)" in state["kernel"].lower()
    assert outside == [], "the lab or the notebook reached outside the machine"
    assert shot.stat().st_size > 20_000
