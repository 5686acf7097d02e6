"""Partial evidence without a kernel: typed stand-ins for absent tables, the words for what could not be
seen, the days the data covers, and a window that misses the data (the notebook run is in
test_partial_workspaces.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from kitlib import notebook as kn
from kitlib.analysis.findings import could_not_look, gap_lines, next_steps, no_activity_text
from kitlib.backends.coverage import Coverage, empty_window_warning, suggested_window, table_coverage
from kitlib.backends.local import LocalBackend, empty_result
from kitlib.doctor import diagnose
from kitlib.errors import MissingTableError, UsageError
from kitlib.query.catalog import get_query
from kitlib.query.run import run_query
from kitlib.render.html import headline
from kitlib.reporting.export import ReportHeader
from kitlib.reporting.outcome import ReportRun

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
AMR = "http://schemas.microsoft.com/claims/authnmethodsreferences"


def activity(caller: str, when: dt.datetime, mfa: bool) -> dict[str, object]:
    return {
        "TimeGenerated": when.isoformat(),
        "CategoryValue": "Administrative",
        "OperationNameValue": "Microsoft.Compute/virtualMachines/write",
        "Authorization_d": {"evidence": {"principalType": "User"}},
        "Claims_d": {AMR: "pwd,mfa" if mfa else "pwd"},
        "Caller": caller,
        "CorrelationId": f"{caller}-{when.isoformat()}",
    }


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture()
def activity_only(tmp_path: Path) -> Path:
    """AzureActivity only, covering the last 5 days of the window: 10 writes without MFA by bob."""
    rows = [activity("bob@contoso.com", NOW - dt.timedelta(hours=12 * i + 1), mfa=False) for i in range(10)]
    rows += [activity("alice@contoso.com", NOW - dt.timedelta(hours=3), mfa=True)]
    write_jsonl(tmp_path / "ws" / "AzureActivity.jsonl", rows)
    return tmp_path / "ws"


# -- absent tables stand in as typed empty ones ---------------------------------------------------


def test_a_query_on_an_absent_table_raises_by_default_and_is_typed_empty_when_asked(activity_only: Path) -> None:
    with LocalBackend(activity_only, now=NOW) as backend:
        with pytest.raises(MissingTableError, match="SigninLogs"):
            run_query(backend, "arm_token_signins", now=NOW)
        result = run_query(backend, "arm_token_signins", now=NOW, if_absent="empty")
        assert result.frame.empty
        assert result.missing_tables == ["SigninLogs", "AADNonInteractiveUserSignInLogs"]
        assert str(result.frame["SignIns"].dtype) == "int64" and "Identity" in result.frame.columns
        # A present table is still read: the timeline shows bob's writes without any sign-in table.
        timeline = run_query(backend, "identity_timeline", now=NOW, if_absent="empty", identity="bob@contoso.com")
        assert set(timeline.frame["Kind"]) == {"write"} and int(timeline.frame["Operations"].sum()) == 10
        assert timeline.missing_tables == ["SigninLogs", "AADNonInteractiveUserSignInLogs"]
        with pytest.raises(UsageError, match="if_absent"):
            run_query(backend, "arm_token_signins", now=NOW, if_absent="guess")


def test_empty_result_has_the_columns_and_dtypes_of_a_real_answer(activity_only: Path) -> None:
    with LocalBackend(activity_only, now=NOW) as backend:
        real = run_query(backend, "arm_writes_by_identity", now=NOW).frame
    hollow = empty_result(get_query("arm_writes_by_identity"))
    assert len(real) > 0 and hollow.empty
    assert list(hollow.columns) == list(real.columns)
    assert dict(hollow.dtypes.astype(str)) == dict(real.dtypes.astype(str))


# -- the words ------------------------------------------------------------------------------------


def test_gap_lines_say_what_each_absent_table_hides_and_why() -> None:
    lines = gap_lines(["AzureActivity", "AADServicePrincipalSignInLogs", "AzureActivity"])
    assert len(lines) == 2
    assert lines[0].startswith("could not look at Azure Resource Manager create, update and delete operations")
    assert lines[0].endswith("table AzureActivity is not in the workspace")
    assert "workload identities can no longer be told apart from users" in lines[1]


def test_could_not_look_names_the_tables_and_what_was_not_read_with_them() -> None:
    assert could_not_look([]) == ""
    assert could_not_look(["AzureActivity"]) == (
        "Could not look: AzureActivity is not in this workspace, so this section shows no ARM writes."
    )
    assert could_not_look(["AADNonInteractiveUserSignInLogs"], ["SigninLogs"]) == (
        "Could not look: AADNonInteractiveUserSignInLogs is not in this workspace, so this section shows no "
        "non-interactive token refreshes; SigninLogs, read together with it, was not read either."
    )


def test_no_activity_is_a_finding_only_when_every_source_was_read() -> None:
    assert no_activity_text([], []).startswith("No ARM activity by user identities in this window")
    nothing = no_activity_text(["AzureActivity", "SigninLogs", "AADNonInteractiveUserSignInLogs"], ["AzureActivity"])
    assert nothing.startswith("Could not look for ARM activity by user identities: AzureActivity is not in")
    assert "SigninLogs and AADNonInteractiveUserSignInLogs could not be read without it" in nothing
    assert "An empty page here is not a finding" in nothing
    part = no_activity_text(["SigninLogs", "AADNonInteractiveUserSignInLogs"], ["SigninLogs"])
    assert part.startswith("No ARM activity by user identities seen in AzureActivity, but could not look in")
    assert "No ARM activity by user identities in this window" not in part


def test_next_steps_ask_for_the_missing_logs_and_claim_nothing_they_would_show() -> None:
    ids = pd.DataFrame(
        [{"identity": "ann@contoso.com", "verdict": "unknown", "automation_band": "human", "ropc": False,
          "guest": False, "breakglass": False, "version_ok": "unknown", "arm_writes_without_mfa": 0}]
    )  # fmt: skip
    steps = next_steps(ids, None, ["AzureActivity", "AADManagedIdentitySignInLogs"])
    assert steps[0].startswith("Send AzureActivity to the workspace (kitlib doctor says how)")
    assert any(s.startswith("Judge 1 identity again once the missing logs arrive") for s in steps)
    assert not any("Nothing to fix" in s or "audit policies" in s for s in steps)
    # With every log there and nothing found, "nothing to fix" is a finding again.
    clean = ids.assign(verdict="not_affected")
    assert next_steps(clean, pd.DataFrame({"Action": ["audit"], "Operations": [1], "Subscriptions": [["s"]]})) == [
        "Nothing to fix in this window: every user write to Azure Resource Manager carried MFA."
    ]


def test_a_number_that_was_not_measured_reads_could_not_look_not_zero() -> None:
    tiles = headline({"would break": None, "at risk": 0})
    assert "kit-tile-unmeasured" in tiles.html and ">could not look<" in tiles.html and ">0<" in tiles.html
    assert tiles.text == "would break: could not look\nat risk: 0"


def test_the_header_lists_what_could_not_be_judged_escaped() -> None:
    meta = {"missing_tables": ["AzureActivity"], "gaps": ["could not look at <b>writes</b>"], "complete": True}
    page = ReportHeader.from_run("Overview", meta, generated_at=NOW).to_html()
    assert "<dt>Could not judge</dt>" in page and "&lt;b&gt;writes&lt;/b&gt;" in page and "<b>" not in page


def test_the_console_shows_the_first_warnings_and_says_where_the_rest_are(tmp_path: Path) -> None:
    run = ReportRun(tmp_path, [], "", 0.0, {}, warnings=[f"w{i}" for i in range(30)])
    lines = run.console_warnings(limit=25)
    assert lines[:25] == [f"w{i}" for i in range(25)]
    assert lines[25] == f"... and 5 more warning(s) in {tmp_path / 'manifest.json'}"
    assert ReportRun(tmp_path, [], "", 0.0, {}, warnings=["one"]).console_warnings() == ["one"]


# -- the notebook context on a partial workspace --------------------------------------------------


def test_the_context_gives_typed_frames_and_says_where_it_could_not_look(activity_only: Path) -> None:
    ctx = kn.setup(str(activity_only), now=NOW, live_glue=False)
    tokens = ctx.frame("arm_token_signins")  # not run: the sign-in tables are absent
    assert tokens.empty and {"Identity", "Ips", "Asns"} <= set(tokens.columns)
    assert ctx.absent_tables() == [
        "SigninLogs",
        "AADNonInteractiveUserSignInLogs",
        "AADServicePrincipalSignInLogs",
        "AADManagedIdentitySignInLogs",
    ]
    assert ctx.meta()["missing_tables"] == sorted(ctx.absent_tables())
    assert ctx.missing("arm_operations") == [] and ctx.missing("workload_signins") == [
        "AADServicePrincipalSignInLogs",
        "AADManagedIdentitySignInLogs",
    ]
    assert ctx.gap_note("arm_operations").html == ""
    note = ctx.gap_note("arm_token_signins").html
    assert "Could not look: SigninLogs and AADNonInteractiveUserSignInLogs are not in this workspace" in note
    figure = object()
    assert ctx.unless_missing(figure, "arm_operations") is figure
    assert ctx.unless_missing(figure, "arm_token_signins").html == note
    assert ctx.unless_missing(figure, "arm_token_signins", quiet=True) is None
    assert ctx.unless_unseen(figure, tokens, "arm_token_signins") is None
    assert ctx.measured(3, "AzureActivity") == 3 and ctx.measured(3, "arm_token_signins") is None
    assert ctx.partial(3, "AzureActivity") == 3 and ctx.partial(3, "SigninLogs") is None
    assert ctx.partial(3, "AzureActivity", "SigninLogs") == "at least 3"


def test_a_page_query_reads_the_tables_that_are_there_and_records_the_rest(activity_only: Path) -> None:
    ctx = kn.setup(str(activity_only), now=NOW, live_glue=False)
    timeline = ctx.query("identity_timeline", identity="bob@contoso.com")
    assert int(timeline["Operations"].sum()) == 10
    assert {"SigninLogs", "AADNonInteractiveUserSignInLogs"} <= set(ctx.meta()["missing_tables"])
    # Only the absent tables are unread: the activity log was read, so no "not read either".
    note = ctx.gap_note("identity_timeline").html
    assert "SigninLogs and AADNonInteractiveUserSignInLogs are not in this workspace" in note
    assert "not read either" not in note


def test_no_activity_says_could_not_look_in_part_of_the_logs(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "ws" / "AzureActivity.jsonl", [activity("app-guid", NOW - DAY, mfa=False)])
    ctx = kn.setup(str(tmp_path / "ws"), now=NOW, live_glue=False)
    text = ctx.no_activity().text
    assert text.startswith("No ARM activity by user identities seen in AzureActivity, but could not look in")
    assert "SigninLogs and AADNonInteractiveUserSignInLogs (SigninLogs and AADNonInteractiveUserSignInLogs are" in text


def test_a_misplaced_window_is_named_with_a_now_that_covers_the_data(activity_only: Path) -> None:
    ctx = kn.setup(str(activity_only), now=NOW + 100 * DAY, live_glue=False)
    text = ctx.no_activity().text
    assert "The window 2027-02-05 00:00 UTC .. 2027-03-07 00:00 UTC holds no rows in any table: the data" in text
    assert text.endswith("Run with --now 2026-11-27T00:00:00Z --lookback 30d to analyse it.")
    assert "nothing to show" not in text
    assert any("holds no rows in any table" in w for w in ctx.meta()["warnings"])


def test_days_covered_is_what_a_per_day_rate_divides_by(activity_only: Path) -> None:
    ctx = kn.setup(str(activity_only), now=NOW, lookback="30d", live_glue=False)
    covered = ctx.days_covered("AzureActivity")
    assert covered is not None and 4.4 < covered < 4.6  # first write 109 h before now, last 1 h before
    assert ctx.days_covered("SigninLogs") is None


# -- coverage ----------------------------------------------------------------------------------


def coverage(oldest: dt.datetime | None, newest: dt.datetime | None, in_window: int = 1) -> Coverage:
    return Coverage("AzureActivity", 10 if oldest else 0, in_window, oldest, newest)


def test_days_covered_counts_only_the_part_of_the_window_with_data() -> None:
    start, end = NOW - 30 * DAY, NOW
    assert coverage(NOW - 90 * DAY, NOW).days_covered(start, end) == 30  # older data: the whole window
    assert coverage(NOW - 7 * DAY, NOW - DAY).days_covered(start, end) == 6  # starts late, stops early
    assert coverage(NOW - dt.timedelta(hours=5), NOW).days_covered(start, end) == 1  # at least a day
    assert coverage(None, None, 0).days_covered(start, end) == 30
    assert coverage(NOW - 90 * DAY, NOW - 60 * DAY, 0).days_covered(start, end) == 1  # no overlap


def test_suggested_window_ends_the_day_after_the_data_and_grows_the_lookback_to_fit() -> None:
    short = [coverage(dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC), dt.datetime(2025, 3, 9, 13, tzinfo=dt.UTC))]
    assert suggested_window(short, 30 * DAY) == (dt.datetime(2025, 3, 10, tzinfo=dt.UTC), 30 * DAY)
    long = [coverage(dt.datetime(2025, 1, 1, 8, tzinfo=dt.UTC), dt.datetime(2025, 3, 9, 13, tzinfo=dt.UTC))]
    # 2025-01-01 08:00 .. 2025-03-10 00:00 is 67 days and 16 hours: 68 whole days cover it.
    assert suggested_window(long, 30 * DAY) == (dt.datetime(2025, 3, 10, tzinfo=dt.UTC), 68 * DAY)
    assert suggested_window([coverage(None, None, 0)], 30 * DAY) is None


def test_empty_window_warning_only_when_no_table_has_a_row_in_the_window() -> None:
    start, end = NOW - 30 * DAY, NOW
    old = Coverage("SigninLogs", 5, 0, dt.datetime(2025, 3, 1, tzinfo=dt.UTC), dt.datetime(2025, 3, 9, tzinfo=dt.UTC))
    text = empty_window_warning([old], start, end, 30 * DAY)
    assert text == (
        "the window 2026-10-28 00:00 UTC .. 2026-11-27 00:00 UTC holds no rows in any table: the data covers "
        "2025-03-01 00:00 UTC .. 2025-03-09 00:00 UTC (SigninLogs). "
        "Run with --now 2025-03-10T00:00:00Z --lookback 30d to analyse it"
    )
    assert empty_window_warning([old, coverage(NOW - DAY, NOW, in_window=3)], start, end, 30 * DAY) is None
    empty = Coverage("SigninLogs", 0, 0, None, None)
    assert "the workspace's tables (SigninLogs) are empty" in str(empty_window_warning([empty], start, end, 30 * DAY))
    assert empty_window_warning([], start, end, 30 * DAY) is None


def test_table_coverage_counts_rows_in_and_out_of_the_window(activity_only: Path) -> None:
    with LocalBackend(activity_only, now=NOW) as backend:
        found = table_coverage(backend, "AzureActivity", NOW - 2 * DAY, NOW)
    assert (found.total_rows, found.rows_in_window) == (11, 5)
    assert found.oldest == NOW - dt.timedelta(hours=109) and found.newest == NOW - dt.timedelta(hours=1)


def test_doctor_names_a_misplaced_window_and_the_now_that_covers_the_data(activity_only: Path) -> None:
    with LocalBackend(activity_only, now=NOW) as backend:
        report = diagnose(backend, now=NOW + 100 * DAY, lookback=30 * DAY)
        fine = diagnose(backend, now=NOW, lookback=30 * DAY)
    window = [f for f in report.findings if f.table == "window"]
    assert len(window) == 1 and window[0].level == "problem"
    assert window[0].message.endswith("Run with --now 2026-11-27T00:00:00Z --lookback 30d to analyse it")
    assert "window: problem: the window 2027-02-05" in report.text
    assert not [f for f in fine.findings if f.table == "window"]
