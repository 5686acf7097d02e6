"""The live backend against the stand-in Kusto service, through the real azure-kusto-data client.

Every test here sends real HTTP to a server on 127.0.0.1 that runs the received KQL on the local
engine, with a token callback in the path: nothing in the client is mocked.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from standin_kusto import EXPIRED_TEXT, LOW_MEMORY_TEXT, StandinKusto, write_sample_workspace

from kitlib.backends.kusto import KustoBackend, LiveOptions, parse_answer, result_frame, time_slices
from kitlib.backends.local import LocalBackend
from kitlib.errors import (
    AuthError,
    MissingTableError,
    PartialResultError,
    QueryDefinitionError,
    QueryExecutionError,
    QueryTimeoutError,
    ThrottledError,
)
from kitlib.query.catalog import Query, get_query, parse_query
from kitlib.settings.auth import PublicClientProvider, ServiceAuth, token_fingerprint
from kitlib.settings.config import AuthSettings

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
FAST = {"backoff_base": 0.01, "backoff_cap": 0.05}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_workspace(tmp_path_factory.mktemp("live-ws"), NOW, days=10)


@pytest.fixture
def standin(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinKusto]:
    with StandinKusto(workspace, now=NOW, max_lifetime=120) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


@pytest.fixture
def adx(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinKusto]:
    with StandinKusto(workspace, now=NOW, flavour="adx", database="SignIns", max_lifetime=120) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


@pytest.fixture
def local(workspace: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(workspace, now=NOW)
    yield backend
    backend.close()


def signed_in(server: StandinKusto, tmp_path: Path) -> PublicClientProvider:
    """A real MSAL provider signed in by device code against the stand-in identity provider."""
    settings = AuthSettings(mode="device_code", tenant_id=server.tenant_id, token_cache=str(tmp_path / "cache.bin"))
    service = ServiceAuth(server.idp, "https://kusto.standin.example/.default", "db662dc1-0cfe-4e1c-a843-19a68e65be58")
    provider = PublicClientProvider(settings, service, "standin")
    provider.login(prompt=lambda message: None)
    return provider


def static_token(server: StandinKusto) -> str:
    token = "static-token-" + os.urandom(8).hex()
    server.add_token(token)
    return token


def backend(server: StandinKusto, provider: object, **options: object) -> KustoBackend:
    mode = "let" if server.flavour == "log_analytics" else "request"
    merged = {"param_mode": mode, **FAST, **options}
    return KustoBackend(
        server.url, server.database, provider, kind=server.flavour, options=LiveOptions(**merged), now=NOW
    )  # type: ignore[arg-type]


def kql(tmp_path: Path, name: str, body: str, header: str = "// tables: AzureActivity") -> Query:
    """A throwaway catalog entry (parsed by the real catalog parser)."""
    path = tmp_path / f"{name}.kql"
    path.write_text(f"// name: {name}\n// description: test query\n{header}\n{body}\n", encoding="utf-8")
    return parse_query(path)


WINDOW = {"start": NOW - dt.timedelta(days=5), "end": NOW}


# -- normal results ----------------------------------------------------------------------------


def test_log_analytics_result_equals_the_local_engine_and_the_request_is_let_bound(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path
) -> None:
    provider = signed_in(standin, tmp_path)
    live = backend(standin, provider)
    query = get_query("arm_writes_mfa_daily")
    result = live.run(query, WINDOW)
    expected = local.run(query, WINDOW).frame
    assert result.complete and not result.warnings
    assert len(result.frame) > 0
    pd.testing.assert_frame_equal(result.frame, expected)
    sent = standin.queries()[-1]
    assert sent.path.endswith("/workspaces/ws-standin/v2/rest/query")
    assert sent.database == "ws-standin"  # the workspace name is the database
    assert sent.options["deferpartialqueryfailures"] is True
    assert sent.options["servertimeout"] == "0:10:00"
    assert sent.options["results_progressive_enabled"] is False  # one DataTable frame per table
    assert sent.parameters == {}
    assert (
        "declare query_parameters" not in sent.csl and "let start = datetime(2026-11-22T00:00:00.000000Z);" in sent.csl
    )
    assert sent.token_id == token_fingerprint(provider())
    assert sent.application == "kitlib" and sent.client_request_id.startswith(
        f"kitlib;{live.run_id};arm_writes_mfa_daily;"
    )


def test_adx_sends_request_parameters_and_the_query_unchanged(adx: StandinKusto, local: LocalBackend) -> None:
    live = backend(adx, lambda: token)
    token = static_token(adx)
    query = get_query("arm_writes_mfa_daily")
    result = live.run(query, WINDOW)
    pd.testing.assert_frame_equal(result.frame, local.run(query, WINDOW).frame)
    sent = adx.queries()[-1]
    assert sent.path == "/v2/rest/query" and sent.database == "SignIns"
    assert sent.parameters == {
        "start": "datetime(2026-11-22T00:00:00.000000Z)",
        "end": "datetime(2026-11-27T00:00:00.000000Z)",
    }
    assert "declare query_parameters(start:datetime, end:datetime);" in sent.csl


def test_typed_columns_come_back_with_the_local_engine_dtypes(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path
) -> None:
    query = kql(
        tmp_path,
        "typed_columns",
        "declare query_parameters(start:datetime, end:datetime);\n"
        "SigninLogs | where TimeGenerated >= start and TimeGenerated < end\n"
        "| extend Os = tostring(DeviceDetail.operatingSystem), Hour = datetime_part('hour', TimeGenerated)\n"
        "| extend Ratio = 1.5 * 2\n"
        "| project TimeGenerated, UserPrincipalName, IsInteractive, DeviceDetail, Os, Hour, Ratio, DurationMs\n"
        "| order by TimeGenerated asc | take 5",
        "// tables: SigninLogs",
    )
    live = backend(standin, lambda: token)
    token = static_token(standin)
    result = live.run(query, WINDOW).frame
    expected = local.run(query, WINDOW).frame
    pd.testing.assert_frame_equal(result, expected)
    assert (
        isinstance(result["DeviceDetail"].iloc[0], dict)
        and result["DeviceDetail"].iloc[0]["operatingSystem"] == "Windows 10"
    )
    assert str(result["TimeGenerated"].dtype) == "datetime64[ns, UTC]"
    assert result["DurationMs"].isna().all()  # absent from the files: a typed null column on both


def test_result_frame_handles_empty_results_and_service_spellings_of_special_values() -> None:
    from azure.kusto.data._models import KustoResultColumn

    columns = [
        KustoResultColumn({"ColumnName": n, "ColumnType": t}, i)
        for i, (n, t) in enumerate(
            [("When", "datetime"), ("N", "long"), ("R", "real"), ("Span", "timespan"), ("Ok", "bool")]
        )
    ]
    frame = result_frame(
        columns,
        [
            ["2026-11-01T00:00:00.1234567Z", None, "NaN", "1.02:03:04.5000000", None],
            ["2026-11-02T00:00:00Z", 3, 2.5, "00:00:01", True],
        ],
    )
    assert str(frame["N"].dtype) == "Int64" and frame["N"].iloc[1] == 3 and pd.isna(frame["N"].iloc[0])
    assert pd.isna(frame["R"].iloc[0]) and frame["R"].iloc[1] == 2.5
    assert frame["Span"].iloc[0] == pd.Timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert str(frame["Ok"].dtype) == "boolean" and pd.isna(frame["Ok"].iloc[0])
    assert frame["When"].iloc[0] == pd.Timestamp("2026-11-01T00:00:00.1234567Z")
    empty = result_frame(columns, [])
    assert list(empty.columns) == ["When", "N", "R", "Span", "Ok"] and len(empty) == 0
    assert str(empty["When"].dtype) == "datetime64[ns, UTC]"


# -- completeness ------------------------------------------------------------------------------


ROWS = (
    "declare query_parameters(start:datetime, end:datetime);\n"
    "AzureActivity | where TimeGenerated >= start and TimeGenerated < end\n"
    "| project TimeGenerated, Caller, OperationNameValue, CorrelationId | order by TimeGenerated asc, CorrelationId asc"
)


def test_truncated_result_raises_with_the_partial_rows_and_the_service_reason(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path
) -> None:
    query = kql(tmp_path, "activity_rows", ROWS)
    standin.truncate_rows = 25
    live = backend(standin, lambda: token)
    token = static_token(standin)
    with pytest.raises(PartialResultError) as err:
        live.run(query, WINDOW)
    full = local.run(query, WINDOW).frame
    assert len(full) > 25
    assert "E_QUERY_RESULT_SET_TOO_LARGE" in err.value.reason and "record count limit 25" in err.value.reason
    pd.testing.assert_frame_equal(err.value.partial, full.head(25))


def test_truncated_result_in_warn_mode_is_marked_incomplete_and_says_why(standin: StandinKusto, tmp_path: Path) -> None:
    query = kql(tmp_path, "activity_rows", ROWS)
    standin.truncate_rows = 10
    live = backend(standin, lambda: token, on_partial="warn")
    token = static_token(standin)
    result = live.run(query, WINDOW)
    assert not result.complete and result.rows == 10
    assert any(
        w.startswith("INCOMPLETE RESULT: activity_rows: ") and "E_QUERY_RESULT_SET_TOO_LARGE" in w
        for w in result.warnings
    )


def test_partial_failure_reported_inside_the_rows_keeps_the_rows_that_arrived(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path
) -> None:
    """A service that ignores deferpartialqueryfailures puts the error in place of the next row.

    The client would drop every row with it; the backend reads the frames itself, so the rows
    that arrived come back with the service's reason (the recorded answer has no completion table).
    """
    query = kql(tmp_path, "activity_rows", ROWS)
    standin.truncate_rows = 10
    standin.honour_defer = False
    live = backend(standin, lambda: token)
    token = static_token(standin)
    with pytest.raises(PartialResultError, match=r"LimitsExceeded: Query execution has exceeded.*80DA0003") as err:
        live.run(query, WINDOW)
    pd.testing.assert_frame_equal(err.value.partial, local.run(query, WINDOW).frame.head(10))
    assert "500,000 rows" in err.value.reason  # the limits that explain a truncation


def test_on_partial_warn_is_honoured_for_errors_reported_inside_the_rows(standin: StandinKusto, tmp_path: Path) -> None:
    query = kql(tmp_path, "activity_rows", ROWS)
    standin.truncate_rows = 10
    standin.honour_defer = False
    live = backend(standin, lambda: token, on_partial="warn")
    token = static_token(standin)
    result = live.run(query, WINDOW)
    assert not result.complete and result.rows == 10
    assert any(w.startswith("INCOMPLETE RESULT: activity_rows: LimitsExceeded") for w in result.warnings)
    standin.truncate_rows = None
    standin.queue("runaway_inband")
    result = live.run(query, WINDOW)
    assert not result.complete and result.rows == standin.inband_rows == 2
    assert any("80DA0001" in w and "too many resources" in w for w in result.warnings)


# -- transient failures ---------------------------------------------------------------------------


def test_throttling_is_retried_with_backoff_then_succeeds(
    standin: StandinKusto, local: LocalBackend, caplog: pytest.LogCaptureFixture
) -> None:
    standin.queue("throttle", "throttle")
    live = backend(standin, lambda: token, max_attempts=4)
    token = static_token(standin)
    query = get_query("arm_writes_mfa_daily")
    with caplog.at_level(logging.WARNING, logger="kitlib.backends.kusto"):
        result = live.run(query, WINDOW)
    pd.testing.assert_frame_equal(result.frame, local.run(query, WINDOW).frame)
    assert [r.status for r in standin.queries()] == [429, 429, 200]
    assert "throttled (429); attempt 1 of 4" in caplog.text and "attempt 2 of 4" in caplog.text


def test_throttling_that_never_stops_gives_a_typed_error_after_the_bound(standin: StandinKusto) -> None:
    standin.queue(*["throttle"] * 5)
    live = backend(standin, lambda: token, max_attempts=3)
    token = static_token(standin)
    with pytest.raises(ThrottledError) as err:
        live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    assert err.value.attempts == 3
    assert [r.status for r in standin.queries()] == [429, 429, 429]


def test_retry_after_from_the_service_is_honoured(standin: StandinKusto) -> None:
    standin.queue("throttle")
    standin.retry_after_seconds = 1
    live = backend(standin, lambda: token, backoff_cap=5.0)
    token = static_token(standin)
    started = time.perf_counter()
    live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    assert time.perf_counter() - started >= 1.0


def test_service_unavailable_and_dropped_connections_are_retried(standin: StandinKusto) -> None:
    standin.queue("unavailable", "drop")
    live = backend(standin, lambda: token)
    token = static_token(standin)
    result = live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    assert result.rows > 0
    assert [r.status for r in standin.queries()] == [503, 0, 200]


def test_a_refused_token_is_refreshed_once_and_the_query_succeeds(standin: StandinKusto, tmp_path: Path) -> None:
    provider = signed_in(standin, tmp_path)
    live = backend(standin, provider)
    first = live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    standin.revoke_tokens()  # the cached token is still "valid" for MSAL but the service refuses it
    second = live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    pd.testing.assert_frame_equal(first.frame, second.frame)
    statuses = [r.status for r in standin.queries()]
    assert statuses == [200, 401, 200]
    tokens = [r.token_id for r in standin.queries()]
    assert tokens[0] == tokens[1] != tokens[2]
    assert provider.refreshes == 1 and standin.grants.count("refresh_token") == 1


def test_a_token_refused_again_after_refresh_is_a_clear_auth_error(standin: StandinKusto, tmp_path: Path) -> None:
    provider = signed_in(standin, tmp_path)
    standin.deny_all = True
    live = backend(standin, provider)
    with pytest.raises(AuthError, match=r"refused the token \(401\) even after a refresh.*Log Analytics Reader"):
        live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    assert [r.status for r in standin.queries()] == [401, 401]
    assert provider.refreshes == 1


def test_a_query_past_the_server_timeout_fails_with_a_timeout_error(standin: StandinKusto) -> None:
    standin.queue("timeout")
    live = backend(standin, lambda: token, server_timeout=dt.timedelta(seconds=1))
    token = static_token(standin)
    started = time.perf_counter()
    with pytest.raises(QueryTimeoutError, match=r"server_timeout 0:00:01.*split the window"):
        live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    assert 0.9 <= time.perf_counter() - started < 10
    assert standin.queries()[0].options["servertimeout"] == "0:00:01"
    assert [r.status for r in standin.queries()] == [504]  # a timeout is not retried


def test_an_unreachable_service_is_a_clear_error_after_the_bounded_retries(standin: StandinKusto) -> None:
    url = standin.url
    token = static_token(standin)
    standin.stop()
    live = KustoBackend(url, standin.database, lambda: token, options=LiveOptions(max_attempts=2, **FAST))
    with pytest.raises(QueryExecutionError, match=r"cannot reach .*network error on all 2 attempts"):
        live.run(get_query("arm_writes_mfa_daily"), WINDOW)


def test_wrong_workspace_name_is_reported_with_the_service_message(standin: StandinKusto) -> None:
    live = KustoBackend(standin.url, "Ws-Standin", lambda: token, options=LiveOptions(**FAST))
    token = static_token(standin)
    with pytest.raises(QueryExecutionError, match="Entity ID 'Ws-Standin' of kind 'Database' was not found"):
        live.run(get_query("arm_writes_mfa_daily"), WINDOW)


# -- time slices -------------------------------------------------------------------------------


def test_time_slices_cover_the_window_without_gaps_and_cut_at_multiples_of_the_step() -> None:
    start = dt.datetime(2026, 11, 17, 13, 30, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)
    slices = list(time_slices(start, end, dt.timedelta(days=1)))
    assert slices[0] == (start, dt.datetime(2026, 11, 18, tzinfo=dt.UTC))
    assert slices[-1] == (dt.datetime(2026, 11, 20, tzinfo=dt.UTC), end)
    assert len(slices) == 4
    assert all(a[1] == b[0] for a, b in itertools.pairwise(slices))


def test_a_long_window_is_split_under_the_row_limit_and_stitched_back_exactly(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path
) -> None:
    query = kql(tmp_path, "activity_rows", ROWS)
    window = {"start": NOW - dt.timedelta(days=9, hours=13), "end": NOW - dt.timedelta(hours=5)}
    standin.truncate_rows = 60  # 48 activity rows a day: one day fits, the window does not
    token = static_token(standin)
    with pytest.raises(PartialResultError):
        backend(standin, lambda: token).run(query, window)
    split = backend(standin, lambda: token, split_by=dt.timedelta(days=1), split_queries=frozenset({"activity_rows"}))
    result = split.run(query, window)
    expected = local.run(query, window).frame
    assert result.complete and len(expected) > 60
    pd.testing.assert_frame_equal(result.frame, expected)
    sent = [r for r in standin.queries() if r.status == 200][1:]
    assert len(sent) == 10  # 9 days 8 hours, cut at midnights: a partial first and last day
    assert "let start = datetime(2026-11-17T11:00:00.000000Z);" in sent[0].csl
    assert "let end = datetime(2026-11-18T00:00:00.000000Z);" in sent[0].csl


def test_per_day_aggregates_stitch_exactly_when_split_by_day(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path
) -> None:
    query = kql(
        tmp_path,
        "writes_daily",
        "declare query_parameters(start:datetime, end:datetime);\n"
        "AzureActivity | where TimeGenerated >= start and TimeGenerated < end\n"
        '| where OperationNameValue endswith "/write"\n'
        "| summarize Writes = count(), Operations = dcount(CorrelationId)\n"
        "    by Day = bin(TimeGenerated, 1d), Caller = tolower(Caller)\n"
        "| order by Day asc, Caller asc",
    )
    window = {"start": NOW - dt.timedelta(days=7, hours=6), "end": NOW}
    token = static_token(standin)
    live = backend(standin, lambda: token, split_by=dt.timedelta(days=1), split_queries=frozenset({"writes_daily"}))
    result = live.run(query, window)
    pd.testing.assert_frame_equal(result.frame, local.run(query, window).frame)
    assert len([r for r in standin.queries() if r.status == 200]) == 8


def test_a_query_with_an_inclusive_window_is_refused_for_splitting(standin: StandinKusto, tmp_path: Path) -> None:
    query = kql(
        tmp_path,
        "inclusive",
        "declare query_parameters(start:datetime, end:datetime);\n"
        "AzureActivity | where TimeGenerated between (start .. end) | count",
    )
    live = backend(standin, lambda: "unused", split_by=dt.timedelta(days=1), split_queries=frozenset({"inclusive"}))
    with pytest.raises(QueryDefinitionError, match="half-open window"):
        live.run(query, WINDOW)
    assert standin.queries() == []


# -- missing tables and parameters ---------------------------------------------------------------


def test_missing_required_table_maps_the_service_error_to_missing_table_error(
    standin: StandinKusto, tmp_path: Path
) -> None:
    query = kql(
        tmp_path,
        "noninteractive",
        "declare query_parameters(start:datetime, end:datetime);\n"
        "AADNonInteractiveUserSignInLogs | where TimeGenerated >= start and TimeGenerated < end | count",
        "// tables: AADNonInteractiveUserSignInLogs",
    )
    live = backend(standin, lambda: token)
    token = static_token(standin)
    with pytest.raises(MissingTableError) as err:
        live.run(query, WINDOW)
    assert err.value.table == "AADNonInteractiveUserSignInLogs"
    assert "diagnostic setting" in str(err.value)


@pytest.mark.parametrize("flavour", ["log_analytics", "adx"])
def test_missing_optional_table_is_an_empty_typed_table_with_a_warning_as_locally(
    workspace: Path, local: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flavour: str
) -> None:
    query = kql(
        tmp_path,
        "signins_both",
        "declare query_parameters(start:datetime, end:datetime);\n"
        "union (SigninLogs | where TimeGenerated >= start and TimeGenerated < end\n"
        "       | project TimeGenerated, UserPrincipalName, Interactive = true),\n"
        "      (AADNonInteractiveUserSignInLogs | where TimeGenerated >= start and TimeGenerated < end\n"
        "       | project TimeGenerated, UserPrincipalName, Interactive = false)\n"
        "| summarize SignIns = count(), Last = max(TimeGenerated) by UserPrincipalName, Interactive\n"
        "| order by UserPrincipalName asc",
        "// tables: SigninLogs\n// optional_tables: AADNonInteractiveUserSignInLogs",
    )
    with StandinKusto(workspace, now=NOW, flavour=flavour, max_lifetime=60) as server:
        token = static_token(server)
        result = backend(server, lambda: token).run(query, WINDOW)
    expected = local.run(query, WINDOW)
    assert result.missing_tables == expected.missing_tables == ["AADNonInteractiveUserSignInLogs"]
    assert result.warnings == expected.warnings
    pd.testing.assert_frame_equal(result.frame, expected.frame)


HOSTILE = [
    'bob@contoso.example" or 1==1 | union SigninLogs //',
    "bob@contoso.example' or '1'=='1",
    'x"; AzureActivity | take 1000 //',
    'back\\slash\\"quote',
    "new\nline | take 10",
    "ünïcødé | where true",
]


@pytest.mark.parametrize("flavour", ["log_analytics", "adx"])
def test_hostile_strings_stay_inert_in_both_parameter_modes(
    workspace: Path, local: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flavour: str
) -> None:
    query = kql(
        tmp_path,
        "writes_by_caller",
        "declare query_parameters(start:datetime, end:datetime, caller:string);\n"
        "AzureActivity | where TimeGenerated >= start and TimeGenerated < end | where Caller =~ caller | count",
    )
    with StandinKusto(workspace, now=NOW, flavour=flavour, max_lifetime=60) as server:
        token = static_token(server)
        live = backend(server, lambda: token)
        genuine = live.run(query, {**WINDOW, "caller": "bob@contoso.example"}).frame
        assert (
            genuine["Count"].iloc[0]
            == local.run(query, {**WINDOW, "caller": "bob@contoso.example"}).frame["Count"].iloc[0]
            > 0
        )
        for value in HOSTILE:
            frame = live.run(query, {**WINDOW, "caller": value}).frame
            assert frame["Count"].tolist() == [0], value
        if flavour == "adx":
            assert server.queries()[-1].parameters["caller"] == HOSTILE[-1]


def test_a_service_that_refuses_request_parameters_is_served_by_let_binding(
    workspace: Path, local: LocalBackend
) -> None:
    with StandinKusto(workspace, now=NOW, max_lifetime=60) as server:
        server.accept_parameters = False
        token = static_token(server)
        query = get_query("arm_writes_mfa_daily")
        with pytest.raises(QueryExecutionError, match="Query parameters are not supported"):
            backend(server, lambda: token, param_mode="request").run(query, WINDOW)
        result = backend(server, lambda: token, param_mode="let").run(query, WINDOW)
    pd.testing.assert_frame_equal(result.frame, local.run(query, WINDOW).frame)


def test_available_tables_and_schemas_come_from_the_service(standin: StandinKusto) -> None:
    standin.schema_overrides = {"SigninLogs": {"DeviceDetail": "string"}}
    live = backend(standin, lambda: token)
    token = static_token(standin)
    assert live.available_tables() == {"AzureActivity", "SigninLogs"}
    schema = live.table_schema("SigninLogs")
    assert schema is not None and schema["DeviceDetail"] == "string" and schema["TimeGenerated"] == "datetime"
    assert live.table_schema("AADManagedIdentitySignInLogs") is None


# -- secrets -------------------------------------------------------------------------------------


def test_no_token_reaches_the_logs_even_at_debug(
    standin: StandinKusto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    standin.token_lifetime = 60  # under MSAL's 5-minute margin: every query refreshes
    with caplog.at_level(logging.DEBUG):
        provider = signed_in(standin, tmp_path)
        live = backend(standin, provider)
        standin.queue("throttle", "unauthorized")
        for _ in range(3):
            live.run(get_query("arm_writes_mfa_daily"), WINDOW)
        standin.deny_all = True
        with pytest.raises(AuthError) as err:
            live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    secrets = standin.issued_secrets
    assert len(secrets) >= 8  # several access, refresh and id tokens were issued
    assert "msal" in caplog.text and "kitlib.backends.kusto" in caplog.text  # DEBUG really was captured
    leaked = [s[:12] for s in secrets if s in caplog.text or s in str(err.value) or s in repr(provider)]
    assert leaked == []


# -- answers as the service sends them -----------------------------------------------------------

SIGNINS_ONLY = (
    "declare query_parameters(start:datetime, end:datetime);\n"
    "AADNonInteractiveUserSignInLogs | where TimeGenerated >= start and TimeGenerated < end | count"
)


@pytest.mark.parametrize("style", ["adx", "adx_inner_only", "la"])
def test_a_missing_table_is_recognised_in_every_error_body_shape(
    standin: StandinKusto, tmp_path: Path, style: str
) -> None:
    """ADX's OneApi body, the reason only in innererror, or Log Analytics' nested innererror."""
    standin.error_style = style
    live = backend(standin, lambda: token)
    token = static_token(standin)
    query = kql(tmp_path, "noninteractive", SIGNINS_ONLY, "// tables: AADNonInteractiveUserSignInLogs")
    with pytest.raises(MissingTableError) as err:
        live.run(query, WINDOW)
    assert err.value.table == "AADNonInteractiveUserSignInLogs"
    # table_schema learns absence from the same error: optional tables and available_tables work.
    assert live.available_tables() == {"AzureActivity", "SigninLogs"}
    optional = kql(
        tmp_path,
        "optional_noninteractive",
        SIGNINS_ONLY.replace(
            "AADNonInteractiveUserSignInLogs |", "union SigninLogs, AADNonInteractiveUserSignInLogs |"
        ),
        "// tables: SigninLogs\n// optional_tables: AADNonInteractiveUserSignInLogs",
    )
    result = live.run(optional, WINDOW)
    assert result.missing_tables == ["AADNonInteractiveUserSignInLogs"] and result.frame["Count"].iloc[0] > 0


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("adx", "General_BadRequest: Request is invalid and cannot be processed: Syntax error: "),
        ("adx_inner_only", "bad_column: Syntax error: Binder Error: "),
        ("la", "bad_column: Syntax error: Binder Error: "),
    ],
)
def test_a_refused_query_keeps_the_services_reason_in_every_body_shape(
    standin: StandinKusto, tmp_path: Path, style: str, expected: str
) -> None:
    standin.error_style = style
    live = backend(standin, lambda: token)
    token = static_token(standin)
    query = kql(tmp_path, "bad_column", "SigninLogs | where NoSuchColumn == 1 | count", "// tables: SigninLogs")
    with pytest.raises(QueryExecutionError) as err:
        live.run(query, {})
    text = str(err.value)
    assert expected in text and "NoSuchColumn" in text, text
    assert "Unknown Kusto service error" not in text
    if style == "la":
        assert text.endswith("(BadArgumentError: The request had some invalid properties)")


def test_bodies_that_are_not_kusto_errors_fail_clearly(standin: StandinKusto) -> None:
    live = backend(standin, lambda: token, max_attempts=2)
    token = static_token(standin)
    query = get_query("arm_writes_mfa_daily")
    standin.queue("text_400")
    with pytest.raises(QueryExecutionError, match=r": Bad request: 'where' operator: Failed to resolve scalar"):
        live.run(query, WINDOW)
    standin.queue("html_502", "html_502")  # a gateway's page: retried, then said plainly
    with pytest.raises(QueryExecutionError, match=r"service error 502: an HTML page \(502 Bad Gateway\)"):
        live.run(query, WINDOW)
    standin.queue("empty_200")
    with pytest.raises(QueryExecutionError, match=r"contains no data"):
        live.run(query, WINDOW)
    standin.queue("json_500_no_error")
    with pytest.raises(QueryExecutionError, match=r"unexpected answer from the service \(KeyError"):
        live.run(query, WINDOW)
    assert [q.status for q in standin.queries()] == [400, 502, 502, 200, 500]


@pytest.mark.parametrize("action", ["expire_inband", "expire_completion"])
def test_query_is_expired_inside_the_result_is_a_timeout_with_advice(standin: StandinKusto, action: str) -> None:
    live = backend(standin, lambda: token, on_partial="warn")
    token = static_token(standin)
    standin.queue(action)
    with pytest.raises(QueryTimeoutError) as err:
        live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    text = str(err.value)
    assert "0x80DA0006): Query is expired" in text and "(2 rows had arrived)" in text
    assert "raise server_timeout" in text and "split the window (split_by" in text
    assert not isinstance(err.value, PartialResultError)  # even in warn mode: a timeout, not a short answer
    assert EXPIRED_TEXT.rstrip(".") in text


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("completion_error", LOW_MEMORY_TEXT),
        ("completion_flag", "DataSetCompletion.HasErrors"),
        ("cancelled", "cancelled the query"),
    ],
)
def test_an_error_reported_only_when_the_dataset_completes_is_not_a_complete_answer(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path, action: str, reason: str
) -> None:
    query = kql(tmp_path, "activity_rows", ROWS)
    live = backend(standin, lambda: token)
    token = static_token(standin)
    standin.queue(action)
    with pytest.raises(PartialResultError) as err:
        live.run(query, WINDOW)
    assert reason in err.value.reason
    pd.testing.assert_frame_equal(err.value.partial, local.run(query, WINDOW).frame)


def test_a_warning_row_is_a_warning_not_a_partial_result(standin: StandinKusto) -> None:
    live = backend(standin, lambda: token)
    token = static_token(standin)
    standin.queue("qci_warning")
    result = live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    assert result.complete
    assert result.warnings == [
        "arm_writes_mfa_daily: service warning: S_OK (0): The query used a deprecated function; it still ran in full"
    ]


def test_the_query_api_partial_shape_keeps_its_rows_and_reason(
    standin: StandinKusto, local: LocalBackend, tmp_path: Path
) -> None:
    query = kql(tmp_path, "activity_rows", ROWS)
    live = backend(standin, lambda: token)
    token = static_token(standin)
    standin.queue("la_partial_200")
    with pytest.raises(PartialResultError, match=r"record count limit") as err:
        live.run(query, WINDOW)
    assert "PartialError" in err.value.reason
    pd.testing.assert_frame_equal(err.value.partial, local.run(query, WINDOW).frame.head(2))


def test_column_types_keep_exact_values_as_the_service_sends_them(standin: StandinKusto) -> None:
    """Hand-written v2 values: all-null timespan, long with nulls beyond 2^53, negative multi-day spans."""
    live = backend(standin, lambda: token)
    token = static_token(standin)
    standin.reply_with(
        [("Nothing", "timespan"), ("Big", "long"), ("Span", "timespan"), ("Count", "int"), ("When", "datetime")],
        [
            [None, 9007199254740993, "-1.02:03:04.5670000", 1, "2026-11-01T00:00:00.1234567Z"],
            [None, None, "-00:00:01", None, None],
            [None, -(2**63), "00:00:00.0000001", 3, "2026-11-02T00:00:00Z"],
            [None, 2**63 - 1, -10, 4, "2026-11-03T00:00:00Z"],
        ],
    )
    frame = live.run(kql(Path(standin.workspace), "canned", "print x = 1", "// tables: AzureActivity"), {}).frame
    assert str(frame["Nothing"].dtype) == "timedelta64[ns]" and frame["Nothing"].isna().all()
    assert str(frame["Big"].dtype) == "Int64"
    assert list(frame["Big"].dropna()) == [9007199254740993, -(2**63), 2**63 - 1]  # exact, not via float
    spans = list(frame["Span"])
    assert spans[0] == -pd.Timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=567)
    assert spans[0].total_seconds() == -93784.567
    assert spans[1] == pd.Timedelta(seconds=-1) and spans[2] == pd.Timedelta(nanoseconds=100)
    assert spans[3] == pd.Timedelta(nanoseconds=-1000)  # -10 ticks
    assert str(frame["Count"].dtype) == "Int32" and frame["Count"].iloc[3] == 4
    assert frame["When"].iloc[0] == pd.Timestamp("2026-11-01T00:00:00.1234567Z")


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("timespan", "10675199.02:48:05.4775807", "beyond the +-106,751 days"),
        ("timespan", "yesterday", "is not a timespan"),
        ("long", 1.5, "is not a whole number"),
        ("long", 2**63, "does not fit in 64 bits"),
        ("datetime", "0001-01-01T00:00:00Z", "Out of bounds"),
        ("bool", "maybe", "is not a boolean"),
    ],
)
def test_a_value_that_cannot_be_converted_names_its_column(
    standin: StandinKusto, kind: str, value: object, words: str
) -> None:
    live = backend(standin, lambda: token)
    token = static_token(standin)
    standin.reply_with([("Fine", "long"), ("Odd", kind)], [[1, None], [2, value]])
    with pytest.raises(QueryExecutionError) as err:
        live.run(kql(Path(standin.workspace), "canned", "print x = 1", "// tables: AzureActivity"), {})
    assert f"column 'Odd' ({kind}) cannot be read" in str(err.value) and words in str(err.value)


def test_every_answer_goes_through_the_backends_frame_reader(
    standin: StandinKusto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """azure-kusto-data is pinned, but an upgrade that stopped calling the hook must fail here."""
    import kitlib.backends.kusto as kusto

    calls: list[int] = []
    real = kusto.parse_answer

    def counting(body: object) -> kusto.Answer:
        calls.append(1)
        return real(body)

    monkeypatch.setattr(kusto, "parse_answer", counting)
    live = backend(standin, lambda: token)
    token = static_token(standin)
    live.run(get_query("arm_writes_mfa_daily"), WINDOW)
    assert len(calls) == 1


def test_parse_answer_reads_progressive_frames_and_table_completion_errors() -> None:
    """The EndOfTable placement: rows in fragments, the error in TableCompletion, repeated at the end."""
    error = {"error": {"code": "LimitsExceeded", "message": "m", "@message": "limit (80DA0003) reached"}}
    answer = parse_answer(
        [
            {"FrameType": "DataSetHeader", "IsProgressive": True, "ErrorReportingPlacement": "EndOfTable"},
            {
                "FrameType": "TableHeader",
                "TableId": 1,
                "TableKind": "PrimaryResult",
                "TableName": "PrimaryResult",
                "Columns": [{"ColumnName": "n", "ColumnType": "long"}],
            },
            {"FrameType": "TableFragment", "TableFragmentType": "DataAppend", "TableId": 1, "Rows": [[1], [2]]},
            {"FrameType": "TableFragment", "TableFragmentType": "DataReplace", "TableId": 1, "Rows": [[3]]},
            {"FrameType": "TableCompletion", "TableId": 1, "RowCount": 1, "OneApiErrors": [error]},
            {"FrameType": "DataSetCompletion", "HasErrors": True, "Cancelled": False, "OneApiErrors": [error]},
        ]
    )
    assert answer.columns == [("n", "long")] and answer.rows == [[3]]
    verdict = answer.verdict()
    assert verdict.reason is not None and verdict.reason.startswith("LimitsExceeded: limit (80DA0003) reached")
    assert verdict.reason.count("LimitsExceeded") == 1  # the repeat at the end is the same error
    assert not verdict.expired
    null_level = parse_answer(
        [
            {"FrameType": "DataTable", "TableKind": "PrimaryResult", "Columns": [], "Rows": []},
            {
                "FrameType": "DataTable",
                "TableKind": "QueryCompletionInformation",
                "Columns": [
                    {"ColumnName": "Level", "ColumnType": "int"},
                    {"ColumnName": "Payload", "ColumnType": "string"},
                ],
                "Rows": [[None, '{"Text": "odd"}']],
            },
            {"FrameType": "DataSetCompletion", "HasErrors": False, "Cancelled": False},
        ]
    ).verdict()
    assert null_level.reason is None and null_level.warnings == ["completion row without a level: error: odd"]


# -- the stand-in itself -------------------------------------------------------------------------


def test_standin_speaks_progressive_frames_when_asked(standin: StandinKusto) -> None:
    import json

    import requests

    token = static_token(standin)
    body = {
        "db": standin.database,
        "csl": "SigninLogs | project TimeGenerated | take 3",
        "properties": json.dumps({"Options": {"results_progressive_enabled": True}, "Parameters": {}}),
    }
    frames = requests.post(
        standin.url + "/v2/rest/query", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    kinds = [f["FrameType"] for f in frames]
    assert kinds == [
        "DataSetHeader",
        "DataTable",
        "TableHeader",
        "TableFragment",
        "TableCompletion",
        "DataTable",
        "DataSetCompletion",
    ]
    assert frames[0]["IsProgressive"] is True and frames[4]["RowCount"] == 3 == len(frames[3]["Rows"])
    assert frames[-1] == {"FrameType": "DataSetCompletion", "HasErrors": False, "Cancelled": False}


def test_standin_stops_by_itself_after_its_lifetime(workspace: Path) -> None:
    server = StandinKusto(workspace, now=NOW, max_lifetime=0.5).start()
    assert server.stopped.wait(timeout=10)
    import requests

    with pytest.raises(requests.ConnectionError):
        requests.get(server.root + "/v1/rest/auth/metadata", timeout=2)


# -- notebooks, unchanged, on a live workspace --------------------------------------------------


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo tenant (every persona, fewer users and days) to keep the notebook run short."""
    from kitlib.demo import generate

    out = tmp_path_factory.mktemp("live-demo")
    generate(out, users=80, days=14, seed=11, now=NOW)
    return out


@pytest.mark.notebook
@pytest.mark.slow
def test_the_report_runs_unchanged_on_a_live_workspace_and_matches_the_local_run(
    small_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``kitlib report --workspace NAME``: notebooks through papermill, kernel signs in from the cache."""
    from kitlib.reporting.batch import render_report
    from kitlib.settings.auth import login

    demo_workspace = small_demo

    with StandinKusto(demo_workspace, now=NOW, max_lifetime=600) as server:
        config = tmp_path / "kitlib.toml"
        config.write_text(
            f'[workspaces.standin]\nkind = "log_analytics"\nurl = "{server.url}"\ntenant_id = "{server.tenant_id}"\n'
            f'auth = "device_code"\ntoken_cache = "{tmp_path / "tokens.bin"}"\n'
        )
        monkeypatch.setenv("KITLIB_CONFIG", str(config))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        login("standin", prompt=lambda message: None)
        with caplog.at_level(logging.DEBUG):
            live = render_report(
                "standin", tmp_path / "live", now=NOW, notebooks=["readiness_overview"], jobs=1, progress=False
            )
        secrets = server.issued_secrets
        served = server.queries()
    local = render_report(
        str(demo_workspace), tmp_path / "local", now=NOW, notebooks=["readiness_overview"], jobs=1, progress=False
    )
    assert live.ok, [(n.error, n.warnings) for n in live.notebooks]
    assert len(served) >= 5 and all(r.status == 200 for r in served)  # the kernel and the exports asked the service
    assert live.notebooks[0].summary == local.notebooks[0].summary
    assert live.notebooks[0].summary["arm_writes"] > 0
    for name in ("identities.csv", "tools.csv"):
        assert (tmp_path / "live" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    outputs = [p for p in (tmp_path / "live").rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in outputs) and any(p.suffix == ".ipynb" for p in outputs)
    leaked = [(p.name, s[:12]) for p in outputs for s in secrets if s.encode() in p.read_bytes()]
    leaked += [("log", s[:12]) for s in secrets if s in caplog.text]
    assert leaked == []
