"""Every notebook, through papermill, on the demo tenant: with defaults and with other parameters.

Two batch runs (module fixtures) serve every assertion: kernels cost ~5-10 s each, so each
notebook executes twice in this file, not once per test. The values checked are what the
notebooks glue, compared against the analysis computed here, outside the kernels.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from chromium import find_chromium
from conftest import readable_text

from kitlib.analysis.impact import analyze
from kitlib.backends.local import LocalBackend
from kitlib.environment import PSEUDONYM_KEY_ENV
from kitlib.privacy.pseudonyms import Pseudonymizer
from kitlib.render.glue import read_glued
from kitlib.reporting.batch import render_report
from kitlib.reporting.export import PLOTLY_MIMETYPE, external_references, plotly_js
from kitlib.reporting.outcome import ReportRun
from kitlib.reporting.params import SHARED_PARAMETERS, available_notebooks, notebook_parameters

# Kernel runs are shared through module fixtures: keep each module on one xdist worker
# (`pytest -n 2 --dist loadgroup`), or every worker would repeat the batch runs.
pytestmark = [pytest.mark.notebook, pytest.mark.xdist_group("notebooks-demo")]

REPO = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=1)
KEY = "test-key-for-the-pseudonymised-run"
NOTEBOOKS = (
    "readiness_overview",
    "identities_at_risk",
    "automation_accounts",
    "tools_and_versions",
    "identity_drilldown",
)
ARTIFACTS = REPO / "build" / "test-artifacts"


@pytest.fixture(scope="module")
def truth(demo_workspace: Path) -> dict[str, Any]:
    return json.loads((demo_workspace / "ground_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reference(demo_workspace: Path) -> Any:
    """The analysis the default run's notebooks must agree with, computed outside any kernel."""
    return analyze(LocalBackend(demo_workspace, now=NOW), now=NOW, lookback=dt.timedelta(days=30))


@pytest.fixture(scope="module")
def default_run(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    out = tmp_path_factory.mktemp("default") / "report"
    return render_report(str(demo_workspace), out, now=NOW, lookback=dt.timedelta(days=30), jobs=2, progress=False)


@pytest.fixture(scope="module")
def shared_run(
    demo_workspace: Path, default_run: ReportRun, truth: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Pseudonymised, a day later, 14-day window, one break-glass account, a chosen identity.

    It reads the default run's history snapshot, so the trend has one earlier run.
    """
    people = sorted(
        (i for i in truth["identities"] if i["expected_verdict"] == "will_break" and not i["automation"]),
        key=lambda i: -i["arm_writes_without_mfa"],
    )
    robots = sorted((i for i in truth["identities"] if i["automation"]), key=lambda i: -i["arm_writes"])
    chosen, glass = people[0]["identity"], robots[0]["identity"]
    base = tmp_path_factory.mktemp("shared")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PSEUDONYM_KEY_ENV, KEY)
        run = render_report(
            str(demo_workspace),
            base / "report",
            now=LATER,
            lookback=dt.timedelta(days=14),
            pseudonymize=True,
            breakglass=[glass.upper()],
            parameters={"identity": chosen},
            history=default_run.out.parent / "history",
            reidentify_map=base / "private" / "map.csv",
            jobs=2,
            progress=False,
        )
    return {"run": run, "chosen": chosen, "glass": glass, "private": base / "private" / "map.csv"}


def glued(run: ReportRun, name: str) -> dict[str, Any]:
    return read_glued(run.out / "notebooks" / f"{name}.ipynb")


def counted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["breakglass"].astype(str).str.lower().isin(["true"])]


# -- the notebooks as committed ------------------------------------------------------------------


def test_the_kit_ships_the_five_notebooks_on_the_kitlib_kernel() -> None:
    assert [p.stem for p in available_notebooks()] == list(NOTEBOOKS)
    for path in available_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "kitlib", path.name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_parameter_line_is_typed_commented_and_readable_by_papermill(name: str) -> None:
    nb = nbformat.read(str(REPO / "notebooks" / f"{name}.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = [line for line in cell.source.splitlines() if line.strip()]
    params = notebook_parameters(name)
    assert [p.name for p in params] == [line.split(":")[0] for line in lines]  # none dropped by papermill
    assert all(p.help and p.type != "None" for p in params)
    assert set(SHARED_PARAMETERS) <= {p.name for p in params}


def test_lab_renders_the_figures_the_notebooks_emit(default_run: ReportRun) -> None:
    """JupyterLab draws application/vnd.plotly.v1+json through the extension plotly ships."""
    extension = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-plotly" / "package.json"
    assert extension.is_file()
    nb = nbformat.read(str(default_run.out / "notebooks" / "readiness_overview.ipynb"), as_version=4)
    bundles = [o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])]
    figures = [b for b in bundles if PLOTLY_MIMETYPE in b]
    assert figures and all("text/html" not in b for b in figures)


# -- default parameters -----------------------------------------------------------------------


def test_default_run_succeeds_for_every_notebook_and_writes_the_run_folder(default_run: ReportRun) -> None:
    assert default_run.exit_code == 0, [(r.name, r.error) for r in default_run.failed]
    assert [r.name for r in default_run.notebooks] == list(NOTEBOOKS)
    assert default_run.exports[:2] == ["identities.csv", "tools.csv"]
    assert {"worklists.xlsx", "summary.md"} <= set(default_run.exports)
    assert all((default_run.out / name).is_file() for name in default_run.exports)
    index = default_run.index.read_text(encoding="utf-8")
    for name in NOTEBOOKS:
        assert f'href="{name}.html"' in index
    assert f"{glued(default_run, 'readiness_overview')['will_break']} user identities would break" in index
    manifest = json.loads(default_run.manifest.read_text(encoding="utf-8"))
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"] * 5
    assert all(n["duration_seconds"] > 0 for n in manifest["notebooks"])


def test_overview_numbers_equal_the_analysis(default_run: ReportRun, reference: Any) -> None:
    got = glued(default_run, "readiness_overview")
    summary = reference.summary()
    assert got["will_break"] == summary["verdicts"]["will_break"] > 0
    for verdict in ("at_risk", "not_affected", "unknown"):
        assert got[verdict] == summary["verdicts"][verdict], verdict
    for key in (
        "identities",
        "breakglass",
        "will_break_automation",
        "will_break_ropc",
        "will_break_guests",
        "likely_automation",
        "ropc",
        "guests",
        "arm_writes",
        "arm_writes_without_mfa",
        "arm_writes_with_mfa",
        "share_with_mfa",
    ):
        assert got[key] == summary[key], key
    assert 0 < got["arm_writes_without_mfa"] <= got["arm_writes"]
    policy = reference.frames["arm_policy_mfa_events"]
    assert got["policy_audit_events"] == int(policy.loc[policy["Action"].str.startswith("audit"), "Events"].sum())
    assert got["enforcement_visible"] is (got["policy_deny_events"] > 0)
    assert got["history_runs"] == 0


def test_other_notebooks_agree_with_the_analysis(default_run: ReportRun, reference: Any) -> None:
    summary = reference.summary()
    at_risk = glued(default_run, "identities_at_risk")
    assert at_risk["listed"] == int(reference.identities["verdict"].isin(["will_break", "at_risk", "unknown"]).sum())
    assert {v: at_risk[v] for v in ("will_break", "at_risk", "unknown")} == {
        v: summary["verdicts"][v] for v in ("will_break", "at_risk", "unknown")
    }
    automation = glued(default_run, "automation_accounts")
    assert automation["likely_automation"] == summary["likely_automation"]
    assert (
        automation["automation_will_break"] == automation["will_break_automation"] == summary["will_break_automation"]
    )
    assert automation["automation_ropc"] == automation["ropc"] == summary["ropc"] > 0
    assert automation["will_break_ropc"] == summary["will_break_ropc"]
    tools = glued(default_run, "tools_and_versions")
    ids = counted(reference.identities)
    old = ids[ids["version_ok"] == "no"]
    assert tools["below_claims_versions"] == len(old) > 0
    assert tools["below_claims_versions_will_break_or_at_risk"] == int(
        old["verdict"].isin(["will_break", "at_risk"]).sum()
    )
    assert tools["tool_bands"] == len(reference.tools)


def assert_same_name_same_number(run: ReportRun) -> dict[str, Any]:
    """Every glued name shown on more than one page carries the same value on each; returns them."""
    pages = {name: glued(run, name) for name in NOTEBOOKS if name != "identity_drilldown"}
    seen: dict[str, dict[str, Any]] = {}
    for page, values in pages.items():
        for key, value in values.items():
            if key != "kitlib.run":
                seen.setdefault(key, {})[page] = value
    shared = {k: v for k, v in seen.items() if len(v) > 1}
    for key, by_page in shared.items():
        assert len({json.dumps(v) for v in by_page.values()}) == 1, (key, by_page)
    return {k: next(iter(v.values())) for k, v in shared.items()}


def test_a_number_shown_on_several_pages_is_the_same_on_each(default_run: ReportRun, reference: Any) -> None:
    shared = assert_same_name_same_number(default_run)
    summary = reference.summary()
    assert {"will_break", "at_risk", "likely_automation", "ropc", "will_break_ropc"} <= set(shared)
    assert {"will_break_automation", "below_claims_versions", "below_claims_versions_will_break_or_at_risk"} <= set(
        shared
    )
    for key in ("likely_automation", "ropc", "will_break_ropc", "will_break_automation"):
        assert shared[key] == summary[key], key
    # the overview's upgrade step states the same count as the tools page
    overview = (default_run.out / "readiness_overview.html").read_text(encoding="utf-8")
    upgrade = shared["below_claims_versions_will_break_or_at_risk"]
    assert f"Upgrade the clients of {upgrade:,} identities that would break or are at risk" in overview


def test_drilldown_defaults_to_the_top_writer_without_mfa(default_run: ReportRun, reference: Any) -> None:
    got = glued(default_run, "identity_drilldown")
    ids = counted(reference.identities)
    row = ids[ids["identity"] == got["identity"]].iloc[0]
    assert row["arm_writes_without_mfa"] == ids["arm_writes_without_mfa"].max()
    assert got["verdict"] == row["verdict"] == "will_break"
    assert got["writes_without_mfa"] == row["arm_writes_without_mfa"]
    assert got["timeline_rows"] > 0 and got["arm_signins"] >= 0


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_report_is_offline_with_figures_hidden_code_and_a_header(default_run: ReportRun, name: str) -> None:
    html = (default_run.out / f"{name}.html").read_text(encoding="utf-8")
    assert external_references(html) == []
    assert html.count(plotly_js()) == 1
    assert html.count('class="plotly-graph-div"') >= 1
    assert "kn.setup(" not in html and "ctx.glue(" not in html
    header = html[html.index('<header class="kit-header">') : html.index("</header>")]
    assert "local folder" in header and "2026-11-27 00:00:00 UTC" in header and "Kit version" in header
    nb = nbformat.read(str(default_run.out / "notebooks" / f"{name}.ipynb"), as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_report_draws_its_figures_in_a_real_browser_without_network(default_run: ReportRun) -> None:
    browser = find_chromium()
    page = (default_run.out / "readiness_overview.html").as_uri()
    offline = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--proxy-server=127.0.0.1:9",  # any network request fails
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=15000",
    ]
    dom = subprocess.run([browser, *offline, "--dump-dom", page], capture_output=True, text=True, timeout=180).stdout
    figures = next(r.figures for r in default_run.notebooks if r.name == "readiness_overview")
    assert dom.count('class="main-svg"') >= figures > 0  # plotly drew every figure
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "readiness_overview.png"
    subprocess.run(
        [browser, *offline, "--window-size=1280,4000", f"--screenshot={shot}", page], capture_output=True, timeout=180
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


# -- other parameters: pseudonymised, later, shorter, break-glass, chosen identity, trend -----------


def test_pseudonymised_run_succeeds_and_leaks_no_demo_identity(
    shared_run: dict[str, Any], truth: dict[str, Any]
) -> None:
    run: ReportRun = shared_run["run"]
    assert run.exit_code == 0, [(r.name, r.error) for r in run.failed] + run.warnings
    assert run.leak_hits == 0
    originals = {i["identity"] for i in truth["identities"]} | {i["user_id"] for i in truth["identities"]}
    for path in (p for p in run.out.rglob("*") if p.is_file()):
        text = readable_text(path).lower()
        leaked = [o for o in originals if o.lower() in text]
        assert not leaked, f"{path.name} contains {len(leaked)} original identifiers"
    assert "key from KITLIB_PSEUDONYM_KEY" in (run.out / "readiness_overview.html").read_text(encoding="utf-8")


def test_pseudonymised_run_names_no_absolute_path(shared_run: dict[str, Any], demo_workspace: Path) -> None:
    """Paths name users and hosts (/home/sven.martin/...): a shared run keeps them out of every file."""
    run: ReportRun = shared_run["run"]
    private = [str(demo_workspace), str(run.out.parent), sys.prefix, str(REPO)]
    for path in (p for p in run.out.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not [p for p in private if p in text], path.name
    manifest = json.loads((run.out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["workspace"] == f"{demo_workspace.name} (local folder)"


def test_drilldown_parameter_reaches_the_notebook_only_as_a_pseudonym(shared_run: dict[str, Any]) -> None:
    run: ReportRun = shared_run["run"]
    pseudonym = Pseudonymizer(KEY.encode()).pseudonym(shared_run["chosen"])
    got = glued(run, "identity_drilldown")
    assert got["identity"] == pseudonym
    assert got["verdict"] in ("will_break", "at_risk") and got["timeline_rows"] > 0
    nb = nbformat.read(str(run.out / "notebooks" / "identity_drilldown.ipynb"), as_version=4)
    assert nb.metadata.papermill["parameters"]["identity"] == pseudonym
    assert nb.metadata.papermill["parameters"]["lookback"] == "14d"


def test_breakglass_account_is_marked_and_left_out_of_the_counts(shared_run: dict[str, Any]) -> None:
    run: ReportRun = shared_run["run"]
    ids = pd.read_csv(run.out / "identities.csv")
    glass = Pseudonymizer(KEY.encode()).pseudonym(shared_run["glass"])
    assert ids.loc[ids["identity"] == glass, "breakglass"].tolist() == [True]
    kept = ids[~ids["breakglass"]]
    assert glued(run, "readiness_overview")["will_break"] == int((kept["verdict"] == "will_break").sum())
    assert glued(run, "automation_accounts")["likely_automation"] == int(
        (kept["automation_band"] == "likely_automation").sum()
    )
    overview = glued(run, "readiness_overview")
    assert (overview["identities"], overview["breakglass"]) == (len(ids), 1)
    assert overview["arm_writes_without_mfa"] == int(kept["arm_writes_without_mfa"].sum())
    assert glued(run, "automation_accounts")["ropc"] == int(kept["ropc"].sum())
    assert glued(run, "tools_and_versions")["below_claims_versions"] == int((kept["version_ok"] == "no").sum())
    assert_same_name_same_number(run)


def test_trend_compares_with_the_previous_scheduled_run(shared_run: dict[str, Any], default_run: ReportRun) -> None:
    run: ReportRun = shared_run["run"]
    snapshots = sorted((default_run.out.parent / "history").glob("snapshot-*.json"))
    assert [p.name for p in snapshots] == ["snapshot-20261127T000000Z.json", "snapshot-20261128T000000Z.json"]
    before = json.loads(snapshots[0].read_text(encoding="utf-8"))["identities"]
    p = Pseudonymizer(KEY.encode())
    before = {p.pseudonym(i): v for i, v in before.items()}
    ids = pd.read_csv(run.out / "identities.csv")
    now = {i: v for i, v in zip(ids["identity"], ids["verdict"], strict=True) if v in ("will_break", "at_risk")}
    now = {i: v for i, v in now.items() if not ids.loc[ids["identity"] == i, "breakglass"].iloc[0]}
    got = glued(run, "readiness_overview")
    assert got["history_runs"] == 1
    assert got["new_at_risk"] == len(set(now) - set(before))
    # Remediated needs evidence in the newer run (MFA'd writes and none without, or only MFA'd
    # ARM tokens); an identity that merely dropped out of the window is not counted.
    rows = ids.set_index("identity")
    fixed = [
        i
        for i in set(before) - set(now)
        if i in rows.index
        and rows.at[i, "verdict"] == "not_affected"
        and rows.at[i, "arm_writes_without_mfa"] == 0
        and (
            rows.at[i, "arm_writes"] > 0
            or (rows.at[i, "arm_signins_mfa"] > 0 and rows.at[i, "arm_signins_single_factor"] == 0)
        )
    ]
    assert got["remediated"] == len(fixed)


def test_reidentification_map_is_written_only_where_asked(shared_run: dict[str, Any]) -> None:
    run: ReportRun = shared_run["run"]
    mapping = pd.read_csv(shared_run["private"])
    assert shared_run["chosen"] in set(mapping["original"])
    assert not list(run.out.rglob("map.csv"))
    assert not [
        p
        for p in run.out.rglob("*.csv")
        if p.name not in ("identities.csv", "tools.csv") and p.parent.name != "worklists"
    ]


# -- an empty window: every page says so instead of failing -------------------------------------


@pytest.fixture(scope="module")
def empty_run(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    """Years before the demo tenant's logs begin: no identity touched ARM in the window."""
    out = tmp_path_factory.mktemp("empty") / "report"
    when = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    return render_report(
        str(demo_workspace), out, now=when, lookback=dt.timedelta(days=30), jobs=2, progress=False, keep_history=False
    )


def test_an_empty_window_renders_every_notebook_with_a_clear_empty_state(empty_run: ReportRun) -> None:
    assert empty_run.exit_code == 0, [(r.name, r.error) for r in empty_run.failed]
    index = empty_run.index.read_text(encoding="utf-8")
    assert "FAILED" not in index and "KeyError" not in index
    for name in ("readiness_overview", "identities_at_risk", "automation_accounts", "tools_and_versions"):
        page = (empty_run.out / f"{name}.html").read_text(encoding="utf-8")
        # Not "nothing happened": the window missed the data, and the page says where the data is.
        assert "holds no rows in any table: the data covers 2026-10-28" in page, name
        assert "Run with --now 2026-11-27T00:00:00Z --lookback 30d to analyse it" in page, name
        assert "there is nothing to show here" not in page, name
    assert glued(empty_run, "readiness_overview")["will_break"] == 0
    assert glued(empty_run, "identities_at_risk")["listed"] == 0
    drilldown = (empty_run.out / "identity_drilldown.html").read_text(encoding="utf-8")
    assert "No identity to examine" in drilldown
