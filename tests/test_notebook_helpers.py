"""The notebook context, glue in scrapbook's wire format, and escaped displays (no kernel needed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

from kitlib import notebook as kn
from kitlib.analysis.cache import KERNEL_UNUSED_FRAMES, cached_analysis, write_cached_analysis
from kitlib.backends.base import ClosingBackend, QueryResult
from kitlib.backends.local import LocalBackend
from kitlib.environment import ANALYSIS_CACHE_ENV, PSEUDONYM_KEY_ENV
from kitlib.errors import UsageError
from kitlib.privacy.pseudonyms import is_pseudonym
from kitlib.query.catalog import Query
from kitlib.reporting.export import ReportHeader
from kitlib.reporting.params import available_notebooks

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
HOSTILE = "<img src=x onerror=alert(1)>"


def write_activity(folder: Path, rows: list[dict]) -> Path:
    """A minimal workspace: AzureActivity as JSON lines."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "AzureActivity.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return folder


def activity(caller: str, hours_ago: int, mfa: bool, op: str = "Microsoft.Compute/virtualMachines/write") -> dict:
    return {
        "TimeGenerated": (NOW - dt.timedelta(hours=hours_ago)).isoformat(),
        "CategoryValue": "Administrative",
        "OperationNameValue": op,
        "Authorization_d": {"evidence": {"principalType": "User"}},
        "Claims_d": {"http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa" if mfa else "pwd"},
        "Caller": caller,
        "CorrelationId": f"{caller}-{hours_ago}",
    }


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    rows = [activity("alice@contoso.com", h, mfa=True) for h in range(1, 6)]
    rows += [activity("bob@contoso.com", h, mfa=False) for h in range(1, 4)]
    rows += [activity("bg-admin@contoso.com", 2, mfa=False)]
    rows += [activity("alice@contoso.com", 24 * 40, mfa=False)]  # outside a 30-day window
    return write_activity(tmp_path / "ws", rows)


def glued_notebook(*pairs: tuple[str, object]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("glue")
    for name, value in pairs:
        data, metadata = kn.glue_bundle(name, value)
        cell.outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=metadata))
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell]
    return nb


def test_glue_uses_scrapbooks_mimetype_and_payload() -> None:
    data, metadata = kn.glue_bundle("will_break", 7)
    assert data == {
        "application/scrapbook.scrap.json+json": {"name": "will_break", "data": 7, "encoder": "json", "version": 1}
    }
    assert metadata == {"scrapbook": {"name": "will_break", "data": True, "display": False}}


def test_read_glued_round_trips_numpy_and_dates_and_the_last_value_wins(tmp_path: Path) -> None:
    nb = glued_notebook(
        ("count", np.int64(3)),
        ("share", np.float64(42.5)),
        ("when", NOW),
        ("frame", pd.DataFrame({"a": [1, 2]})),
        ("count", 4),
    )
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert kn.read_glued(path) == {
        "count": 4,
        "share": 42.5,
        "when": "2026-11-27T00:00:00+00:00",
        "frame": [{"a": 1}, {"a": 2}],
    }


def test_glue_refuses_values_that_are_not_json() -> None:
    with pytest.raises(UsageError):
        kn.glue_bundle("bad", object())


def test_table_escapes_every_cell_and_header_and_says_what_was_cut() -> None:
    frame = pd.DataFrame({HOSTILE: [HOSTILE, "ok"], "n": [1000, 2]})
    html = kn.table(frame, caption=HOSTILE, max_rows=1, sortable=True).html
    assert "<img" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 3
    assert "1,000" in html and "Showing 1 of 2 rows" in html
    assert 'class="kit-table kit-sortable"' in html


def test_headline_note_and_bullets_escape_their_text() -> None:
    for shown in (kn.headline({HOSTILE: HOSTILE}), kn.note(HOSTILE), kn.bullets([HOSTILE], title=HOSTILE)):
        assert "<img" not in shown.html and "&lt;img" in shown.html


def test_setup_rejects_bad_parameters_with_clear_errors(workspace: Path) -> None:
    with pytest.raises(UsageError, match="now"):
        kn.setup(str(workspace), now="yesterday", live_glue=False)
    with pytest.raises(UsageError, match="lookback"):
        kn.setup(str(workspace), lookback="a month", live_glue=False)
    with pytest.raises(UsageError, match="breakglass"):
        kn.setup(str(workspace), breakglass="admin@contoso.com", live_glue=False)  # type: ignore[arg-type]


def test_setup_takes_the_workspace_from_the_environment_when_empty(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITLIB_WORKSPACE", str(workspace))
    ctx = kn.setup("", now="2026-11-27T00:00:00Z", lookback="7d", live_glue=False)
    assert ctx.workspace == str(workspace)
    assert (ctx.start, ctx.end) == (NOW - dt.timedelta(days=7), NOW)
    meta = ctx.meta()
    assert meta["workspace"] == "ws (local folder)"
    assert meta["lookback"] == "7d" and meta["missing_tables"] == [] and meta["pseudonymized"] is False


def test_query_runs_over_the_window_and_breakglass_is_excluded(workspace: Path) -> None:
    ctx = kn.setup(str(workspace), now=NOW, lookback="30d", breakglass=["BG-Admin@contoso.com"], live_glue=False)
    daily = ctx.exclude_breakglass(ctx.query("arm_writes_mfa_daily"), "Caller")
    totals = daily.groupby(["Caller", "TokenHasMfa"])["Operations"].sum().to_dict()
    assert totals == {("alice@contoso.com", True): 5, ("bob@contoso.com", False): 3}


def test_pseudonymised_context_shows_no_original_identity(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "a-long-enough-secret-key")
    ctx = kn.setup(str(workspace), now=NOW, breakglass=["bg-admin@contoso.com"], pseudonymize=True, live_glue=False)
    daily = ctx.exclude_breakglass(ctx.query("arm_writes_mfa_daily"), "Caller")
    assert len(daily) > 0 and all(is_pseudonym(c) for c in daily["Caller"])
    assert ctx.who("bob@contoso.com") in set(daily["Caller"])
    assert ctx.who("bg-admin@contoso.com") not in set(daily["Caller"])
    assert "key from KITLIB_PSEUDONYM_KEY" in ctx.meta()["pseudonym_key"]
    assert (
        ctx.resolve_identity(ctx.who("bob@contoso.com"), ["alice@contoso.com", "bob@contoso.com"]) == "bob@contoso.com"
    )


def test_resolve_identity_accepts_the_original_in_any_case(workspace: Path) -> None:
    ctx = kn.setup(str(workspace), now=NOW, live_glue=False)
    assert ctx.resolve_identity("BOB@contoso.com", ["alice@contoso.com", "bob@contoso.com"]) == "bob@contoso.com"
    assert ctx.resolve_identity("nobody@contoso.com", ["bob@contoso.com"]) is None


def test_missing_tables_and_warnings_are_recorded_once(workspace: Path) -> None:
    ctx = kn.setup(str(workspace), now=NOW, live_glue=False)
    ctx.record(missing_tables=["SigninLogs"], warnings=["table SigninLogs is not in this workspace"])
    ctx.record(missing_tables=["SigninLogs"], warnings=["table SigninLogs is not in this workspace"], complete=False)
    meta = ctx.meta()
    assert meta["missing_tables"] == ["SigninLogs"]
    assert meta["warnings"] == ["table SigninLogs is not in this workspace"]
    assert meta["complete"] is False


def identities_frame(rows: list[dict]) -> pd.DataFrame:
    base = {
        "verdict": "not_affected",
        "automation_band": "human",
        "ropc": False,
        "guest": False,
        "breakglass": False,
        "version_ok": "yes",
        "arm_writes_without_mfa": 0,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def test_next_steps_put_enforcement_and_automation_first_and_name_the_worst() -> None:
    ids = identities_frame(
        [
            {
                "identity": "ci@contoso.com",
                "verdict": "will_break",
                "automation_band": "likely_automation",
                "ropc": True,
                "arm_writes_without_mfa": 50,
            },
            {"identity": "ann@contoso.com", "verdict": "will_break", "version_ok": "no", "arm_writes_without_mfa": 9},
            {"identity": "bob@fabrikam.com", "verdict": "will_break", "guest": True, "arm_writes_without_mfa": 3},
            {"identity": "eve@contoso.com", "verdict": "at_risk"},
            {
                "identity": "glass@contoso.com",
                "verdict": "will_break",
                "breakglass": True,
                "arm_writes_without_mfa": 99,
            },
        ]
    )
    policy = pd.DataFrame({"Action": ["deny", "audit"], "Operations": [4, 10], "Subscriptions": [["s1", "s2"], ["s1"]]})
    steps = kn.next_steps(ids, policy)
    assert steps[0].startswith("Enforcement is already visible: 4 writes denied for missing MFA on 2 subscriptions")
    assert steps[1].startswith("Move 1 automation account ") and "1 sign in with a password (ROPC)" in steps[1]
    assert "ci@contoso.com" in steps[1]
    assert (
        steps[2].startswith("Require MFA")
        and "2 identities" in steps[2]
        and "ann@contoso.com, bob@fabrikam.com" in steps[2]
    )
    assert steps[3].startswith("Upgrade the clients of 1 identity ")
    assert steps[4].startswith("Agree MFA with the home tenants of 1 guest account")
    assert steps[5].startswith("Watch 1 at-risk identity")
    assert len(steps) == 6  # audit events exist: no advice to assign the audit policy
    assert not any("glass@contoso.com" in s for s in steps)


def test_below_claims_versions_counts_too_old_clients_by_verdict_without_breakglass() -> None:
    ids = identities_frame(
        [
            {"identity": "a@contoso.com", "verdict": "will_break", "version_ok": "no"},
            {"identity": "b@contoso.com", "verdict": "at_risk", "version_ok": "no"},
            {"identity": "c@contoso.com", "verdict": "not_affected", "version_ok": "no"},
            {"identity": "d@contoso.com", "verdict": "will_break", "version_ok": "unknown"},
            {"identity": "glass@contoso.com", "verdict": "will_break", "version_ok": "no", "breakglass": True},
        ]
    )
    assert kn.too_old_clients(ids)["identity"].tolist() == ["a@contoso.com", "b@contoso.com", "c@contoso.com"]
    counts = kn.below_claims_versions(ids)
    assert counts == {
        "below_claims_versions": 3,
        "below_claims_versions_will_break": 1,
        "below_claims_versions_at_risk": 1,
        "below_claims_versions_will_break_or_at_risk": 2,
    }
    assert set(counts) == set(kn.BELOW_CLAIMS_LABELS)
    upgrade = next(s for s in kn.next_steps(ids) if s.startswith("Upgrade"))
    assert upgrade.startswith("Upgrade the clients of 2 identities ") and "(3 identities in all" in upgrade
    assert kn.below_claims_versions(ids.head(0))["below_claims_versions"] == 0


def test_next_steps_without_findings_or_policy_events() -> None:
    steps = kn.next_steps(identities_frame([{"identity": "ann@contoso.com"}]), None)
    assert len(steps) == 1 and steps[0].startswith("Assign the built-in audit policies")


def test_find_identity_defaults_to_the_top_writer_without_mfa_and_skips_breakglass(workspace: Path) -> None:
    ctx = kn.setup(str(workspace), now=NOW, breakglass=["bg-admin@contoso.com"], live_glue=False)
    assert ctx.find_identity("").original == "bob@contoso.com"  # type: ignore[union-attr]
    assert ctx.find_identity("ALICE@contoso.com").shown == "alice@contoso.com"  # type: ignore[union-attr]


def test_find_identity_maps_a_pseudonym_back_inside_the_kernel_only(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "a-long-enough-secret-key")
    ctx = kn.setup(str(workspace), now=NOW, pseudonymize=True, live_glue=False)
    target = ctx.find_identity(ctx.who("alice@contoso.com"))
    assert target is not None and target.original == "alice@contoso.com"
    assert target.shown == ctx.who("alice@contoso.com") and "alice" not in repr(target)
    assert ctx.find_identity("user-aaaaaaaaaa") is None


def test_a_cached_analysis_is_used_only_for_the_same_parameters(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    ctx = kn.setup(str(workspace), now=NOW, lookback="7d", live_glue=False)
    sentinel = {"marker": "cached"}
    cache = tmp_path / "analysis.pickle"
    cache.write_bytes(pickle.dumps((ctx.analysis_key(), sentinel)))
    monkeypatch.setenv(ANALYSIS_CACHE_ENV, str(cache))
    assert cached_analysis(ctx.analysis_key()) == sentinel
    other = kn.setup(str(workspace), now=NOW, lookback="8d", live_glue=False)
    assert cached_analysis(other.analysis_key()) is None
    cache.write_bytes(b"not a pickle")
    assert cached_analysis(ctx.analysis_key()) is None


def test_the_kernels_copy_leaves_out_only_frames_no_notebook_reads(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = kn.setup(str(workspace), now=NOW, live_glue=False)
    analysis = ctx.analyze()
    assert len(analysis.frames["arm_operations"]) > 0
    write_cached_analysis(tmp_path / "analysis.pickle", ctx.analysis_key(), analysis)
    monkeypatch.setenv(ANALYSIS_CACHE_ENV, str(tmp_path / "analysis.pickle"))
    cached = cached_analysis(ctx.analysis_key())
    for name in KERNEL_UNUSED_FRAMES:
        assert cached.frames[name].empty and list(cached.frames[name].columns) == list(analysis.frames[name].columns)
        assert len(analysis.frames[name]) > 0  # the runner's own copy is untouched
    kept = set(analysis.frames) - set(KERNEL_UNUSED_FRAMES)
    assert all(cached.frames[n].equals(analysis.frames[n]) for n in kept)
    assert cached.identities.equals(analysis.identities)
    for notebook in available_notebooks():
        code = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
        for name in KERNEL_UNUSED_FRAMES:
            assert f'frames["{name}"]' not in code and f'frame("{name}")' not in code, (notebook.name, name)


# -- readable names and the identities table -------------------------------------------------


def test_readable_uses_words_for_verdicts_bands_versions_apps_guests_and_subscriptions() -> None:
    frame = pd.DataFrame(
        {
            "identity": ["kim_vendor-x.example#EXT#@contoso.example", "ann@contoso.example"],
            "verdict": ["will_break", "at_risk"],
            "automation_band": ["likely_automation", "human"],
            "tool": ["portal", "azure-cli"],
            "version_ok": ["unknown", "no"],
            "App": ["04B07795-8DDB-461A-BBEE-02F9E1BF7B46", "11111111-2222-3333-4444-555555555555"],
            "SubscriptionId": ["4a1b2c3d-0000-1111-2222-333344445555", "5b6c7d8e-0000-1111-2222-333344445555"],
            "identities_will_break": [3, 1],
        }
    )
    shown = kn.readable(frame, subscriptions={"5b6c7d8e-0000-1111-2222-333344445555": "Production"})
    assert list(shown.columns) == [
        "identity",
        "verdict",
        "automation band",
        "tool",
        "client version",
        "App",
        "SubscriptionId",
        "identities that would break",
    ]
    assert shown["identity"].tolist() == ["kim@vendor-x.example (guest)", "ann@contoso.example"]
    assert shown["verdict"].tolist() == ["would break", "at risk"]
    assert shown["automation band"].tolist() == ["likely automation", "human"]
    assert shown["tool"].tolist() == ["Azure Portal", "Azure CLI"]
    assert shown["client version"].tolist() == ["not applicable", "too old"]
    assert shown["App"].tolist() == ["Azure CLI", "11111111-2222-3333-4444-555555555555"]
    assert shown["SubscriptionId"].tolist() == ["4a1b2c3d\u2026", "Production"]


def test_a_pseudonym_is_shown_as_it_is() -> None:
    pseudonym = "user-0f3a9c2b1d"
    assert kn.identity_label(pseudonym) == pseudonym


def test_action_counts_count_each_action_of_a_joined_remediation_once_per_identity() -> None:
    frame = pd.DataFrame(
        {
            "identity": ["a", "b", "c"],
            "remediation": [
                "Require MFA | Upgrade Azure CLI",
                "Require MFA",
                "Move to a workload identity | Require MFA",
            ],
        }
    )
    counts = kn.action_counts(frame)
    assert counts.to_dict(orient="records") == [
        {"action": "Require MFA", "identities": 3},
        {"action": "Move to a workload identity", "identities": 1},
        {"action": "Upgrade Azure CLI", "identities": 1},
    ]


def test_identity_table_shows_the_most_urgent_first_caps_the_rows_and_folds_long_text() -> None:
    rows = [
        {"identity": f"user{i}@contoso.example", "verdict": "at_risk", "arm_writes_without_mfa": 0} for i in range(60)
    ]
    rows.append(
        {
            "identity": "worst@contoso.example",
            "verdict": "will_break",
            "arm_writes_without_mfa": 5,
            "reasons": f"5 writes without MFA | {HOSTILE}",
            "remediation": "Require MFA",
        }
    )
    frame = identities_frame(rows).assign(tools="azure-cli;portal")
    html = kn.identity_table(frame, caption="at risk", max_rows=50).html
    assert html.count("<tr>") == 51  # header + 50 rows
    assert html.index("worst@contoso.example") < html.index("user0@contoso.example")
    assert "Showing the 50 most urgent of 61 identities; the full list is in identities.csv." in html
    assert "<details><summary>5 writes without MFA (+1 more)</summary>" in html
    assert "<img" not in html and "&lt;img" in html
    assert "Azure CLI, Azure Portal" in html and "would break" in html and "will_break" not in html


def test_identities_of_keeps_every_column_of_an_empty_analysis() -> None:
    from kitlib.analysis.model import EXTRA_COLUMNS, IDENTITY_COLUMNS, TOOL_COLUMNS

    class Empty:
        identities = pd.DataFrame()
        tools = pd.DataFrame()

    assert set(IDENTITY_COLUMNS + EXTRA_COLUMNS) <= set(kn.identities_of(Empty()).columns)
    assert list(kn.tools_of(Empty()).columns) == list(TOOL_COLUMNS)
    assert kn.identities_of(Empty())[~kn.identities_of(Empty())["breakglass"]].empty


def test_version_bands_sort_as_versions_and_the_trend_needs_two_runs() -> None:
    from kitlib.render import figures

    tools = pd.DataFrame(
        {
            "tool": ["azure-cli"] * 5,
            "version_band": ["2.9.0", ">=2.91.0", "unknown", "2.10.0-2.12.0", "<=2.29.2"],
            "version_ok": ["no", "yes", "unknown", "no", "no"],
            "identities": [1, 2, 3, 4, 5],
        }
    )
    assert figures.sort_bands(tools)["version_band"].tolist() == [
        "2.9.0",
        "2.10.0-2.12.0",
        "<=2.29.2",
        ">=2.91.0",
        "unknown",
    ]
    fig = figures.version_bands(tools, "azure-cli")
    assert list(fig.layout.xaxis.categoryarray) == ["2.9.0", "2.10.0-2.12.0", "&lt;=2.29.2", "&gt;=2.91.0", "unknown"]
    one_run = pd.DataFrame({"run_at": ["2026-11-27T00:00:00+00:00"], "will_break": [3], "writes_without_mfa": [900]})
    assert figures.burn_down(one_run).layout.annotations[0].text.startswith("The trend starts with the next")
    two_runs = pd.concat([one_run, one_run.assign(run_at="2026-11-28T00:00:00+00:00", will_break=2)])
    trend = figures.burn_down(two_runs)
    assert {t.yaxis for t in trend.data} == {"y", "y2"}  # identities and writes on separate axes
    assert trend.layout.xaxis.type == "date"


def test_status_sentence_is_plain_words() -> None:
    from kitlib.reporting.export import status_sentence

    assert status_sentence("ok", figures=8, seconds=11.2) == "ran in 11 s, 8 figures"
    failed = status_sentence("failed", error="KeyError: 'verdict'", notebook="readiness_overview")
    assert failed.startswith("did not finish: the notebook stopped with an error (KeyError 'verdict')")
    assert "FAILED" not in failed


class PartialAnswers(ClosingBackend):
    """The local engine, except that the service 'truncated' one query's answer."""

    def __init__(self, inner: LocalBackend, partial: str) -> None:
        self.inner = inner
        self.partial = partial
        self.description = inner.description

    def available_tables(self) -> set[str]:
        return self.inner.available_tables()

    def run(self, query: Query, parameters: Mapping[str, Any]) -> QueryResult:
        result = self.inner.run(query, parameters)
        if query.name != self.partial:
            return result
        return dataclasses.replace(result, complete=False, warnings=["result truncated at 500000 rows"])

    def close(self) -> None:
        self.inner.close()


def test_a_partial_analysis_shows_the_partial_row_in_the_report_header(workspace: Path) -> None:
    ctx = kn.setup(str(workspace), now=NOW, lookback="7d", live_glue=False)
    ctx.backend = PartialAnswers(LocalBackend(workspace, now=NOW), partial="arm_operations")
    analysis = ctx.analyze()
    assert analysis.complete is False
    meta = ctx.meta()
    assert meta["complete"] is False
    header = ReportHeader.from_run("Overview", meta, generated_at=NOW).to_html()
    assert "<dt>Partial</dt>" in header and "Some results are partial" in header
    complete = kn.setup(str(workspace), now=NOW, lookback="7d", live_glue=False)
    complete.analyze()
    assert "<dt>Partial</dt>" not in ReportHeader.from_run("Overview", complete.meta(), generated_at=NOW).to_html()
