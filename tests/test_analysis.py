"""The impact analysis on the hand-made workspace of test_queries, plus its scoring and advice parts."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_queries import (
    CLI,
    GUEST,
    MI_ID,
    NOW,
    PWSH,
    SP_ID,
    VM_WRITE,
    activity,
    write_workspace,
)

from kitlib.analysis.exports import write_exports
from kitlib.analysis.impact import analyze, run_analyze
from kitlib.analysis.model import IDENTITY_COLUMNS, TOOL_COLUMNS, Analysis
from kitlib.backends.base import QueryResult
from kitlib.backends.local import LocalBackend
from kitlib.domain.apps import tool_family
from kitlib.domain.automation import (
    BANDS,
    MIN_MEASURED,
    MIN_RUNS,
    NOT_BEHAVIOUR,
    ROPC_FLOOR,
    WEIGHTS,
    Features,
    band_for,
    cadence,
    score,
)
from kitlib.domain.remediation import Situation, remediation
from kitlib.errors import UsageError
from kitlib.query.catalog import Query
from kitlib.query.run import run_query


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("analysis-ws"))


@pytest.fixture(scope="module")
def analysis(workspace: Path) -> Analysis:
    return analyze(LocalBackend(workspace, now=NOW), now=NOW, breakglass=["BOB@contoso.com"])


def row(analysis: Analysis, identity: str) -> pd.Series:
    frame = analysis.identities.set_index("identity")
    return frame.loc[identity]


def test_identities_have_the_contract_columns_first_in_order(analysis: Analysis) -> None:
    assert tuple(analysis.identities.columns[: len(IDENTITY_COLUMNS)]) == IDENTITY_COLUMNS


def test_one_row_per_user_however_cased_and_no_workload_identities(analysis: Analysis) -> None:
    ids = list(analysis.identities["identity"])
    assert sorted(ids) == sorted(["alice@contoso.com", "bob@contoso.com", GUEST])
    assert SP_ID not in ids and MI_ID not in ids
    assert set(analysis.workload_identities["id"]) == {SP_ID, MI_ID}


def test_non_mfa_writes_make_will_break_with_checkable_reasons(analysis: Analysis) -> None:
    alice = row(analysis, "alice@contoso.com")
    assert alice["verdict"] == "will_break"
    assert alice["arm_writes"] == 3 and alice["arm_writes_without_mfa"] == 3
    assert alice["actions_without_mfa"] == 1
    assert alice["policy_mfa_events"] == 1
    assert "3 write(s) without MFA (amr=pwd) via Azure CLI between 2026-11-21 and 2026-11-23" in alice["reasons"]
    assert (
        "signs in with a password from a script (ROPC, 3 sign-in(s) for ARM), which can never satisfy MFA: "
        "any write it makes will be refused" in alice["reasons"]
    )
    assert bool(alice["ropc"]) is True
    assert alice["user_id"] == "oid-alice"


def test_policy_event_alone_makes_will_break(analysis: Analysis) -> None:
    bob = row(analysis, "bob@contoso.com")
    assert bob["arm_writes_without_mfa"] == 0 and bob["arm_writes"] == 2
    assert bob["verdict"] == "will_break"
    assert "Azure Policy MFA event" in bob["reasons"]


def test_single_factor_cli_token_without_writes_is_at_risk_and_guest_is_flagged(analysis: Analysis) -> None:
    guest = row(analysis, GUEST)
    assert guest["verdict"] == "at_risk"
    assert bool(guest["guest"]) is True and bool(guest["cross_tenant"]) is True
    assert "cross-tenant" in guest["remediation"].lower()


def test_tools_and_version_bands_come_from_app_and_library(analysis: Analysis) -> None:
    alice = row(analysis, "alice@contoso.com")
    assert alice["tools"] == "azure-cli;bicep"  # the deployment makes bicep, labelled inferred
    assert "azure-cli 2.65.0-2.67.0" in alice["tool_versions"]
    assert "cannot be told apart" in alice["tool_versions"]
    assert "bicep inferred" in alice["tool_versions"]
    assert alice["version_ok"] == "no"
    bob = row(analysis, "bob@contoso.com")
    assert bob["tools"] == "azure-powershell"
    assert bob["azure_powershell_version_ok"] == "yes" and bob["version_ok"] == "yes"


def test_breakglass_is_kept_marked_and_left_out_of_counts(analysis: Analysis) -> None:
    bob = row(analysis, "bob@contoso.com")
    assert bool(bob["breakglass"]) is True
    assert bob["reasons"].startswith("break-glass account")
    assert "Emergency-access" in bob["remediation"]
    assert "azure-powershell" not in set(analysis.tools["tool"])  # bob is its only user
    summary = analysis.summary()
    assert summary["breakglass"] == 1
    assert summary["verdicts"]["will_break"] == 1  # alice only


def test_tools_export_counts_identities_and_writes_per_band(analysis: Analysis) -> None:
    cli = analysis.tools[(analysis.tools["tool"] == "azure-cli")].set_index("version_band")
    assert cli.loc["2.65.0-2.67.0", "identities"] == 1
    assert cli.loc["2.65.0-2.67.0", "arm_writes_without_mfa"] == 3
    assert cli.loc["2.65.0-2.67.0", "version_ok"] == "no"


def test_missing_activity_log_makes_write_dependent_verdicts_unknown(tmp_path: Path) -> None:
    root = write_workspace(tmp_path, activity=False)
    result = analyze(LocalBackend(root, now=NOW), now=NOW)
    assert "AzureActivity" in result.missing_tables
    assert set(result.identities["verdict"]) == {"unknown"}
    alice = result.identities.set_index("identity").loc["alice@contoso.com"]
    assert "AzureActivity is not in the workspace" in alice["reasons"]
    assert "at least at_risk" in alice["reasons"]
    assert "Evidence missing" in alice["remediation"]
    assert any("AzureActivity missing" in w for w in result.warnings)


def test_a_window_before_the_data_gives_typed_empty_exports_and_says_why(workspace: Path, analysis: Analysis) -> None:
    assert not [w for w in analysis.warnings if w.startswith("no sign-in or activity rows")]
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    empty = analyze(LocalBackend(workspace, now=long_ago), now=long_ago)
    assert len(empty.identities) == 0 and len(empty.tools) == 0
    assert tuple(empty.identities.columns[: len(IDENTITY_COLUMNS)]) == IDENTITY_COLUMNS
    assert tuple(empty.tools.columns) == TOOL_COLUMNS
    assert str(empty.identities["arm_writes"].dtype) == "int64"
    assert str(empty.identities["ropc"].dtype) == "bool"
    assert str(empty.tools["identities_will_break"].dtype) == "int64"
    assert empty.identities[empty.identities["verdict"] == "will_break"]["arm_writes"].sum() == 0
    assert [w for w in empty.warnings if w.startswith("no sign-in or activity rows in the window 2019-12-02")]
    assert empty.summary()["verdicts"] == {"will_break": 0, "at_risk": 0, "not_affected": 0, "unknown": 0}


class ReversedSets:
    """A backend returning every list cell reversed: make_set has no order on the service."""

    def __init__(self, inner: LocalBackend) -> None:
        self.inner = inner
        self.description = inner.description

    def available_tables(self) -> set[str]:
        return self.inner.available_tables()

    def run(self, query: Query, parameters: Mapping[str, Any]) -> QueryResult:
        result = self.inner.run(query, parameters)
        frame = result.frame.copy()
        for column in frame.columns:
            if frame[column].map(lambda v: isinstance(v, list)).any():
                frame[column] = frame[column].map(lambda v: list(reversed(v)) if isinstance(v, list) else v)
        return dataclasses.replace(result, frame=frame)


def test_each_operation_counts_once_per_identity_and_the_headline_adds_up(tmp_path: Path) -> None:
    start = NOW - dt.timedelta(days=30)
    carol = "carol@contoso.com"
    rows = [
        # m1: started with an MFA token, finished with a password-only one: one write, without MFA.
        activity(NOW - dt.timedelta(days=3), carol, VM_WRITE, "m1", amr="pwd,mfa"),
        activity(NOW - dt.timedelta(days=3) + dt.timedelta(minutes=1), carol, VM_WRITE, "m1", amr="pwd"),
        # m2: its events logged under two client apps, both with MFA: one write, with MFA.
        activity(NOW - dt.timedelta(days=2), carol, VM_WRITE, "m2", amr="pwd,mfa"),
        activity(NOW - dt.timedelta(days=2), carol, VM_WRITE, "m2", amr="pwd,mfa", app=PWSH),
        # m3: spans midnight; m5 starts exactly at the window start (in); m4 exactly at its end (out).
        activity(dt.datetime(2026, 11, 21, 23, 59, tzinfo=dt.UTC), carol, VM_WRITE, "m3"),
        activity(dt.datetime(2026, 11, 22, 0, 1, tzinfo=dt.UTC), carol, VM_WRITE, "m3"),
        activity(start, carol, VM_WRITE, "m5"),
        activity(NOW, carol, VM_WRITE, "m4"),
    ]
    with (tmp_path / "AzureActivity.jsonl").open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, default=str) + "\n")
    result = analyze(LocalBackend(tmp_path, now=NOW), now=NOW)
    got = row(result, carol)
    assert (got["arm_writes"], got["arm_writes_without_mfa"]) == (4, 3)
    assert "1 write(s) with MFA" in got["reasons"]
    summary = result.summary()
    assert (summary["arm_writes"], summary["arm_writes_without_mfa"], summary["arm_writes_with_mfa"]) == (4, 3, 1)
    daily = run_query(LocalBackend(tmp_path, now=NOW), "arm_writes_mfa_daily", now=NOW).frame
    assert int(daily["Operations"].sum()) == 4
    assert int(daily.loc[~daily["TokenHasMfa"], "Operations"].sum()) == 3


def test_negative_lookback_is_a_usage_error(workspace: Path) -> None:
    with pytest.raises(UsageError):
        analyze(LocalBackend(workspace, now=NOW), now=NOW, lookback=dt.timedelta(0))


def test_exports_write_both_csvs_with_lowercase_booleans(analysis: Analysis, tmp_path: Path) -> None:
    paths = write_exports(analysis, tmp_path / "out")
    assert [p.name for p in paths] == ["identities.csv", "tools.csv"]
    with paths[0].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[: len(IDENTITY_COLUMNS)] == list(IDENTITY_COLUMNS)
    alice = next(r for r in rows if r["identity"] == "alice@contoso.com")
    assert alice["ropc"] == "true" and alice["guest"] == "false"


def test_run_analyze_reads_a_workspace_folder_and_writes_the_csvs(workspace: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    result = run_analyze(copy, tmp_path / "out", NOW, dt.timedelta(days=30), ["bob@contoso.com"])
    assert (tmp_path / "out" / "identities.csv").is_file() and (tmp_path / "out" / "tools.csv").is_file()
    assert len(result.identities) == 3


@pytest.mark.parametrize(
    ("app", "agent", "protocol", "family"),
    [
        (CLI, "python-requests/2.32.3", "none", "azure-cli"),
        (CLI, "azsdk-python-identity/1.19.0 Python/3.11", "none", "azure-sdk"),
        (CLI, "azsdk-python-identity/1.19.0 Python/3.11", "ropc", "ansible"),
        (PWSH, "azsdk-net-Identity/1.21.0", "none", "azure-powershell"),
        ("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Mozilla/5.0", "none", "portal"),
        ("11111111-2222-3333-4444-555555555555", "azsdk-go-azidentity/1.9.0", "none", "azure-sdk"),
        ("11111111-2222-3333-4444-555555555555", "", "none", "other"),
    ],
)
def test_tool_family_from_app_id_and_user_agent(app: str, agent: str, protocol: str, family: str) -> None:
    assert tool_family(app, agent, protocol) == family


# --- automation ---------------------------------------------------------------------------


def minutes(start: dt.datetime, step: dt.timedelta, n: int, jitter: list[int] | None = None) -> list[pd.Timestamp]:
    out = []
    for i in range(n):
        extra = dt.timedelta(minutes=(jitter[i % len(jitter)] if jitter else 0))
        out.append(pd.Timestamp(start + i * step + extra))
    return out


def test_cadence_finds_an_hourly_job() -> None:
    found = cadence(minutes(dt.datetime(2026, 11, 1, 0, 15, tzinfo=dt.UTC), dt.timedelta(hours=1), 48))
    assert found is not None and found[0] == pytest.approx(1.0)
    assert "1.0 h" in found[1]


def test_cadence_finds_a_nightly_job_that_misses_nights() -> None:
    nights = [n for n in range(30) if n % 7 not in (3, 5)]
    times = [
        pd.Timestamp(dt.datetime(2026, 10, 28, 2, 0, tzinfo=dt.UTC) + dt.timedelta(days=n, minutes=n % 3))
        for n in nights
    ]
    found = cadence(times)
    assert found is not None and found[0] >= 0.9
    assert "02:0" in found[1]


def test_cadence_of_office_hours_work_is_low() -> None:
    base = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    offsets = [
        0,
        37,
        160,
        190,
        305,
        1440 + 70,
        1440 + 250,
        2 * 1440 + 15,
        2 * 1440 + 400,
        3 * 1440 + 123,
        3 * 1440 + 200,
        4 * 1440 + 55,
    ]
    found = cadence([pd.Timestamp(base + dt.timedelta(minutes=o)) for o in offsets])
    assert found is not None and found[0] < 0.5


def test_cadence_needs_enough_runs() -> None:
    assert cadence(minutes(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.timedelta(hours=1), MIN_RUNS - 1)) is None


def test_ropc_is_hard_evidence() -> None:
    result = score(
        Features(identity="alice@contoso.com", ropc_signins=3, signins=3, mfa_signins=1, browser_or_office_signins=4)
    )
    assert result.score >= ROPC_FLOOR and result.band == "likely_automation"
    assert result.reasons[0].startswith("signs in with username and password")


def test_a_person_scores_human_and_a_pipeline_scores_automation() -> None:
    person = Features(
        identity="maria.lopez@contoso.com",
        arm_writes=12,
        arm_writes_with_mfa=10,
        mfa_signins=40,
        signins=80,
        arm_signins=20,
        arm_signins_with_device=20,
        browser_or_office_signins=50,
        interactive_mfa_signins=5,
        distinct_ips=4,
        active_days=15,
        asns=["3320"],
        hour_counts={h: 5 for h in range(8, 18)},
        total_events=50,
        weekend_events=1,
    )
    job = Features(
        identity="maria.lopez2@contoso.com",
        arm_writes=60,
        signins=60,
        arm_signins=60,
        distinct_ips=1,
        active_days=30,
        asns=["8075"],
        write_minutes=minutes(dt.datetime(2026, 10, 28, 2, 0, tzinfo=dt.UTC), dt.timedelta(days=1), 30),
        hour_counts={2: 60},
        total_events=60,
        weekend_events=17,
    )
    assert score(person).band == "human"
    scored = score(job)
    assert scored.band == "likely_automation"
    assert len(scored.reasons) == 3
    assert any("never MFA" in r for r in scored.reasons)


def test_cloud_network_is_ignored_for_accounts_with_mfa_interactive_sessions() -> None:
    shell = Features(
        identity="a@b.c", signins=10, arm_signins=10, asns=["8075"], interactive_mfa_signins=3, mfa_signins=3
    )
    assert "cloud_network" not in {c.feature for c in score(shell).contributions}


def test_naming_alone_does_not_make_automation() -> None:
    named = Features(
        identity="svc-backup@contoso.com",
        signins=30,
        mfa_signins=30,
        browser_or_office_signins=10,
        arm_signins=5,
        arm_signins_with_device=5,
        distinct_ips=3,
        active_days=12,
        hour_counts={h: 3 for h in range(8, 17)},
        total_events=27,
    )
    result = score(named)
    assert result.band == "human"
    assert "naming" in {c.feature for c in result.contributions}


def test_too_few_measured_behaviours_are_insufficient_evidence_whatever_the_score() -> None:
    # One write without MFA and nothing else: never_mfa and the burst test are all that can be measured.
    once = Features(identity="svc-deploy@contoso.com", arm_writes=1, write_minutes=[pd.Timestamp("2026-11-20T10:00Z")])
    result = score(once)
    measured = {c.feature for c in result.contributions} - NOT_BEHAVIOUR
    assert len(measured) < MIN_MEASURED
    assert result.score >= 40 and result.band == "insufficient_evidence"
    # ROPC is hard evidence and needs no more.
    assert score(Features(identity="x@contoso.com", ropc_signins=1)).band == "likely_automation"


def test_naming_reason_never_quotes_the_account_name() -> None:
    # Reasons reach pseudonymised reports: the local part would re-identify the account.
    named = Features(identity="sa-liam.novak@contoso.com", signins=3)
    naming = [c for c in score(named).contributions if c.feature == "naming"]
    assert [c.reason for c in naming] == ["the account name follows a service-account convention"]
    assert not any("liam" in c.reason for c in score(named).contributions)


def test_every_contribution_uses_the_weight_table() -> None:
    job = Features(
        identity="svc-x@contoso.com",
        arm_writes=5,
        signins=5,
        arm_signins=5,
        asns=["8075"],
        user_agents=["azsdk-python-identity/1.19.0"],
    )
    for c in score(job).contributions:
        assert c.weight == WEIGHTS[c.feature][0]


def test_bands_follow_the_thresholds() -> None:
    assert [band_for(v) for v in (100, 70, 69.9, 40, 39.9, 0)] == [
        "likely_automation",
        "likely_automation",
        "review",
        "review",
        "human",
        "human",
    ]
    assert BANDS[0][0] == 70


# --- remediation --------------------------------------------------------------------------


def situation(**kw: object) -> Situation:
    base = dict(
        verdict="will_break",
        automation_band="human",
        tools=("azure-cli",),
        version_ok="yes",
        ropc=False,
        guest=False,
        cross_tenant=False,
        breakglass=False,
    )
    base.update(kw)
    return Situation(**base)  # type: ignore[arg-type]


def test_automation_is_sent_to_a_workload_identity() -> None:
    text = remediation(situation(automation_band="likely_automation"))
    assert "managed identity" in text and "federated credential" in text
    assert "aka.ms/setupMFA" not in text


def test_people_register_mfa_and_upgrade_old_clients() -> None:
    text = remediation(situation(version_ok="no", tools=("azure-cli", "azure-powershell")))
    assert "aka.ms/setupMFA" in text
    assert "Upgrade Azure CLI to 2.76.0" in text
    assert "Az.Accounts 5.2.0" in text


def test_unknown_versions_ask_to_check_the_client() -> None:
    assert "az version" in remediation(situation(version_ok="unknown"))


def test_ropc_gets_its_own_warning() -> None:
    assert "ROPC can never satisfy MFA" in remediation(situation(ropc=True, automation_band="review"))


@pytest.mark.parametrize("verdict", ["will_break", "at_risk", "not_affected"])
def test_a_password_script_is_sent_to_a_workload_identity_even_when_it_only_reads(verdict: str) -> None:
    text = remediation(situation(verdict=verdict, ropc=True, automation_band="human"))
    assert "ROPC can never satisfy MFA" in text
    assert "Move this job to a workload identity" in text
    assert "aka.ms/setupMFA" not in text


def test_not_affected_needs_no_action() -> None:
    assert remediation(situation(verdict="not_affected")).startswith("No action")
