"""Importing every export shape into a workspace the local engine reads like the demo tenant.

Fixtures (tests/fixtures/exports/, written by hand for these tests) hold one small file per
shape; each test imports one and checks that rows land in the right table, under Log Analytics
names and types, with the values the export meant.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kitlib.backends.local import LocalBackend
from kitlib.domain.schema import TABLES
from kitlib.errors import UnknownFormatError, UsageError
from kitlib.ingest.importer import ImportReport, import_paths, part_files
from kitlib.query.catalog import parse_query
from kitlib.query.run import run_query

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
SHAPE_FOLDERS = ("portal-csv", "query-api", "diagnostic", "activity-rest", "graph")
UTC = dt.UTC
ARM = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
# What a registry type must be stored as in the Parquet parts (see kitlib/local.py's casts).
PARQUET_TYPES = {
    "string": pa.string(),
    "dynamic": pa.string(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "long": pa.int64(),
}


def do_import(tmp_path: Path, *names: str, **options: Any) -> tuple[ImportReport, Path]:
    workspace = tmp_path / "ws"
    return import_paths([FIXTURES / n for n in names], workspace, **options), workspace


def rows(workspace: Path, table: str, order: str = "TimeGenerated") -> list[dict[str, Any]]:
    """A table's rows as the local backend serves them to queries (registry types, dynamic parsed)."""
    query = parse_query(
        Path("probe.kql"),
        f"// name: probe\n// description: test probe\n// tables: {table}\n{table} | order by {order} asc\n",
    )
    backend = LocalBackend(workspace)
    try:
        frame = backend.run(query, {}).frame
    finally:
        backend.close()
    return frame.to_dict("records")  # type: ignore[no-any-return]


def counts(report: ImportReport) -> dict[str, tuple[int, int, int, int]]:
    return {t: (c.read, c.written, c.rejected, c.duplicates) for t, c in report.totals().items()}


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------- portal CSV


def test_portal_union_export_maps_suffixed_columns_us_dates_and_bools(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "portal-csv/SigninLogs-union.csv")
    assert report.files[0].shape == "la-csv"
    assert counts(report) == {"SigninLogs": (3, 3, 0, 0)}
    alice, agent, bob = rows(ws, "SigninLogs")
    # "11/26/2026, 9:05:01.123 AM", "1:14:59.999 PM" and "12:00:00.000 AM" (midnight)
    assert alice["TimeGenerated"] == utc(2026, 11, 26, 9, 5, 1, 123000)
    assert agent["TimeGenerated"] == utc(2026, 11, 26, 13, 14, 59, 999000)
    assert bob["TimeGenerated"] == utc(2026, 11, 27, 0, 0, 0)
    assert bob["CreatedDateTime"] == utc(2026, 11, 26, 23, 59, 59, 700000)
    assert [r["IsInteractive"] for r in (alice, agent, bob)] == [True, True, True]
    assert agent["IsRisky"] is False and alice["IsRisky"] is None
    # Name_dynamic -> Name: dynamic columns come back as objects
    assert agent["DeviceDetail"] == {"deviceId": "", "operatingSystem": "Linux"}
    assert bob["Status"]["errorCode"] == 50076
    assert alice["ConditionalAccessPolicies"][0]["result"] == "success"
    assert bob["ResultType"] == "50076"
    # JSON held in a string column keeps its (CRLF pretty-printed) text and stays valid JSON
    assert "\r\n" in agent["AuthenticationProcessingDetails"]
    assert json.loads(agent["AuthenticationProcessingDetails"])[0]["value"].startswith(
        "Family: MSAL Library: MSAL.Python 1.24.0"
    )
    assert alice["ResourceIdentity"] == ARM and alice["Type"] == "SigninLogs"
    assert any("InitiatedBy" in note for note in report.files[0].notes)


def test_search_export_routes_rows_by_table_and_skips_logs_the_kit_does_not_read(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "portal-csv/search-mixed.csv")
    assert counts(report) == {
        "AADNonInteractiveUserSignInLogs": (2, 2, 0, 0),
        "AzureActivity": (2, 2, 0, 0),
        "SigninLogs": (1, 1, 0, 0),
    }
    assert report.files[0].skipped == {"AuditLogs": 1}
    noninteractive = rows(ws, "AADNonInteractiveUserSignInLogs")
    # AADNonInteractive keeps Status / DeviceDetail as JSON text (string columns), from Name_string
    assert json.loads(noninteractive[0]["Status"]) == {"errorCode": 0}
    assert json.loads(noninteractive[0]["DeviceDetail"])["operatingSystem"] == "Linux"
    assert [r["ProcessingTimeInMs"] for r in noninteractive] == ["31", "29"]
    activity = rows(ws, "AzureActivity")
    amr = "http://schemas.microsoft.com/claims/authnmethodsreferences"
    assert [(r["Caller"], r["Claims_d"][amr]) for r in activity] == [
        ("bob@contoso.example", "pwd,mfa"),
        ("build-agent@contoso.example", "pwd"),
    ]
    # Authorization only as Authorization_d in the bob row: the string copy is filled from it
    assert json.loads(activity[0]["Authorization"])["action"] == "Microsoft.Compute/disks/delete"


def test_legacy_activity_export_takes_the_operation_from_what_holds_it(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "portal-csv/AzureActivity-legacy.csv")
    assert counts(report) == {"AzureActivity": (4, 4, 0, 0)}
    activity = rows(ws, "AzureActivity")
    assert [r["OperationNameValue"] for r in activity] == [
        "Microsoft.Compute/virtualMachines/write",  # OperationName already was the operation
        "Microsoft.SecurityInsights/incidents/write",  # from Authorization.action ("Update Incidents")
        "Microsoft.Web/sites/delete",  # from Properties.message ("Delete website")
        "",  # a friendly name only: nothing to map, and the report says so
    ]
    assert [r["ActivityStatusValue"] for r in activity] == ["Success", "Start", "Failure", "Success"]
    assert [r["ActivityStatus"] for r in activity] == ["Succeeded", "Started", "Failed", "Succeeded"]
    assert {r["CategoryValue"] for r in activity} == {"Administrative"}
    assert activity[0]["_ResourceId"].endswith("/virtualMachines/vm-legacy")
    assert activity[0]["ResourceProviderValue"] == "Microsoft.Compute"
    assert all(r["Claims_d"] is None for r in activity)
    notes = "\n".join(report.files[0].notes)
    assert "they cannot be counted as writes: 1 row(s)" in notes
    assert "whether their token carried MFA cannot be told: 4 row(s)" in notes


def test_portal_csv_with_a_fixed_offset_zone_header_is_converted_to_utc(tmp_path: Path) -> None:
    text = (FIXTURES / "portal-csv" / "SigninLogs-union.csv").read_bytes().decode("utf-8-sig")
    text = text.replace("TimeGenerated [UTC]", "TimeGenerated [UTC+02:00]").replace(
        "11/26/2026, 9:05:01.123 AM", "11/26/2026, 11:05:01.123 AM"
    )
    source = tmp_path / "SigninLogs-cest.csv"
    source.write_text(text, encoding="utf-8-sig", newline="")
    import_paths([source], tmp_path / "ws")
    first = rows(tmp_path / "ws", "SigninLogs")[0]
    assert first["TimeGenerated"] == utc(2026, 11, 26, 9, 5, 1, 123000)


# ---------------------------------------------------------------------------- query API


def test_query_api_rows_keep_dynamic_objects_and_json_text(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "query-api/signins.json")
    assert report.files[0].shape == "la-json"
    assert counts(report) == {"AADNonInteractiveUserSignInLogs": (1, 1, 0, 0), "SigninLogs": (1, 1, 0, 0)}
    (bob,) = rows(ws, "SigninLogs")
    assert bob["TimeGenerated"] == utc(2026, 11, 24, 7, 30, 12, 345000)
    assert bob["LocationDetails"] == {"city": "Ghent", "countryOrRegion": "BE"}
    assert bob["DurationMs"] == 0 and bob["ProcessingTimeInMilliseconds"] == "190"
    (refresh,) = rows(ws, "AADNonInteractiveUserSignInLogs")
    assert refresh["TimeGenerated"] == utc(2026, 11, 24, 7, 58, 0, 123456)  # 7 digits, truncated to us
    assert json.loads(refresh["LocationDetails"]) == {"city": "Ghent", "countryOrRegion": "BE"}
    assert refresh["IsInteractive"] is False


def test_query_api_rest_tables_shape_and_workload_rows(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "query-api/activity-tables.json", "query-api/workload-signins.jsonl")
    assert counts(report) == {
        "AADManagedIdentitySignInLogs": (1, 1, 0, 0),
        "AADServicePrincipalSignInLogs": (1, 1, 0, 0),
        "AzureActivity": (2, 2, 0, 0),
    }
    activity = rows(ws, "AzureActivity")
    assert [r["EventDataId"] for r in activity] == [
        "ee100000-0000-4000-8000-000000000001",
        "ee100000-0000-4000-8000-000000000002",
    ]
    # the REST shape returns dynamic as JSON text: it becomes the object, and Claims its text copy
    assert activity[1]["Claims_d"]["appid"] == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    assert json.loads(activity[1]["Claims"])["appidacr"] == "0"
    (sp,) = rows(ws, "AADServicePrincipalSignInLogs")
    assert (sp["ServicePrincipalName"], sp["ServicePrincipalCredentialKeyId"]) == (
        "deploy-pipeline",
        "7a7b7c7d-0000-4000-8000-000000000001",
    )
    (mi,) = rows(ws, "AADManagedIdentitySignInLogs")
    assert mi["ServicePrincipalName"] == "vm-runner-identity" and mi["ConditionalAccessPoliciesV2"] == []


# ---------------------------------------------------------------------------- diagnostic settings


def test_diagnostic_sign_in_records_route_by_category_and_unwrap_properties(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "diagnostic/signins.PT1H.json")
    assert report.files[0].shape == "diagnostic"
    assert counts(report) == {
        "AADManagedIdentitySignInLogs": (1, 1, 0, 0),
        "AADNonInteractiveUserSignInLogs": (1, 1, 0, 0),
        "AADServicePrincipalSignInLogs": (1, 1, 0, 0),
        "SigninLogs": (1, 1, 0, 0),
    }
    assert report.files[0].skipped == {"AuditLogs": 1}
    (ropc,) = rows(ws, "SigninLogs")
    assert ropc["TimeGenerated"] == utc(2026, 11, 20, 9, 15, 2, 123456)
    assert ropc["CreatedDateTime"] == utc(2026, 11, 20, 9, 15, 1, 987654)
    assert ropc["ResourceIdentity"] == ARM  # properties.resourceId, not the /tenants/... envelope id
    assert ropc["AuthenticationProtocol"] == "ropc" and ropc["ResultType"] == "0"
    assert (ropc["Location"], ropc["LocationDetails"]["city"]) == ("NL", "Amsterdam")
    assert ropc["ConditionalAccessPolicies"] == []
    assert ropc["Level"] == "4" and ropc["AutonomousSystemNumber"] == "64501"
    assert ropc["ProcessingTimeInMilliseconds"] == "112"
    assert "MSAL.Python 1.24.0" in json.loads(ropc["AuthenticationProcessingDetails"])[0]["value"]
    assert ropc["Category"] == "SignInLogs" and ropc["Identity"] == "Build Agent"
    (refresh,) = rows(ws, "AADNonInteractiveUserSignInLogs")
    assert refresh["ProcessingTimeInMs"] == "41"  # the column is named differently in this table
    assert refresh["UserAgent"] == ""  # absent from non-interactive records
    assert json.loads(refresh["Status"])["additionalDetails"].startswith("First factor")
    (sp,) = rows(ws, "AADServicePrincipalSignInLogs")
    assert (sp["ServicePrincipalName"], sp["AppId"]) == ("deploy-pipeline", "11111111-2222-4333-8444-555555555555")


def test_diagnostic_activity_batch_takes_caller_from_claims_and_normalises_category(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "diagnostic/activity-eventhub.json")
    assert counts(report) == {"AzureActivity": (3, 3, 0, 0)}
    write, policy, workload = rows(ws, "AzureActivity")
    assert write["Caller"] == "build-agent@contoso.example"
    assert (write["OperationNameValue"], write["ActivityStatusValue"], write["ActivitySubstatusValue"]) == (
        "MICROSOFT.WEB/SITES/WRITE",
        "Success",
        "OK",
    )
    assert write["Authorization_d"]["evidence"]["principalType"] == "User"
    assert write["SubscriptionId"] == "5a7b9c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d"
    assert write["_ResourceId"] == write["_ResourceId"].lower() and write["ResourceGroup"] == "RG-APP"
    assert write["Hierarchy"].endswith("/5a7b9c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d")
    assert policy["CategoryValue"] == "Policy"
    assert json.loads(policy["Properties_d"]["policies"])[0]["policyAssignmentName"] == "sys.mfa-write"
    # a service principal token has no upn: Caller is the object id, as in Log Analytics
    assert workload["Caller"] == "66666666-7777-4888-9999-000000000000"
    assert workload["CategoryValue"] == "Administrative"  # older records said "Write"
    assert any("whose category was 'Write': 1 row(s)" in note for note in report.files[0].notes)


# ---------------------------------------------------------------------------- activity REST, Graph


def test_activity_rest_events_unwrap_value_objects(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "activity-rest/activity-log.json")
    assert report.files[0].shape == "activity-rest"
    started, succeeded = rows(ws, "AzureActivity")
    assert succeeded["OperationNameValue"] == "Microsoft.Compute/virtualMachines/delete"
    assert succeeded["OperationName"] == "Delete Virtual Machine"
    assert (succeeded["ActivityStatusValue"], succeeded["ActivityStatus"]) == ("Success", "Succeeded")
    assert (started["ActivityStatusValue"], started["ActivitySubstatusValue"]) == ("Start", "")
    assert succeeded["EventSubmissionTimestamp"] == utc(2026, 11, 21, 14, 6, 10, 123456)
    assert succeeded["CallerIpAddress"] == "192.0.2.15"  # from httpRequest.clientIpAddress
    assert json.loads(succeeded["HTTPRequest"])["method"] == "DELETE"
    assert succeeded["ResourceProviderValue"] == "Microsoft.Compute" and succeeded["ResourceGroup"] == "rg-lab"
    assert succeeded["Claims_d"]["http://schemas.microsoft.com/claims/authnmethodsreferences"] == "pwd,mfa"


def test_graph_beta_pages_choose_the_table_by_sign_in_event_types(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "graph/signins-beta-page1.json", "graph/signins-beta-page2.json")
    assert [f.shape for f in report.files] == ["graph", "graph"]
    assert counts(report) == {
        "AADNonInteractiveUserSignInLogs": (1, 1, 0, 0),
        "AADServicePrincipalSignInLogs": (1, 1, 0, 0),
        "SigninLogs": (1, 1, 0, 0),
    }
    assert any("@odata.nextLink" in n for n in report.files[0].notes)
    assert not any("@odata.nextLink" in n for n in report.files[1].notes)
    (guest,) = rows(ws, "SigninLogs")
    assert guest["TimeGenerated"] == guest["CreatedDateTime"] == utc(2026, 11, 22, 8, 0, 5)
    assert guest["ResourceIdentity"] == ARM and guest["AuthenticationProtocol"] == "deviceCode"
    assert guest["ConditionalAccessPolicies"][0]["displayName"] == "Require MFA for Azure management"
    assert (guest["Location"], guest["LocationDetails"]["city"]) == ("PT", "Lisbon")
    assert guest["UserType"] == "Guest"  # Graph says "guest"
    assert guest["AuthenticationMethodsUsed"] == "Password,Mobile app notification"
    assert guest["ResultType"] == "0" and guest["Status"]["additionalDetails"] == "MFA completed in Azure AD"
    assert json.loads(guest["SignInEventTypes"]) == ["interactiveUser"]
    assert guest["Category"] == "SignInLogs"
    (sp,) = rows(ws, "AADServicePrincipalSignInLogs")
    assert (sp["ResultType"], sp["ResultDescription"]) == ("7000215", "Invalid client secret provided.")


def test_graph_v1_without_event_types_uses_is_interactive(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, "graph/signins-v1.json")
    assert counts(report) == {"AADNonInteractiveUserSignInLogs": (1, 1, 0, 0), "SigninLogs": (1, 1, 0, 0)}
    assert rows(ws, "SigninLogs")[0]["DeviceDetail"]["trustType"] == "Azure AD joined"
    assert any("table chosen by isInteractive: 2 row(s)" in n for n in report.files[0].notes)


# ---------------------------------------------------------------------------- the workspace contract


def test_every_shape_lands_in_registry_columns_and_types(tmp_path: Path) -> None:
    report, ws = do_import(tmp_path, *SHAPE_FOLDERS)
    assert len(report.files) == 12 and report.ok and report.rejected == 0
    totals = report.totals()
    assert set(totals) == set(TABLES)
    for table, schema in TABLES.items():
        parts = part_files(ws, table)
        assert parts, table
        for part in parts:
            arrow = pq.read_schema(part)
            assert arrow.names == schema.column_names, part
            for name, kql_type in schema.columns:
                assert arrow.field(name).type == PARQUET_TYPES[kql_type], (part.name, name)
    backend = LocalBackend(ws)
    try:
        assert backend.row_counts() == {t: c.written for t, c in totals.items()}
    finally:
        backend.close()


def test_imported_workspace_answers_a_catalog_query(tmp_path: Path) -> None:
    _, ws = do_import(tmp_path, *SHAPE_FOLDERS)
    backend = LocalBackend(ws)
    try:
        result = run_query(backend, "arm_writes_mfa_daily", now=utc(2026, 11, 27), lookback=dt.timedelta(days=30))
    finally:
        backend.close()
    got = {
        (r["Day"].date().isoformat(), r["Caller"], bool(r["TokenHasMfa"]), int(r["Operations"]))
        for _, r in result.frame.iterrows()
    }
    assert got == {
        ("2026-11-20", "build-agent@contoso.example", False, 1),  # diagnostic record (Policy row not counted)
        ("2026-11-21", "bob@contoso.example", True, 1),  # REST: Started + Succeeded, one operation
        ("2026-11-25", "alice@contoso.example", True, 1),  # query API REST tables
        ("2026-11-25", "bob@contoso.example", True, 1),  # portal search export
        ("2026-11-25", "build-agent@contoso.example", False, 2),  # search export + REST tables
    }


# ---------------------------------------------------------------------------- containers, idempotence


def test_gzip_and_zip_inputs_import_like_the_plain_files(tmp_path: Path) -> None:
    plain = FIXTURES / "diagnostic" / "signins.PT1H.json"
    packed = tmp_path / "in" / "signins.json.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    archive = tmp_path / "in" / "graph.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("signins-beta-page1.json", "signins-beta-page2.json"):
            zf.write(FIXTURES / "graph" / name, f"export/{name}")
    report = import_paths([packed, archive], tmp_path / "ws")
    assert [f.source for f in report.files] == [
        str(packed),
        f"{archive}!export/signins-beta-page1.json",
        f"{archive}!export/signins-beta-page2.json",
    ]
    assert counts(report)["SigninLogs"] == (2, 2, 0, 0)
    # the gzip holds the same content as the plain file: importing that too changes nothing
    again = import_paths([plain], tmp_path / "ws")
    assert again.files[0].status == "unchanged" and again.files[0].sha256 == report.files[0].sha256


def test_reimporting_the_same_file_does_not_duplicate_rows(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    first = import_paths([FIXTURES / "portal-csv" / "search-mixed.csv"], ws)
    renamed = tmp_path / "copy-of-export.csv"
    shutil.copyfile(FIXTURES / "portal-csv" / "search-mixed.csv", renamed)
    second = import_paths([renamed], ws)
    assert second.files[0].status == "unchanged" and second.totals() == {}
    # other options: the same content is imported again and replaces its earlier parts
    third = import_paths([renamed], ws, fmt="la-csv")
    assert third.files[0].status == "imported"
    assert counts(third) == counts(first)
    backend = LocalBackend(ws)
    try:
        assert backend.row_counts() == {"AADNonInteractiveUserSignInLogs": 2, "AzureActivity": 2, "SigninLogs": 1}
    finally:
        backend.close()
    assert len(part_files(ws, "SigninLogs")) == 1


def test_overlapping_exports_are_deduplicated_but_repeats_inside_one_file_are_kept(tmp_path: Path) -> None:
    lines = (FIXTURES / "query-api" / "workload-signins.jsonl").read_text().splitlines()
    sp, mi = lines
    first = tmp_path / "monday.jsonl"
    first.write_text(f"{sp}\n{sp}\n")  # the source holds this row twice: both are kept
    second = tmp_path / "tuesday.jsonl"
    second.write_text(f"{sp}\n{mi}\n")  # overlaps Monday by one row
    report = import_paths([first, second], tmp_path / "ws")
    assert [counts_of(f) for f in report.files] == [
        {"AADServicePrincipalSignInLogs": (2, 2, 0, 0)},
        {"AADServicePrincipalSignInLogs": (1, 0, 0, 1), "AADManagedIdentitySignInLogs": (1, 1, 0, 0)},
    ]
    # a later run knows what is already in the workspace, too
    third = tmp_path / "wednesday.jsonl"
    third.write_text(f"{mi}\n{sp}\n{sp}\n")
    later = import_paths([third], tmp_path / "ws")
    assert counts_of(later.files[0]) == {
        "AADManagedIdentitySignInLogs": (1, 0, 0, 1),
        "AADServicePrincipalSignInLogs": (2, 0, 0, 2),
    }


def counts_of(report: Any) -> dict[str, tuple[int, int, int, int]]:
    return {t: (c.read, c.written, c.rejected, c.duplicates) for t, c in report.tables.items()}


def test_table_option_names_the_table_and_rejects_rows_that_name_another(tmp_path: Path) -> None:
    report, _ = do_import(tmp_path, "portal-csv/search-mixed.csv", table="aadnoninteractiveusersigninlogs")
    got = counts(report)
    assert got["AADNonInteractiveUserSignInLogs"] == (2, 2, 0, 0)
    assert got["SigninLogs"] == (1, 0, 1, 0) and got["AzureActivity"] == (2, 0, 2, 0)
    rejects = [json.loads(line) for line in report.files[0].rejects_file.read_text().splitlines()]  # type: ignore[union-attr]
    assert {r["reason"] for r in rejects} == {
        "row is a SigninLogs row (by its $table), not AADNonInteractiveUserSignInLogs as --table asked",
        "row is a AzureActivity row (by its $table), not AADNonInteractiveUserSignInLogs as --table asked",
    }
    assert rejects[0]["raw"]["$table"] == "SigninLogs"


def test_table_option_routes_a_csv_whose_rows_do_not_say_their_table(tmp_path: Path) -> None:
    text = (FIXTURES / "portal-csv" / "SigninLogs-union.csv").read_bytes().decode("utf-8-sig")
    header, *body = text.split("\r\n")
    # no Type, no Category, no column only one table has (ProcessingTimeInMilliseconds)
    stripped = header.replace(",Type,", ",Kind,").replace(",Category,", ",Kategorie,")
    stripped = stripped.replace(",ProcessingTimeInMilliseconds,", ",Duration,")
    source = tmp_path / "export.csv"  # a name that names no table either
    source.write_text("\r\n".join([stripped, *body]), encoding="utf-8")
    with pytest.raises(UnknownFormatError, match="pass --table"):
        import_paths([source], tmp_path / "ws")
    report = import_paths([source], tmp_path / "ws", table="SigninLogs")
    assert counts(report) == {"SigninLogs": (3, 3, 0, 0)}


def test_unknown_format_and_table_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="formats: la-csv, la-json, diagnostic, activity-rest, graph"):
        import_paths([FIXTURES / "graph"], tmp_path / "ws", fmt="splunk")
    with pytest.raises(UsageError, match="unknown table 'SignInLog'"):
        import_paths([FIXTURES / "graph"], tmp_path / "ws", table="SignInLog")
    with pytest.raises(UnknownFormatError, match="JSON shape but the file is CSV"):
        import_paths([FIXTURES / "portal-csv" / "search-mixed.csv"], tmp_path / "ws", fmt="graph")


def test_shapes_of_different_kinds_over_the_same_hours_are_flagged(tmp_path: Path) -> None:
    report, _ = do_import(tmp_path, "graph/signins-v1.json")
    assert report.warnings == []
    rows_ = json.loads((FIXTURES / "graph" / "signins-v1.json").read_text())["value"]
    as_la = [
        {"TimeGenerated": r["createdDateTime"], "Type": "SigninLogs", "UserPrincipalName": r["userPrincipalName"],
         "AppId": r["appId"], "ResourceIdentity": r["resourceId"], "ResultType": "0", "Id": r["id"]}
        for r in rows_
    ]  # fmt: skip
    source = tmp_path / "la-rows.json"
    source.write_text(json.dumps(as_la))
    later = import_paths([source], tmp_path / "ws")
    assert len(later.warnings) == 1
    assert later.warnings[0].startswith("SigninLogs holds graph and la-json rows over overlapping times")
    assert "WARNING: SigninLogs holds graph and la-json" in later.to_text()


def test_report_text_names_files_tables_and_rejects(tmp_path: Path) -> None:
    source = tmp_path / "signins.jsonl"
    good = (FIXTURES / "diagnostic" / "signins.PT1H.json").read_text().splitlines()[0]
    source.write_text(good + "\n{not json\n")
    report = import_paths([source], tmp_path / "ws")
    text = report.to_text()
    assert f"{source}: imported [diagnostic]" in text
    assert "SigninLogs" in text and "(unparsed)" in text
    assert f"rejected rows (reason + raw record): {tmp_path / 'ws' / '_rejects'}" in text
    assert report.rejected == 1 and report.written == 1


def test_progress_bar_goes_to_stderr_and_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, _ = do_import(tmp_path, "diagnostic/signins.PT1H.json", progress=True)
    assert "signins.PT1H.json" in capsys.readouterr().err
    assert counts(report)["SigninLogs"] == (1, 1, 0, 0)


def test_a_workspace_inside_the_input_folder_is_not_read_back_as_input(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    shutil.copytree(FIXTURES / "graph", folder)
    first = import_paths([folder], folder / "ws")
    again = import_paths([folder], folder / "ws")
    assert [f.source for f in again.files] == [f.source for f in first.files]
    assert {f.status for f in again.files} == {"unchanged"}
