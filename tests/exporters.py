"""Write a workspace's tables out the way each export channel would, for import round-trip tests.

Written from the shapes in shared/docs/export-formats.md, independently of the importer's
mapping tables (a round trip through the importer's own tables would prove nothing). Each
writer returns the files it wrote. What a shape cannot carry is documented at the writer and
asserted on by the tests, not papered over.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from kitlib.backends.local import find_table
from kitlib.domain.schema import TABLES

SIGNIN_CATEGORIES = {
    "SigninLogs": "SignInLogs",
    "AADNonInteractiveUserSignInLogs": "NonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs": "ServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs": "ManagedIdentitySignInLogs",
}
EVENT_TYPES = {
    "SigninLogs": "interactiveUser",
    "AADNonInteractiveUserSignInLogs": "nonInteractiveUser",
    "AADServicePrincipalSignInLogs": "servicePrincipal",
    "AADManagedIdentitySignInLogs": "managedIdentity",
}
# Graph / diagnostic-settings names that are not simply the column with a lower-case first letter.
GRAPH_NAMES = {
    "IPAddress": "ipAddress",
    "ResourceIdentity": "resourceId",
    "ConditionalAccessPolicies": "appliedConditionalAccessPolicies",
    "LocationDetails": "location",
    "ProcessingTimeInMs": "processingTimeInMilliseconds",
}
# Log Analytics bookkeeping columns that are not part of a Graph sign-in or a diagnostic body.
ENVELOPE_COLUMNS = {
    "TenantId", "SourceSystem", "TimeGenerated", "OperationName", "Category", "ResultType", "ResultSignature",
    "ResultDescription", "DurationMs", "Identity", "Level", "Location", "Type", "Status",
}  # fmt: skip
JSON_NUMBERS = {"AutonomousSystemNumber", "ProcessingTimeInMilliseconds", "ProcessingTimeInMs"}


def read_rows(workspace: Path, table: str, batch_size: int = 5000) -> Iterator[dict[str, Any]]:
    """The rows of one workspace table as Python values, batch by batch."""
    source = find_table(Path(workspace), table)
    if source is None:
        return
    for path in source.files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_size):
            yield from batch.to_pylist()


def present_tables(workspace: Path) -> list[str]:
    return [t for t in TABLES if find_table(Path(workspace), t) is not None]


def _json_or_none(text: Any) -> Any:
    if isinstance(text, str) and text.strip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text if text not in ("", None) else None


def _iso(value: dt.datetime | None, offset: bool = False) -> str | None:
    if value is None:
        return None
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"  # 7 digits, as Azure writes
    return text + ("+00:00" if offset else "Z")


def _camel(column: str) -> str:
    return GRAPH_NAMES.get(column) or column[0].lower() + column[1:]


# ------------------------------------------------------------------------------- portal CSV


def _us_datetime(value: dt.datetime) -> str:
    """``4/28/2021, 2:08:45.221 PM``: the portal's US-locale rendering, milliseconds only."""
    value = value.astimezone(dt.UTC)
    hour = value.hour % 12 or 12
    half = "AM" if value.hour < 12 else "PM"
    clock = f"{hour}:{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}"
    return f"{value.month}/{value.day}/{value.year}, {clock} {half}"


def _csv_cell(value: Any, kql_type: str, pretty: bool) -> str:
    if value is None:
        return ""
    if kql_type == "datetime":
        return _us_datetime(value)
    if kql_type == "bool":
        return "TRUE" if value else "FALSE"
    if pretty and isinstance(value, str) and value.strip()[:1] in ("{", "["):
        # The string-typed copy of a JSON column is exported pretty-printed with CRLF.
        try:
            return json.dumps(json.loads(value), indent=2).replace("\n", "\r\n")
        except json.JSONDecodeError:
            return value
    return str(value)


def _quote(cell: str) -> str:
    if any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def export_portal_csv(workspace: Path, out: Path) -> list[Path]:
    """One ``search *`` style portal export of every table: what the Logs blade writes.

    ``$table`` first; the union of all tables' columns; a column whose type differs between
    tables split into ``Name_dynamic`` / ``Name_string``; datetime headers ``Name [UTC]`` with
    US-locale values (milliseconds: sub-millisecond digits are lost); ``TRUE``/``FALSE``; JSON
    held in string columns pretty-printed with embedded CRLF; UTF-8 BOM and CRLF line ends.
    """
    tables = present_tables(workspace)
    types: dict[str, set[str]] = {}
    order: list[str] = []
    for table in tables:
        for column, kql_type in TABLES[table].columns:
            if column not in types:
                order.append(column)
            types.setdefault(column, set()).add(kql_type)
    header: list[tuple[str, str, str | None]] = []  # (header text, column, type suffix)
    for column in order:
        if len(types[column]) > 1:
            for kql_type in sorted(types[column]):
                header.append((f"{column}_{kql_type}", column, kql_type))
        elif "datetime" in types[column]:
            header.append((f"{column} [UTC]", column, None))
        else:
            header.append((column, column, None))
    path = Path(out) / "search-export.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        handle.write(",".join(["$table", *(h for h, _, _ in header)]) + "\r\n")
        for table in tables:
            schema = TABLES[table].column_types
            for row in read_rows(workspace, table):
                cells = [table]
                for _, column, suffix in header:
                    kql_type = schema.get(column)
                    if kql_type is None or (suffix is not None and suffix != kql_type):
                        cells.append("")
                        continue
                    pretty = kql_type == "string" and column in _JSON_TEXT
                    cells.append(_quote(_csv_cell(row.get(column), kql_type, pretty)))
                handle.write(",".join(cells) + "\r\n")
    return [path]


_JSON_TEXT = {
    "AuthenticationDetails", "AuthenticationProcessingDetails", "AuthenticationRequirementPolicies", "Claims",
    "Authorization", "Properties", "HTTPRequest", "DeviceDetail", "LocationDetails", "Status", "MfaDetail",
    "ConditionalAccessPolicies", "NetworkLocationDetails",
}  # fmt: skip


# ------------------------------------------------------------------------------- query API


def _api_value(value: Any, kql_type: str) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if kql_type == "dynamic":
        return _json_or_none(value)
    return value


def export_query_api(workspace: Path, out: Path) -> list[Path]:
    """Query API / SDK rows: a JSON array per sign-in table, the REST ``{"tables": [...]}`` shape for AzureActivity.

    Dynamic columns become objects, JSON held in string columns stays text; every column the
    table has is carried, so nothing is lost.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in present_tables(workspace):
        schema = TABLES[table]
        if table == "AzureActivity":
            path = out / "AzureActivity.rest.json"
            with open(path, "w", encoding="utf-8") as handle:
                columns = [{"name": c, "type": t} for c, t in schema.columns]
                handle.write(
                    '{"tables": [{"name": "PrimaryResult", "columns": ' + json.dumps(columns) + ', "rows": [\n'
                )
                first = True
                for row in read_rows(workspace, table):
                    values = [
                        json.dumps(_api_value(row.get(c), t))
                        if t == "dynamic" and row.get(c) is not None
                        else row.get(c)
                        for c, t in schema.columns
                    ]
                    values = [_iso(v) if isinstance(v, dt.datetime) else v for v in values]
                    handle.write(("" if first else ",\n") + json.dumps(values))
                    first = False
                handle.write("\n]}]}\n")
        else:
            path = out / f"{table}.json"
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("[\n")
                first = True
                for row in read_rows(workspace, table):
                    record = {c: _api_value(row.get(c), t) for c, t in schema.columns}
                    handle.write(("" if first else ",\n") + json.dumps(record))
                    first = False
                handle.write("\n]\n")
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------- diagnostic settings


def _signin_body(row: dict[str, Any], table: str) -> dict[str, Any]:
    """A sign-in row as the Graph-cased object (diagnostic ``properties`` and Graph items alike)."""
    body: dict[str, Any] = {}
    for column, kql_type in TABLES[table].columns:
        if column in ENVELOPE_COLUMNS or column in ("SignInEventTypes",):
            continue
        value = row.get(column)
        if isinstance(value, dt.datetime):
            value = _iso(value, offset=True)
        elif column in _JSON_TEXT or kql_type == "dynamic" or column == "AuthenticationContextClassReferences":
            value = _json_or_none(value)
        elif column in JSON_NUMBERS and isinstance(value, str) and value.isdigit():
            value = int(value)
        elif column == "AuthenticationMethodsUsed" and isinstance(value, str):
            value = [v for v in value.split(",") if v]
        body[_camel(column)] = value
    body["status"] = _json_or_none(row.get("Status")) or {"errorCode": int(row.get("ResultType") or 0)}
    return body


def export_diagnostic(workspace: Path, out: Path, batch: int = 2000, per_hour: bool = True) -> list[Path]:
    """Diagnostic-settings records: sign-ins as storage JSON Lines (one file per category and
    hour, like ``PT1H.json`` blobs; one per day with ``per_hour=False``), activity as Event Hub
    ``{"records": [...]}`` batches.

    Cannot carry: ``TenantId`` (the workspace id; records hold the Entra tenant), AzureActivity
    ``EventDataId``, ``OperationId``, ``OperationName`` (friendly text), ``HTTPRequest``,
    ``EventSubmissionTimestamp`` and ``Caller`` (derived again from the token claims), and the
    status vocabulary (``resultType`` is ``Start``/``Success``/``Failure``/``Accept``).
    """
    out = Path(out)
    paths: list[Path] = []
    for table in present_tables(workspace):
        if table == "AzureActivity":
            continue
        handles: dict[str, Any] = {}
        opened: set[str] = set()
        try:
            for row in read_rows(workspace, table):
                time = row["TimeGenerated"]
                folder = (
                    out / f"insights-logs-{SIGNIN_CATEGORIES[table].lower()}" / f"y={time:%Y}/m={time:%m}/d={time:%d}"
                )
                key = f"{folder}/h={time:%H}" if per_hour else f"{folder}/h=all"
                if key not in handles:
                    path = Path(key) / "PT1H.json"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    handles[key] = open(path, "a", encoding="utf-8")
                    if key not in opened:
                        opened.add(key)
                        paths.append(path)
                record = {
                    "time": _iso(time),
                    "resourceId": "/tenants/00000000-0000-0000-0000-000000000000/providers/Microsoft.aadiam",
                    "operationName": row.get("OperationName") or "Sign-in activity",
                    "operationVersion": "1.0",
                    "category": SIGNIN_CATEGORIES[table],
                    "resultType": row.get("ResultType"),
                    "resultSignature": row.get("ResultSignature"),
                    "resultDescription": row.get("ResultDescription"),
                    "durationMs": row.get("DurationMs"),
                    "correlationId": row.get("CorrelationId"),
                    "identity": row.get("Identity"),
                    "Level": int(row["Level"]) if str(row.get("Level") or "").isdigit() else row.get("Level"),
                    "location": row.get("Location"),
                    "properties": _signin_body(row, table),
                }
                handles[key].write(json.dumps(record) + "\n")
                if len(handles) > 64:
                    for handle in handles.values():
                        handle.close()
                    handles = {k: open(Path(k) / "PT1H.json", "a", encoding="utf-8") for k in list(handles)[-8:]}
        finally:
            for handle in handles.values():
                handle.close()
    records: list[dict[str, Any]] = []
    number = 0
    status = {"Started": "Start", "Succeeded": "Success", "Failed": "Failure", "Accepted": "Accept"}
    for row in read_rows(workspace, "AzureActivity"):
        identity = {}
        if row.get("Claims_d") or row.get("Claims"):
            identity["claims"] = _json_or_none(row.get("Claims_d") or row.get("Claims"))
        if row.get("Authorization_d") or row.get("Authorization"):
            identity["authorization"] = _json_or_none(row.get("Authorization_d") or row.get("Authorization"))
        substatus = row.get("ActivitySubstatusValue") or ""
        state = str(row.get("ActivityStatusValue") or "")
        records.append(
            {
                "time": _iso(row["TimeGenerated"]),
                "resourceId": row.get("_ResourceId") or "",
                "operationName": row.get("OperationNameValue") or "",
                "category": row.get("CategoryValue"),
                "resultType": status.get(state, state),
                "resultSignature": f"{row.get('ActivityStatus') or state}.{substatus}",
                "durationMs": "0",
                "callerIpAddress": row.get("CallerIpAddress"),
                "correlationId": row.get("CorrelationId"),
                "identity": identity,
                "level": row.get("Level"),
                "properties": _json_or_none(row.get("Properties_d") or row.get("Properties")) or {},
                "tenantId": "00000000-0000-0000-0000-000000000000",
            }
        )
        if len(records) >= batch:
            paths.append(_write_batch(out, number, records))
            number, records = number + 1, []
    if records:
        paths.append(_write_batch(out, number, records))
    return paths


def _write_batch(out: Path, number: int, records: list[dict[str, Any]]) -> Path:
    path = out / "eventhub-activity" / f"batch-{number:04d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"records": records}, indent=1), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------- Graph and activity REST


def export_graph(workspace: Path, out: Path, page: int = 1000) -> list[Path]:
    """Microsoft Graph beta ``auditLogs/signIns`` pages for every sign-in table.

    Cannot carry: ``TimeGenerated`` (Graph has ``createdDateTime`` only), the Log Analytics
    bookkeeping columns (``TenantId``, ``SourceSystem``, ``OperationName``, ``Category``,
    ``ResultSignature``, ``DurationMs``, ``Identity``, ``Level``); ``Location`` comes back from
    ``location.countryOrRegion`` and ``ResultType`` from ``status.errorCode``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    items: list[dict[str, Any]] = []

    def flush(last: bool) -> None:
        number = len(paths)
        document: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns"}
        if not last:
            document["@odata.nextLink"] = f"https://graph.microsoft.com/beta/auditLogs/signIns?$skiptoken=p{number + 1}"
        document["value"] = items
        path = out / f"signIns-page-{number:04d}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(path)

    for table in present_tables(workspace):
        if table == "AzureActivity":
            continue
        for row in read_rows(workspace, table):
            item = _signin_body(row, table)
            item["signInEventTypes"] = [EVENT_TYPES[table]]
            if "createdDateTime" not in item or item["createdDateTime"] is None:
                item["createdDateTime"] = _iso(row["TimeGenerated"])
            else:
                item["createdDateTime"] = _iso(row["CreatedDateTime"])
            items.append(item)
            if len(items) >= page:
                flush(last=False)
                items = []
    flush(last=True)
    return paths


def export_activity_rest(workspace: Path, out: Path, page: int = 2000) -> list[Path]:
    """Activity Log REST pages (``{"value": [...], "nextLink": ...}``) for AzureActivity.

    Carries everything the analysis reads; ``status.value`` uses the REST spelling
    (``Succeeded``), which the importer turns into Log Analytics' ``Success``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    events: list[dict[str, Any]] = []

    def flush() -> None:
        path = out / f"activity-log-{len(paths):04d}.json"
        path.write_text(json.dumps({"value": events, "nextLink": None}), encoding="utf-8")
        paths.append(path)

    for row in read_rows(workspace, "AzureActivity"):
        operation = row.get("OperationNameValue") or ""
        events.append(
            {
                "authorization": _json_or_none(row.get("Authorization_d") or row.get("Authorization")),
                "caller": row.get("Caller"),
                "claims": _json_or_none(row.get("Claims_d") or row.get("Claims")) or {},
                "correlationId": row.get("CorrelationId"),
                "eventDataId": row.get("EventDataId"),
                "category": {"value": row.get("CategoryValue"), "localizedValue": row.get("CategoryValue")},
                "eventTimestamp": _iso(row["TimeGenerated"]),
                "submissionTimestamp": _iso(row.get("EventSubmissionTimestamp")),
                "level": row.get("Level"),
                "operationId": row.get("OperationId"),
                "operationName": {"value": operation, "localizedValue": row.get("OperationName") or operation},
                "resourceGroupName": row.get("ResourceGroup"),
                "resourceProviderName": {
                    "value": row.get("ResourceProviderValue"),
                    "localizedValue": row.get("ResourceProviderValue"),
                },
                "resourceId": row.get("_ResourceId"),
                "status": {"value": row.get("ActivityStatus") or row.get("ActivityStatusValue"), "localizedValue": ""},
                "subStatus": {"value": row.get("ActivitySubstatusValue") or "", "localizedValue": ""},
                "subscriptionId": row.get("SubscriptionId"),
                "properties": _json_or_none(row.get("Properties_d") or row.get("Properties")) or {},
                "httpRequest": _json_or_none(row.get("HTTPRequest")),
            }
        )
        if len(events) >= page:
            flush()
            events = []
    if events:
        flush()
    return paths


EXPORTERS = {
    "la-csv": export_portal_csv,
    "la-json": export_query_api,
    "diagnostic": export_diagnostic,
    "graph": export_graph,
    "activity-rest": export_activity_rest,
}
