"""The batch runner on hand-made workspaces: run folder, offline HTML, failures, pseudonymisation.

Kernel runs cost ~6-8 s each, so each scenario runs once (module fixtures) and several tests
read its result.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from conftest import readable_text

from kitlib.analysis.history import changes, history_frame, load_history, snapshot, write_snapshot
from kitlib.environment import PSEUDONYM_KEY_ENV
from kitlib.errors import UsageError
from kitlib.reporting.batch import render_report
from kitlib.reporting.export import external_references, plotly_js
from kitlib.reporting.outcome import NotebookRun, ReportRun
from kitlib.reporting.params import SHARED_PARAMETERS, format_parameters, notebook_parameters, resolve_notebook

# Kernel runs are shared through module fixtures: keep each module on one xdist worker
# (`pytest -n 2 --dist loadgroup`), or every worker would repeat the batch runs.
pytestmark = [pytest.mark.notebook, pytest.mark.xdist_group("report-runner")]

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
HOSTILE_CALLER = "<script>alert(1)</script>@contoso.com"
HOSTILE_OPERATION = "Microsoft.Evil/<img src=x onerror=alert(1)>/write"
PEOPLE = ("alice@contoso.com", "bob@contoso.com", "svc-deploy@contoso.com", HOSTILE_CALLER)

PARAMS_CELL = """workspace: str = ""  # folder
now: str = ""  # instant
lookback: str = "30d"  # window
breakglass: list = []  # excluded
pseudonymize: bool = False  # pseudonyms"""
SETUP = (
    "import kitlib.notebook as kn\n"
    "ctx = kn.setup(workspace=workspace, now=now, lookback=lookback, breakglass=breakglass, pseudonymize=pseudonymize)"
)


def hostile_workspace(folder: Path) -> Path:
    """AzureActivity only: three people, and attacker-controlled caller and operation names."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(60):
        caller = PEOPLE[i % 4]
        rows.append(
            {
                "TimeGenerated": (NOW - dt.timedelta(hours=5 * i + 1)).isoformat(),
                "CategoryValue": "Administrative",
                "OperationNameValue": HOSTILE_OPERATION if i % 7 == 0 else "Microsoft.Compute/virtualMachines/write",
                "Authorization_d": {"evidence": {"principalType": "User"}},
                "Claims_d": {
                    "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa"
                    if caller == PEOPLE[0]
                    else "pwd"
                },
                "Caller": caller,
                "CallerIpAddress": f"203.0.113.{i % 5}",
                "CorrelationId": f"corr-{i}",
                "SubscriptionId": "00000000-0000-0000-0000-000000000001",
                "ActivityStatusValue": "Succeeded",
            }
        )
    with (folder / "AzureActivity.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return folder


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "kitlib", "display_name": "Python (kitlib)", "language": "python"}
    cells = [nbformat.v4.new_code_cell(PARAMS_CELL, metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells = cells
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_workspace(tmp_path_factory.mktemp("hostile") / "ws")


@pytest.fixture(scope="module")
def plain_run(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    out = tmp_path_factory.mktemp("plain") / "report"
    return render_report(
        str(workspace), out, now=NOW, lookback=dt.timedelta(days=30), notebooks=["readiness_overview"], progress=False
    )


def overview_html(run: ReportRun) -> str:
    return (run.out / "readiness_overview.html").read_text(encoding="utf-8")


# -- parameters ----------------------------------------------------------------------------


def test_params_lists_the_typed_parameters_with_their_help() -> None:
    params = {p.name: p for p in notebook_parameters("readiness_overview")}
    assert set(SHARED_PARAMETERS) <= set(params)
    assert (params["lookback"].type, params["lookback"].default) == ("str", '"30d"')
    assert (params["pseudonymize"].type, params["pseudonymize"].default) == ("bool", "False")
    assert "KITLIB_WORKSPACE" in params["workspace"].help
    assert "lookback: str" in format_parameters(list(params.values()))


def test_unknown_notebooks_and_parameters_are_rejected_before_anything_runs(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    with pytest.raises(UsageError, match="colour"):
        render_report(
            str(workspace), out, now=NOW, notebooks=["readiness_overview"], parameters={"colour": "red"}, progress=False
        )
    with pytest.raises(UsageError, match="no notebook named"):
        render_report(str(workspace), out, now=NOW, notebooks=["nope"], progress=False)
    with pytest.raises(UsageError, match="inside the report folder"):
        render_report(str(workspace), out, now=NOW, pseudonymize=True, reidentify_map=out / "map.csv", progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_notebook_without_the_shared_parameters_is_refused(workspace: Path, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "kitlib", "display_name": "Python (kitlib)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell('lookback: str = "30d"  # window', metadata={"tags": ["parameters"]})]
    path = tmp_path / "partial.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(UsageError, match="pseudonymize"):
        render_report(str(workspace), tmp_path / "out", now=NOW, notebooks=[str(path)], progress=False)
    assert resolve_notebook(str(path)) == path.resolve()


# -- a successful run -------------------------------------------------------------------------


def test_run_folder_holds_html_index_manifest_and_executed_notebook(plain_run: ReportRun) -> None:
    assert plain_run.exit_code == 0
    names = {p.relative_to(plain_run.out).as_posix() for p in plain_run.out.rglob("*") if p.is_file()}
    assert {"index.html", "manifest.json", "readiness_overview.html", "notebooks/readiness_overview.ipynb"} <= names
    assert not [p for p in plain_run.out.parent.iterdir() if "staging" in p.name]
    manifest = json.loads(plain_run.manifest.read_text(encoding="utf-8"))
    entry = manifest["notebooks"][0]
    assert manifest["status"] == "ok"
    assert entry["status"] == "ok" and entry["duration_seconds"] > 0
    assert entry["parameters"]["now"] == "2026-11-27T00:00:00Z" and entry["parameters"]["lookback"] == "30d"
    assert entry["summary"]["arm_writes"] == 60
    assert entry["summary"]["arm_writes_without_mfa"] == 45
    index = plain_run.index.read_text(encoding="utf-8")
    assert 'href="readiness_overview.html"' in index
    assert external_references(index) == []


def test_report_html_is_offline_with_figures_hidden_code_and_a_header(plain_run: ReportRun) -> None:
    html = overview_html(plain_run)
    assert external_references(html) == []
    assert html.count(plotly_js()) == 1
    assert html.count('class="plotly-graph-div"') >= 1
    assert "kn.setup" not in html and "import kitlib" not in html
    header = html[html.index('<header class="kit-header">') : html.index("</header>")]
    assert "ws (local folder)" in header and "2026-11-27 00:00:00 UTC" in header and "Kit version" in header
    # The hand-made workspace has AzureActivity only: the header must say what was missing.
    assert "Tables absent" in header and "SigninLogs" in header and "AADNonInteractiveUserSignInLogs" in header


def test_hostile_log_strings_show_as_text_never_as_tags(plain_run: ReportRun) -> None:
    html = overview_html(plain_run)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@contoso.com" in html


def test_executed_notebook_carries_no_absolute_paths_from_papermill(plain_run: ReportRun) -> None:
    nb = nbformat.read(str(plain_run.out / "notebooks" / "readiness_overview.ipynb"), as_version=4)
    assert nb.metadata.papermill["input_path"] == "readiness_overview.ipynb"
    assert nb.metadata.papermill["output_path"] == "notebooks/readiness_overview.ipynb"


# -- failures and leaks -----------------------------------------------------------------------


def test_a_failed_notebook_publishes_no_html_and_the_run_exits_non_zero(workspace: Path, tmp_path: Path) -> None:
    broken = write_notebook(tmp_path / "broken.ipynb", SETUP, "raise ValueError('the data was odd')")
    fine = write_notebook(tmp_path / "fine.ipynb", SETUP, "kn.glue('answer', 42)")
    run = render_report(
        str(workspace), tmp_path / "out", now=NOW, notebooks=[str(broken), str(fine)], jobs=2, progress=False
    )
    assert run.exit_code == 1
    status = {r.name: (r.status, r.html) for r in run.notebooks}
    assert status == {"broken": ("failed", None), "fine": ("ok", "fine.html")}
    assert not (run.out / "broken.html").exists()
    assert (run.out / "notebooks" / "broken.ipynb").exists()
    assert "ValueError: the data was odd" in next(str(r.error) for r in run.notebooks if r.name == "broken")
    assert "did not finish: the notebook stopped with an error (ValueError the data was odd)" in run.index.read_text(
        encoding="utf-8"
    )
    assert json.loads(run.manifest.read_text())["notebooks"][1]["summary"] == {"answer": 42}


def test_pseudonymised_run_publishes_no_original_identity(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)
    mapping = tmp_path / "private" / "map.csv"
    run = render_report(
        str(workspace),
        tmp_path / "out",
        now=NOW,
        notebooks=["readiness_overview"],
        pseudonymize=True,
        reidentify_map=mapping,
        progress=False,
    )
    assert run.exit_code == 0 and run.leak_hits == 0
    everything = "\n".join(readable_text(p) for p in run.out.rglob("*") if p.is_file())
    for person in PEOPLE[:3]:
        assert person not in everything
    ours = everything.replace(plotly_js(), "").lower()  # plotly.js has colour names like "aliceblue"
    for local_part in ("alice", "svc-deploy"):  # a reason quoting "svc-deploy" identifies it too
        assert not re.search(rf"(?<![\w.-]){local_part}(?![\w-])", ours)
    assert "one-off key for this run" in overview_html(run)
    private = mapping.read_text(encoding="utf-8")
    assert "bob@contoso.com" in private and "svc-deploy@contoso.com" in private
    assert not list(run.out.rglob("map.csv"))


def test_a_leaking_notebook_is_refused_and_nothing_is_published(workspace: Path, tmp_path: Path) -> None:
    leaky = write_notebook(
        tmp_path / "leaky.ipynb",
        SETUP,
        'ctx.query("arm_writes_mfa_daily")',  # pseudonymised: the runner learns the originals
        "from kitlib.query.run import run_query\n"
        'run_query(ctx.backend, "arm_writes_mfa_daily", now=ctx.now, lookback=ctx.lookback).frame',
    )
    out = tmp_path / "out"
    run = render_report(str(workspace), out, now=NOW, notebooks=[str(leaky)], pseudonymize=True, progress=False)
    assert run.exit_code == 1 and run.leak_hits > 0 and not run.published
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["manifest.json"]
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert json.loads(manifest)["status"] == "refused"
    assert not any(person in manifest for person in PEOPLE)


def test_a_notebook_quoting_a_upn_local_part_is_refused(workspace: Path, tmp_path: Path) -> None:
    leaky = write_notebook(tmp_path / "local.ipynb", SETUP, 'print("the deploy job runs as svc-deploy")')
    out = tmp_path / "out"
    run = render_report(str(workspace), out, now=NOW, notebooks=[str(leaky)], pseudonymize=True, progress=False)
    assert run.exit_code == 1 and run.leak_hits > 0 and not run.published
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["manifest.json"]


# -- history (no kernel) ------------------------------------------------------------------------


def verdicts(**by_identity: str) -> pd.DataFrame:
    rows = [
        {
            "identity": f"{name}@contoso.com",
            "verdict": verdict,
            "breakglass": name == "glass",
            "arm_writes_without_mfa": 2,
        }
        for name, verdict in by_identity.items()
    ]
    return pd.DataFrame(rows)


def test_snapshots_round_trip_per_workspace_and_only_before_now(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    first = snapshot(
        verdicts(ann="will_break", bob="at_risk", cat="not_affected", glass="will_break"),
        workspace="/ws",
        now=NOW,
        lookback=dt.timedelta(days=30),
    )
    assert first["counts"] == {"will_break": 1, "at_risk": 1, "not_affected": 1, "unknown": 0, "writes_without_mfa": 6}
    assert first["identities"] == {"ann@contoso.com": "will_break", "bob@contoso.com": "at_risk"}
    write_snapshot(folder, first)
    write_snapshot(folder, {**first, "workspace": "/other"} | {"run_at": (NOW + dt.timedelta(hours=1)).isoformat()})
    write_snapshot(folder, {**first, "run_at": (NOW + dt.timedelta(days=1)).isoformat()})
    (folder / "snapshot-broken.json").write_text("{", encoding="utf-8")
    earlier = load_history(folder, workspace="/ws", before=NOW + dt.timedelta(days=1))
    assert [s["run_at"] for s in earlier] == [NOW.isoformat()]
    assert len(load_history(folder, workspace="/ws")) == 2
    assert load_history(tmp_path / "none", workspace="/ws") == []
    trend = history_frame(earlier, first)
    assert trend[["will_break", "at_risk"]].values.tolist() == [[1, 1], [1, 1]]


def test_changes_call_remediated_only_with_evidence_of_mfa() -> None:
    before = {
        "identities": {
            name + "@contoso.com": verdict
            for name, verdict in [
                ("ann", "will_break"),
                ("bob", "at_risk"),
                ("cat", "will_break"),
                ("dan", "at_risk"),
                ("fay", "will_break"),
                ("gus", "at_risk"),
                ("hal", "will_break"),
            ]
        }
    }
    now = verdicts(
        ann="at_risk", bob="will_break", cat="not_affected", eve="will_break", glass="will_break", fay="not_affected"
    )
    now = pd.concat([now, verdicts(gus="not_affected", hal="unknown")], ignore_index=True)
    evidence = {
        # cat writes with MFA now and never without: remediated.
        "cat@contoso.com": {"arm_writes": 5, "arm_writes_without_mfa": 0},
        # fay is still seen, but only with single-factor tokens and no writes: not evidence of a fix.
        "fay@contoso.com": {"arm_writes": 0, "arm_writes_without_mfa": 0, "arm_signins_single_factor": 4},
        # gus only holds MFA'd ARM tokens now: remediated.
        "gus@contoso.com": {"arm_writes": 0, "arm_writes_without_mfa": 0, "arm_signins_mfa": 3},
        "hal@contoso.com": {"arm_writes": 0, "arm_writes_without_mfa": 0},
    }
    for column in ("arm_writes", "arm_signins_mfa", "arm_signins_single_factor"):
        now[column] = 0
    for identity, values in evidence.items():
        for column, value in values.items():
            now.loc[now["identity"] == identity, column] = value
    delta = changes(before, now)
    assert sorted(map(tuple, delta[["identity", "now", "change"]].values.tolist())) == [
        ("ann@contoso.com", "at_risk", "better"),
        ("bob@contoso.com", "will_break", "worse"),
        ("cat@contoso.com", "not_affected", "remediated"),
        ("dan@contoso.com", "not seen", "no longer seen"),  # merely stopped appearing
        ("eve@contoso.com", "will_break", "new"),
        ("fay@contoso.com", "not_affected", "no longer seen"),
        ("gus@contoso.com", "not_affected", "remediated"),
        ("hal@contoso.com", "unknown", "no longer seen"),
    ]
    assert changes(None, now).empty
    renamed = changes(before, now.assign(identity=now["identity"].str.upper()), rename=str.upper)
    assert set(renamed["change"]) == {"better", "worse", "remediated", "no longer seen", "new"}


def test_history_inside_the_report_folder_is_refused(workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="history"):
        render_report(str(workspace), tmp_path / "out", now=NOW, history=tmp_path / "out" / "history", progress=False)


def _starting(failures: list[str]) -> Any:
    """A stand-in for papermill.execute_notebook that fails with each of ``failures`` first, then succeeds."""
    calls: list[int] = []

    def run(source: str, executed: str, **options: Any) -> None:
        calls.append(options["start_timeout"])
        if len(calls) <= len(failures):
            raise RuntimeError(failures[len(calls) - 1])
        nbformat.write(nbformat.v4.new_notebook(), executed)

    run.calls = calls  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize(
    ("failures", "status", "attempts"),
    [
        (["Kernel died before replying to kernel_info"], "ok", 2),  # a starved start is tried again
        (["Kernel died before replying to kernel_info"] * 2, "failed", 2),  # once only
        (["NameError: name 'x' is not defined"], "failed", 1),  # a cell's error is never retried
    ],
)
def test_a_kernel_that_does_not_start_is_started_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: list[str], status: str, attempts: int
) -> None:
    from kitlib.reporting import execute

    fake = _starting(failures)
    monkeypatch.setattr(execute.papermill, "execute_notebook", fake)
    monkeypatch.setattr(
        execute, "export_html", lambda *a, **k: type("R", (), {"path": tmp_path / "x.html", "bytes": 1, "figures": 0})()
    )
    (tmp_path / "notebooks").mkdir()
    run = NotebookRun(name="n", source="n.ipynb", parameters={})
    done = execute._execute_one(
        run,
        tmp_path / "n.ipynb",
        tmp_path,
        manager_class=object,
        timeout=None,
        generated_at=NOW,
        notes=(),
        keep_failed=True,
    )
    assert done.status == status and len(fake.calls) == attempts
    assert fake.calls[0] == execute.KERNEL_START_SECONDS
