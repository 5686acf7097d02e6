"""Partial evidence: a small demo tenant with tables taken away, through the real ``kitlib report``.

Most people start with one export. Each of the five tables removed in turn, and only
SigninLogs / only AzureActivity: ``kitlib report`` must exit 0, publish every page, and say in
the console, the manifest, each page's header and in place what it could not judge and why.
A misplaced window (``--now`` far from the data) must name the data's range and a ``--now``
that covers it.

The cases run as real CLI processes, two at a time with one kernel each (a kernel costs ~5 s of
CPU; two processes keep both cores busy without oversubscribing them), once per module.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kitlib.demo import generate
from kitlib.domain.schema import TABLES
from kitlib.render.glue import read_glued
from kitlib.reporting.params import available_notebooks

# Kernel runs are shared through module fixtures: keep this module on one xdist worker.
pytestmark = [pytest.mark.notebook, pytest.mark.xdist_group("partial-workspaces")]

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
NOW_TEXT = "2026-11-27T00:00:00Z"
DAYS = 7  # the demo data covers 7 days of the default 30-day window
NOTEBOOKS = tuple(path.stem for path in available_notebooks())  # every page the kit ships
IDENTITY_SOURCES = ("AzureActivity", "SigninLogs", "AADNonInteractiveUserSignInLogs")
SIGNIN_TABLES = ("SigninLogs", "AADNonInteractiveUserSignInLogs")
WORKLOAD_TABLES = ("AADServicePrincipalSignInLogs", "AADManagedIdentitySignInLogs")

CASES: dict[str, tuple[str, ...]] = {f"without-{t}": tuple(x for x in TABLES if x != t) for t in TABLES}
CASES["only-SigninLogs"] = ("SigninLogs",)
CASES["only-AzureActivity"] = ("AzureActivity",)


@dataclass
class Case:
    """One ``kitlib report`` run on a workspace holding only ``kept`` tables."""

    name: str
    kept: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    out: Path
    seconds: float

    @property
    def missing(self) -> list[str]:
        return sorted(t for t in TABLES if t not in self.kept)

    @property
    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out / "manifest.json").read_text(encoding="utf-8"))
        return data

    def page(self, notebook: str) -> str:
        return (self.out / f"{notebook}.html").read_text(encoding="utf-8")

    def glued(self, notebook: str) -> dict[str, Any]:
        return read_glued(self.out / "notebooks" / f"{notebook}.ipynb")


def text_of(markup: str) -> str:
    """The words of an HTML page (scripts and styles removed), as a reader sees them."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.DOTALL | re.IGNORECASE)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def header_of(markup: str) -> str:
    match = re.search(r'<header class="kit-header">.*?</header>', markup, re.DOTALL)
    assert match, "every published page has the report header"
    return text_of(match.group(0))


def body_of(markup: str) -> str:
    """The page below its header: what the notebook's cells show."""
    return text_of(markup.split("</header>", 1)[1])


def tiles_of(markup: str) -> str:
    """The words of a page's headline tiles (value then label), empty when it shows none."""
    match = re.search(r'<div class="kit-tiles">.*?</div></div></div>(?!<div class="kit-tile)', markup, re.DOTALL)
    return text_of(match.group(0)) if match else ""


def run_report(workspace: Path, out: Path, *extra: str) -> tuple[int, str, str, float]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "kitlib", "report", "--workspace", str(workspace), "--out", str(out)]
    command += ["--now", NOW_TEXT, "--no-progress", "--no-history", "--jobs", "1", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - started


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("partial-tenant")
    generate(out, users=60, days=DAYS, seed=11, now=NOW)
    return out


@pytest.fixture(scope="module")
def matrix(tenant: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    base = tmp_path_factory.mktemp("partial-cases")

    def one(name: str) -> Case:
        workspace = base / name / "workspace"
        workspace.mkdir(parents=True)
        for table in CASES[name]:
            shutil.copy(tenant / f"{table}.parquet", workspace / f"{table}.parquet")
        out = base / name / "report"
        code, stdout, stderr, seconds = run_report(workspace, out)
        return Case(name, CASES[name], code, stdout, stderr, out, seconds)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(one, CASES))
    timings = ", ".join(f"{c.name} {c.seconds:.0f}s" for c in runs)
    print(f"\npartial-workspace matrix: {timings}")  # shown with -s; the durations are in the manifests too
    return {c.name: c for c in runs}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest, matrix: dict[str, Case]) -> Case:
    return matrix[request.param]


# -- every page publishes ------------------------------------------------------------------------


def test_kitlib_report_exits_0_and_publishes_every_page(case: Case) -> None:
    assert case.exit_code == 0, case.stderr
    assert f"report: {case.out / 'index.html'}" in case.stdout
    manifest = case.manifest
    assert manifest["status"] == "ok"
    assert [n["name"] for n in manifest["notebooks"]] == list(NOTEBOOKS)
    for entry in manifest["notebooks"]:
        assert (entry["status"], entry["error"]) == ("ok", None), entry
        assert entry["html"] == f"{entry['name']}.html" and (case.out / entry["html"]).is_file()
    index = (case.out / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{name}.html"' in index for name in NOTEBOOKS)
    assert "<h2>Could not judge</h2>" in index and "None" not in text_of(index)
    if "AzureActivity" in case.missing:  # the index repeats the overview's numbers: unmeasured, not 0
        assert "could not look: user identities would break" in text_of(index)
    assert "Traceback" not in case.stderr


def test_the_console_and_the_manifest_state_every_absent_table_and_what_it_hides(case: Case) -> None:
    manifest = case.manifest
    assert manifest["missing_tables"] == case.missing
    assert len(manifest["gaps"]) == len(case.missing)
    for table in case.missing:
        gap = next(g for g in manifest["gaps"] if g.endswith(f"table {table} is not in the workspace"))
        assert gap.startswith("could not look at ")
        assert gap in manifest["warnings"]
        assert f"warning: {gap}" in case.stderr
    assert [c["table"] for c in manifest["coverage"]] == sorted(case.kept)
    assert all(c["rows_in_window"] > 0 for c in manifest["coverage"])
    assert manifest["complete"] is True


def test_the_workload_table_gap_is_said_not_silent(matrix: dict[str, Case]) -> None:
    """Without the workload tables the run used to exit 0 saying nothing; workload identities can
    then no longer be told apart from users."""
    for table in WORKLOAD_TABLES:
        case = matrix[f"without-{table}"]
        assert case.exit_code == 0
        assert "can no longer be told apart from users" in case.stderr
        automation = body_of(case.page("automation_accounts"))
        assert f"Could not look: {table} is not in this workspace" in automation


def test_every_page_header_names_the_absent_tables_and_what_could_not_be_judged(case: Case) -> None:
    for notebook in NOTEBOOKS:
        header = header_of(case.page(notebook))
        assert f"Tables absent: {', '.join(case.missing)}." in header, notebook
        assert "Could not judge" in header
        for table in case.missing:
            assert f"table {table} is not in the workspace" in header, (notebook, table)


def test_sections_that_need_an_absent_table_say_so_in_place(case: Case) -> None:
    overview = body_of(case.page("readiness_overview"))
    tools = body_of(case.page("tools_and_versions"))
    automation = body_of(case.page("automation_accounts"))
    drilldown = body_of(case.page("identity_drilldown"))
    if "AzureActivity" in case.missing:
        assert "Could not look: AzureActivity is not in this workspace, so this section shows no ARM writes" in overview
        assert "Could not look: AzureActivity is not in this workspace" in automation
        # The drill-down's default is the top writer without MFA, which only the activity log shows.
        assert "Could not choose an identity" in drilldown
    else:
        assert "Could not look: AzureActivity" not in overview
    absent_signins = [t for t in SIGNIN_TABLES if t in case.missing]
    if absent_signins == ["SigninLogs"]:
        said = (
            "Could not look: SigninLogs is not in this workspace, so this section shows no interactive sign-ins; "
            "AADNonInteractiveUserSignInLogs, read together with it, was not read either."
        )
    elif absent_signins == ["AADNonInteractiveUserSignInLogs"]:
        said = (
            "Could not look: AADNonInteractiveUserSignInLogs is not in this workspace, so this section shows no "
            "non-interactive token refreshes; SigninLogs, read together with it, was not read either."
        )
    elif absent_signins:
        said = (
            "Could not look: SigninLogs and AADNonInteractiveUserSignInLogs are not in this workspace, so this "
            "section shows no interactive sign-ins and non-interactive token refreshes."
        )
    if absent_signins:
        assert said in tools  # versions come from the sign-in tables only
        assert said in automation  # the hour-of-day grid and the token addresses
    else:
        assert "Could not look: SigninLogs" not in tools and "Could not look: AADNonInteractive" not in tools


def test_no_activity_is_said_only_where_the_kit_could_look(case: Case) -> None:
    for notebook in NOTEBOOKS:
        assert "No ARM activity by user identities in this window" not in case.page(notebook), notebook
    if case.name == "only-SigninLogs":  # nothing could be read: the sign-in tables are read together
        overview = body_of(case.page("readiness_overview"))
        assert "Could not look for ARM activity by user identities" in overview
        assert "An empty page here is not a finding" in overview


def test_numbers_that_could_not_be_measured_are_none_not_zero(case: Case) -> None:
    overview = case.glued("readiness_overview")
    no_activity = "AzureActivity" in case.missing
    counted_from_writes = ("will_break", "arm_writes", "arm_writes_without_mfa", "writes_without_mfa_per_day")
    for name in (*counted_from_writes, "policy_deny_events"):
        assert (overview[name] is None) == no_activity, name
    no_signins = bool(set(SIGNIN_TABLES) & set(case.missing))
    assert (overview["ropc"] is None) == no_signins
    assert (overview["below_claims_versions"] is None) == no_signins
    if no_activity:
        assert "could not look" in body_of(case.page("readiness_overview"))
        # Without writes nobody is judged at risk either: no "at least 0" passed off as a count.
        tiles = tiles_of(case.page("identities_at_risk"))
        if tiles:  # identities seen in the sign-in logs
            assert "could not look would break" in tiles and "could not look at risk" in tiles
            assert "at least" not in tiles
        else:  # nothing could be read at all: the page's empty state says so
            assert "Could not look for ARM activity" in body_of(case.page("identities_at_risk"))
    elif no_signins:  # /action operations without MFA still show: a lower bound, said as one
        assert re.search(r"at least \d+ at risk", tiles_of(case.page("identities_at_risk")))
    else:
        assert overview["will_break"] > 0  # the demo tenant has identities that would break


def test_writes_per_day_divide_by_the_days_the_activity_log_covers(matrix: dict[str, Case]) -> None:
    for case in matrix.values():
        if "AzureActivity" in case.missing:
            assert case.glued("readiness_overview")["days_covered"] is None
            continue
        glued = case.glued("readiness_overview")
        # The data covers 7 of the window's 30 days: a rate over 30 days would be 4x too low.
        assert DAYS - 1 < glued["days_covered"] <= DAYS
        assert glued["writes_without_mfa_per_day"] == round(glued["arm_writes_without_mfa"] / glued["days_covered"], 1)
        assert glued["writes_without_mfa_per_day"] > glued["arm_writes_without_mfa"] / 30


# -- a misplaced window ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def misplaced(tenant: Path, tmp_path_factory: pytest.TempPathFactory) -> Case:
    out = tmp_path_factory.mktemp("misplaced") / "report"
    later = (NOW + dt.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    command = [sys.executable, "-m", "kitlib", "report", "--workspace", str(tenant), "--out", str(out)]
    command += ["--now", later, "--no-progress", "--no-history", "--notebook", "readiness_overview"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    seconds = time.perf_counter() - started
    return Case("misplaced", tuple(TABLES), done.returncode, done.stdout, done.stderr, out, seconds)


def test_a_window_without_rows_names_the_data_range_and_a_now_that_covers_it(misplaced: Case) -> None:
    assert misplaced.exit_code == 0, misplaced.stderr
    said = f"Run with --now {NOW_TEXT} --lookback 30d to analyse it"
    console = [line for line in misplaced.stderr.splitlines() if "holds no rows in any table" in line]
    assert len(console) == 1 and said in console[0]
    assert "the data covers 2026-11-20 " in console[0] and ".. 2026-11-26 " in console[0]
    manifest = misplaced.manifest
    assert any(said in w for w in manifest["warnings"])
    assert all(c["rows_in_window"] == 0 and c["total_rows"] > 0 for c in manifest["coverage"])
    page = body_of(misplaced.page("readiness_overview"))
    assert said in page
    assert "there is nothing to show here" not in page  # a misplaced window is not "nothing happened"
