"""The export shapes the importer knows, and how each maps to Log Analytics tables and columns.

One record of any shape becomes a :class:`Routed` record: the Log Analytics table it belongs
to (or why none) and its values under Log Analytics column names. Types are not decided here
(see :mod:`kitlib.ingest.values`); names, nesting and vocabularies are.

Shapes (``--format`` names):

- ``la-csv``: the Log Analytics portal "Export to CSV" (BOM, CRLF, ``Name [UTC]`` headers with
  US-locale values, ``TRUE``/``FALSE``, ``$table`` from ``search``, ``Name_dynamic`` /
  ``Name_string`` from ``union``, the legacy AzureActivity column set).
- ``la-json``: Log Analytics rows as the query API / SDKs return them (objects with the table's
  column names, dynamic as objects or JSON text), including the REST ``{"tables": [...]}`` shape.
- ``diagnostic``: diagnostic-settings records (storage JSON Lines, Event Hub ``{"records": []}``):
  camelCase top level, the sign-in body under ``properties`` in Graph casing, ``category``
  naming the log; activity-log records with ``identity.claims`` / ``identity.authorization``.
- ``activity-rest``: Activity Log REST / portal "Download as JSON" / ``az monitor activity-log
  list`` events (``{value, localizedValue}`` fields, ``claims`` and ``authorization`` objects).
- ``graph``: Microsoft Graph ``auditLogs/signIns`` (v1.0 and beta; ``signInEventTypes`` or
  ``isInteractive`` choose the table).

Names are matched case-insensitively everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, ClassVar

from kitlib.domain.schema import TABLES
from kitlib.ingest.values import json_text, parse_json_value

SIGNIN_TABLES = ("SigninLogs", "AADNonInteractiveUserSignInLogs")
WORKLOAD_TABLES = ("AADServicePrincipalSignInLogs", "AADManagedIdentitySignInLogs")
ACTIVITY = "AzureActivity"

#: Every registry column name, lower-cased -> as Log Analytics spells it.
ALL_COLUMNS: dict[str, str] = {c.lower(): c for t in TABLES.values() for c in t.column_names}
#: Other spellings of a registry column in rows that otherwise use Log Analytics names (a Graph
#: export flattened to CSV by a script): taken only when the Log Analytics name is absent.
HEADER_ALIASES: dict[str, str] = {"appliedconditionalaccesspolicies": "ConditionalAccessPolicies"}
TABLE_NAMES: dict[str, str] = {t.lower(): t for t in TABLES}

#: Diagnostic-settings / LA ``Category`` values of the sign-in logs -> the table holding them.
SIGNIN_CATEGORIES: dict[str, str] = {
    "signinlogs": "SigninLogs",
    "noninteractiveusersigninlogs": "AADNonInteractiveUserSignInLogs",
    "serviceprincipalsigninlogs": "AADServicePrincipalSignInLogs",
    "managedidentitysigninlogs": "AADManagedIdentitySignInLogs",
}
CATEGORY_OF_TABLE = {
    "SigninLogs": "SignInLogs",
    "AADNonInteractiveUserSignInLogs": "NonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs": "ServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs": "ManagedIdentitySignInLogs",
}
#: Activity-log categories (all land in AzureActivity). Older records used the operation kind.
ACTIVITY_CATEGORIES = frozenset(
    {"administrative", "security", "servicehealth", "alert", "recommendation", "policy", "autoscale", "resourcehealth"}
)
_OLD_ADMIN_CATEGORIES = frozenset({"write", "delete", "action"})
#: Graph ``signInEventTypes`` values -> table.
EVENT_TYPE_TABLES = {
    "interactiveuser": "SigninLogs",
    "noninteractiveuser": "AADNonInteractiveUserSignInLogs",
    "serviceprincipal": "AADServicePrincipalSignInLogs",
    "managedidentity": "AADManagedIdentitySignInLogs",
}
#: The three spellings of an activity's status -> the one ``ActivityStatusValue`` uses.
_ACTIVITY_STATUS = {"started": "Start", "succeeded": "Success", "failed": "Failure", "accepted": "Accept"}

# Columns each table cannot do without (alternatives in a tuple): a file lacking one is refused.
REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "SigninLogs": [
        ("TimeGenerated", "CreatedDateTime"),
        ("UserPrincipalName", "UserId"),
        ("AppId", "AppDisplayName"),
        ("ResourceIdentity", "ResourceDisplayName"),
        ("ResultType", "Status"),
    ],
    "AADServicePrincipalSignInLogs": [("TimeGenerated",), ("AppId", "ServicePrincipalId", "ServicePrincipalName")],
    "AADManagedIdentitySignInLogs": [("TimeGenerated",), ("AppId", "ServicePrincipalId", "ServicePrincipalName")],
    ACTIVITY: [
        ("TimeGenerated", "EventSubmissionTimestamp"),
        ("OperationNameValue", "OperationName", "Authorization", "Authorization_d", "Properties", "Properties_d"),
        ("Caller", "Claims", "Claims_d"),
    ],
}
REQUIRED["AADNonInteractiveUserSignInLogs"] = REQUIRED["SigninLogs"]

_PROCESSING_TIME = {
    "SigninLogs": "ProcessingTimeInMilliseconds",
    "AADNonInteractiveUserSignInLogs": "ProcessingTimeInMs",
}
_OPERATION = re.compile(r"^[A-Za-z0-9]+(\.[A-Za-z0-9]+)+/[^\s]+/(write|delete|action|read)$", re.IGNORECASE)
_HEADER_ZONE = re.compile(r"^(?P<name>.*?)\s*\[(?P<zone>[^\]]*)\]\s*$")
_UTC_OFFSET = re.compile(r"^UTC\s*(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$", re.IGNORECASE)
_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)(?:/resourcegroups/(?P<rg>[^/]+))?(?:/providers/(?P<ns>[^/]+))?", re.IGNORECASE
)

CLAIM_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
CLAIM_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
CLAIM_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


class RecordProblem(ValueError):
    """A record cannot be mapped (not this shape, no time, bad nesting); the message is the reason."""


@dataclass
class Routed:
    """One record under Log Analytics names, and where it goes.

    ``table`` is None when the record itself does not say (the importer then uses ``--table``
    or what the file as a whole says). ``foreign`` names a log the kit does not read (AuditLogs
    in a ``search`` export, a ProvisioningLogs diagnostic record): such rows are counted and
    skipped, not rejected. ``how`` says what decided the table, for conflict messages.
    """

    values: dict[str, Any]
    table: str | None = None
    foreign: str | None = None
    how: str = ""


@dataclass
class FileNotes:
    """What a file taught us beyond its rows: ignored fields and per-row normalisations."""

    ignored: dict[str, set[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)

    def ignore(self, name: str, table: str | None = None) -> None:
        """Remember a field that was not imported (per table, since tables differ in columns)."""
        self.ignored.setdefault(table or "", set()).add(name)

    def count(self, message: str, n: int = 1) -> None:
        self.counts[message] += n

    def note(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)


@dataclass(frozen=True)
class HeaderName:
    """A column header read the Log Analytics way: registry name, ``_dynamic``/``_string`` variant, zone."""

    column: str | None
    variant: str = ""
    offset: dt.timedelta | None = None
    zone_problem: str | None = None
    lower: str = ""


def read_header(name: str) -> HeaderName:
    """Strip the portal's `` [UTC]`` suffix and the ``union`` type suffixes; match case-insensitively."""
    text = name.strip().lstrip("\ufeff")
    offset = None
    zone_problem = None
    match = _HEADER_ZONE.match(text)
    if match:
        text, zone = match.group("name"), match.group("zone").strip()
        if zone.upper() != "UTC":
            off = _UTC_OFFSET.match(zone)
            if off:
                minutes = int(off.group("h")) * 60 + int(off.group("m") or 0)
                offset = dt.timedelta(minutes=minutes if off.group("sign") == "+" else -minutes)
            else:
                zone_problem = (
                    f"column {name!r} holds times in zone {zone!r}, which has no fixed UTC offset; "
                    f"re-export with the display time zone set to UTC"
                )
    lower = text.lower()
    if lower in ALL_COLUMNS:
        return HeaderName(ALL_COLUMNS[lower], "", offset, zone_problem, lower)
    if lower in HEADER_ALIASES:
        return HeaderName(HEADER_ALIASES[lower], "alias", offset, zone_problem, lower)
    for suffix in ("_dynamic", "_string"):
        if lower.endswith(suffix) and lower[: -len(suffix)] in ALL_COLUMNS:
            return HeaderName(ALL_COLUMNS[lower[: -len(suffix)]], suffix[1:], offset, zone_problem, lower)
    return HeaderName(None, "", offset, zone_problem, lower)


def table_from_name(name: str) -> tuple[str | None, str | None]:
    """``(registry table, foreign name)`` for a table / category name, case-insensitively."""
    lower = name.strip().lower()
    if not lower:
        return None, None
    if lower in TABLE_NAMES:
        return TABLE_NAMES[lower], None
    if lower in SIGNIN_CATEGORIES:
        return SIGNIN_CATEGORIES[lower], None
    if lower in ACTIVITY_CATEGORIES or lower in _OLD_ADMIN_CATEGORIES:
        return ACTIVITY, None
    return None, name.strip()


def table_from_path(label: str) -> str | None:
    """A table named by the file's name or folders (``SigninLogs.csv``, ``insights-logs-signinlogs/``)."""
    parts = [p.lower() for p in reversed(PurePath(label.replace("!", "/")).parts)]
    candidates = sorted(
        list(TABLE_NAMES.items()) + list(SIGNIN_CATEGORIES.items()) + [("azureactivity", ACTIVITY)],
        key=lambda kv: -len(kv[0]),
    )
    for part in parts:
        for key, table in candidates:
            if key in part:
                return table
    return None


def table_from_columns(columns: Iterable[str]) -> str | None:
    """A table told apart by columns only it has (for files with no Type, $table or Category)."""
    present = set(columns)
    if "ProcessingTimeInMs" in present:
        return "AADNonInteractiveUserSignInLogs"
    if "ServicePrincipalCredentialKeyId" in present or "ServicePrincipalCredentialThumbprint" in present:
        return "AADServicePrincipalSignInLogs"
    if "ConditionalAccessPoliciesV2" in present:
        return "AADManagedIdentitySignInLogs"
    if present & {"OperationNameValue", "CategoryValue", "Caller", "CallerIpAddress", "Claims", "Claims_d"}:
        return ACTIVITY
    if "ProcessingTimeInMilliseconds" in present:
        return "SigninLogs"
    return None


def missing_required(table: str, present: set[str]) -> list[str]:
    """The required column groups of ``table`` that ``present`` does not cover, spelled for humans."""
    return [" or ".join(group) for group in REQUIRED[table] if not present.intersection(group)]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _unwrap(value: Any) -> Any:
    """``{value, localizedValue}`` -> value (Activity Log REST)."""
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _lower_keys(record: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in record.items()}


# --------------------------------------------------------------------------------------------
# Shapes


class Shape:
    """How one kind of export maps to Log Analytics. Subclasses implement :meth:`route`."""

    name = ""
    title = ""

    def __init__(self, notes: FileNotes) -> None:
        self.notes = notes

    def route(self, record: dict[str, Any]) -> Routed:
        raise NotImplementedError


class LaRows(Shape):
    """Rows that already use Log Analytics column names (portal CSV, query API, SDK dumps)."""

    name = "la-json"
    title = "la-json: Log Analytics query API / SDK rows (JSON, JSON Lines, or the REST {tables:[...]} shape)"

    def __init__(self, notes: FileNotes) -> None:
        super().__init__(notes)
        self._headers: dict[str, HeaderName] = {}
        self._plans: dict[str, tuple[str | None, int, dt.timedelta | None, str]] = {}

    def header(self, key: str) -> HeaderName:
        info = self._headers.get(key)
        if info is None:
            info = read_header(key)
            if info.column is None and info.lower not in ("$table", "resourceid"):
                self.notes.ignore(key)
            self._headers[key] = info
        return info

    def present_columns(self, keys: Iterable[str]) -> set[str]:
        """Registry columns a header (or a record's keys) provides, after name normalisation."""
        present = {c for k in keys if (c := self.header(k).column)}
        if any(self.header(k).lower == "resourceid" for k in keys):
            present.add("_ResourceId")
        return present

    def zone_problems(self, keys: Iterable[str]) -> list[str]:
        """Headers whose times are in a zone with no fixed offset (``[Local Time]``)."""
        return [p for k in keys if (p := self.header(k).zone_problem)]

    def _plan(self, key: str) -> tuple[str | None, int, dt.timedelta | None, str]:
        """(column, rank, offset, special) for a key; rank 0 plain, 1 ``_dynamic``, 2 ``_string``."""
        plan = self._plans.get(key)
        if plan is None:
            info = self.header(key)
            if info.zone_problem:
                raise RecordProblem(info.zone_problem)
            special = info.lower if info.lower in ("$table", "resourceid") else ""
            plan = (info.column, {"": 0, "dynamic": 1, "string": 2, "alias": 3}[info.variant], info.offset, special)
            self._plans[key] = plan
        return plan

    def route(self, record: dict[str, Any]) -> Routed:
        values: dict[str, Any] = {}
        rank: dict[str, int] = {}
        table: str | None = None
        foreign: str | None = None
        how = ""
        plans = self._plans
        for key, value in record.items():
            if value is None or value == "":
                continue
            plan = plans.get(key) or self._plan(key)
            column, order, offset, special = plan
            if column is None:
                if special == "$table":
                    table, foreign = table_from_name(str(value))
                    how = "$table"
                elif special == "resourceid":
                    values["_LegacyResourceId"] = value
                continue
            # Plain name beats Name_dynamic beats Name_string (a union export fills one of them),
            # which beat another spelling of the name.
            if order:
                if rank.get(column, len(_RANKS)) <= order:
                    continue
                rank[column] = order
            else:
                rank[column] = 0
            values[column] = value if offset is None else OffsetValue(value, offset)
        if table is None and foreign is None:
            kind = values.get("Type")
            if isinstance(kind, str) and kind.strip():
                table, foreign = table_from_name(kind)
                how = "Type"
            else:
                category = values.get("Category")
                if isinstance(category, str) and category.strip():
                    table, _ = table_from_name(category)
                    how = "Category" if table else ""
        return Routed(values, table, foreign, how)


class LaCsv(LaRows):
    name = "la-csv"
    title = "la-csv: Log Analytics portal 'Export to CSV' (or any CSV with Log Analytics column names)"


_RANKS = ("", "dynamic", "string", "alias")


@dataclass(frozen=True)
class OffsetValue:
    """A datetime text from a column whose header declared a fixed non-UTC offset."""

    value: Any
    offset: dt.timedelta


# Graph / diagnostic-settings body (camelCase) names that differ from Log Analytics beyond case.
_BODY_RENAMES = {
    "resourceid": "ResourceIdentity",
    "appliedconditionalaccesspolicies": "ConditionalAccessPolicies",
    "processingtimeinmilliseconds": "ProcessingTimeInMilliseconds",
    "processingtimeinms": "ProcessingTimeInMs",
}
# Top-level diagnostic-settings fields of a sign-in record.
_DIAG_SIGNIN_TOP = {
    "time": "TimeGenerated",
    "operationname": "OperationName",
    "category": "Category",
    "resulttype": "ResultType",
    "resultsignature": "ResultSignature",
    "resultdescription": "ResultDescription",
    "durationms": "DurationMs",
    "correlationid": "CorrelationId",
    "identity": "Identity",
    "level": "Level",
    "location": "Location",
    # The Entra tenant that logged the sign-in: Log Analytics' AADTenantId (its TenantId is the workspace).
    "tenantid": "AADTenantId",
}
# Top-level envelope fields that are known and deliberately not imported.
_DIAG_IGNORED = {
    "resourceid": "resourceId (the /tenants/.../Microsoft.aadiam path; not the ResourceIdentity app id)",
    "operationversion": "operationVersion",
    "properties": "",
    "calleripaddress": "",
}


def map_signin_body(body: dict[str, Any], values: dict[str, Any], notes: FileNotes, table: str | None) -> None:
    """Graph-cased sign-in fields (Graph API item or diagnostic ``properties``) into LA columns.

    Values already in ``values`` (the diagnostic envelope) win over the body's.
    """
    columns = set(TABLES[table].column_names) if table else set(ALL_COLUMNS.values())
    for key, value in body.items():
        lower = str(key).lower()
        if lower.startswith("@odata"):
            continue
        if lower == "location":
            if isinstance(value, dict):
                values.setdefault("LocationDetails", value)
                country = value.get("countryOrRegion")
                if not _empty(country):
                    values.setdefault("Location", country)
            elif not _empty(value):
                values.setdefault("Location", value)
            continue
        if lower == "status":
            if isinstance(value, str):
                value = parse_json_value(value)
            values.setdefault("Status", value)
            if isinstance(value, dict):
                if value.get("errorCode") is not None:
                    values.setdefault("ResultType", value["errorCode"])
                if not _empty(value.get("failureReason")):
                    values.setdefault("ResultDescription", value["failureReason"])
            continue
        column = _BODY_RENAMES.get(lower) or ALL_COLUMNS.get(lower)
        if column in _PROCESSING_TIME.values() and table in _PROCESSING_TIME:
            column = _PROCESSING_TIME[table]
        if column is None or column not in columns:
            if column is None or table is not None:
                notes.ignore(str(key), table)
            continue
        if _empty(value) and column in values:
            continue
        if column == "AuthenticationMethodsUsed" and isinstance(value, list):
            # Graph lists the methods; Log Analytics holds them as one comma-separated string.
            value = ",".join(str(v) for v in value)
        values.setdefault(column, value)


class Diagnostic(Shape):
    """Diagnostic-settings records (Azure Monitor resource-log schema): sign-in and activity logs."""

    name = "diagnostic"
    title = (
        "diagnostic: diagnostic-settings records (storage JSON Lines or Event Hub {records:[...]}) for "
        "sign-in categories and the activity log"
    )

    def route(self, record: dict[str, Any]) -> Routed:
        top = _lower_keys(record)
        if _empty(top.get("time")):
            raise RecordProblem("diagnostic record has no 'time'")
        category = str(top.get("category") or "").strip()
        lower = category.lower()
        if lower in SIGNIN_CATEGORIES:
            return self._signin(top, SIGNIN_CATEGORIES[lower])
        if (
            lower in ACTIVITY_CATEGORIES
            or lower in _OLD_ADMIN_CATEGORIES
            or str(top.get("resourceid", "")).lower().startswith("/subscriptions/")
        ):
            return activity_from_diagnostic(top, self.notes)
        if not category:
            raise RecordProblem("diagnostic record has no 'category'")
        return Routed({}, None, category, "category")

    def _signin(self, top: dict[str, Any], table: str) -> Routed:
        values: dict[str, Any] = {}
        columns = set(TABLES[table].column_names)
        for key, value in top.items():
            if key in _DIAG_SIGNIN_TOP:
                if _DIAG_SIGNIN_TOP[key] not in columns:
                    self.notes.ignore(key, table)
                elif not _empty(value):
                    values[_DIAG_SIGNIN_TOP[key]] = value
            elif key in _DIAG_IGNORED:
                if _DIAG_IGNORED[key]:
                    self.notes.ignore(_DIAG_IGNORED[key], table)
            else:
                self.notes.ignore(key, table)
        body = top.get("properties")
        if isinstance(body, str):
            body = parse_json_value(body)
        if not isinstance(body, dict):
            raise RecordProblem(f"{CATEGORY_OF_TABLE[table]} record has no 'properties' object")
        map_signin_body(body, values, self.notes, table)
        if _empty(values.get("IPAddress")) and not _empty(top.get("calleripaddress")):
            values["IPAddress"] = top["calleripaddress"]
        return Routed(values, table, None, "category")


def activity_from_diagnostic(top: dict[str, Any], notes: FileNotes) -> Routed:
    """An activity-log record as streamed by a subscription's diagnostic setting."""
    values: dict[str, Any] = {"TimeGenerated": top.get("time")}
    # Older records name the operation kind (Write, Action, Delete): finish() maps them.
    values["CategoryValue"] = str(top.get("category") or "")
    values["OperationNameValue"] = top.get("operationname")
    values["ActivityStatusValue"] = top.get("resulttype")
    signature = top.get("resultsignature")
    if isinstance(signature, str):
        values["ActivitySubstatusValue"] = signature.split(".", 1)[1] if "." in signature else ""
    for source, column in (
        ("calleripaddress", "CallerIpAddress"),
        ("correlationid", "CorrelationId"),
        ("level", "Level"),
        ("caller", "Caller"),
        ("eventdataid", "EventDataId"),
        ("operationid", "OperationId"),
    ):
        if not _empty(top.get(source)):
            values[column] = top[source]
    identity = top.get("identity")
    if isinstance(identity, str):
        identity = parse_json_value(identity)
    if isinstance(identity, dict):
        ident = _lower_keys(identity)
        if ident.get("claims") is not None:
            values["Claims_d"] = ident["claims"]
        if ident.get("authorization") is not None:
            values["Authorization_d"] = ident["authorization"]
    properties = top.get("properties")
    if properties is not None:
        values["Properties_d"] = properties
    _resource_columns(values, top.get("resourceid"))
    for key in top:
        if key not in _DIAG_ACTIVITY_KNOWN:
            notes.ignore(key, ACTIVITY)
    return Routed(values, ACTIVITY, None, "category")


_DIAG_ACTIVITY_KNOWN = frozenset(
    {
        "time", "category", "operationname", "resulttype", "resultsignature", "calleripaddress", "correlationid",
        "level", "caller", "eventdataid", "operationid", "identity", "properties", "resourceid",
    }
)  # fmt: skip


def _resource_columns(values: dict[str, Any], resource_id: Any) -> None:
    """``_ResourceId`` and the subscription, group and provider it names."""
    if _empty(resource_id):
        return
    text = str(resource_id)
    # Log Analytics keeps _ResourceId in lower case and subscription ids are GUIDs.
    values.setdefault("_ResourceId", text.lower())
    match = _RESOURCE_ID.match(text)
    if match:
        values.setdefault("SubscriptionId", match.group("sub").lower())
        if match.group("rg"):
            values.setdefault("ResourceGroup", match.group("rg"))
        if match.group("ns"):
            values.setdefault("ResourceProviderValue", match.group("ns"))


class ActivityRest(Shape):
    """Activity Log events from the REST API, the portal's JSON download or the Azure CLI."""

    name = "activity-rest"
    title = "activity-rest: Activity Log REST / portal 'Download as JSON' / az monitor activity-log list"

    _PLAIN: ClassVar[dict[str, str]] = {
        "caller": "Caller",
        "correlationid": "CorrelationId",
        "eventdataid": "EventDataId",
        "operationid": "OperationId",
        "level": "Level",
        "resourcegroupname": "ResourceGroup",
        "subscriptionid": "SubscriptionId",
        "eventtimestamp": "TimeGenerated",
        "submissiontimestamp": "EventSubmissionTimestamp",
        "calleripaddress": "CallerIpAddress",
    }
    _KNOWN = frozenset(
        {
            "claims", "authorization", "properties", "httprequest", "operationname", "category", "status",
            "substatus", "resourceprovidername", "resourceid", "id", "tenantid", "eventname", "channels",
            "resourcetype", "relatedevents", "description",
        }
    )  # fmt: skip

    def route(self, record: dict[str, Any]) -> Routed:
        top = _lower_keys(record)
        if _empty(top.get("eventtimestamp")):
            raise RecordProblem("activity-log event has no 'eventTimestamp'")
        values: dict[str, Any] = {}
        for key, column in self._PLAIN.items():
            if not _empty(top.get(key)):
                values[column] = top[key]
        operation = top.get("operationname")
        values["OperationNameValue"] = _unwrap(operation)
        if isinstance(operation, dict) and not _empty(operation.get("localizedValue")):
            values["OperationName"] = operation["localizedValue"]
        values["CategoryValue"] = _unwrap(top.get("category"))
        status = _unwrap(top.get("status"))
        if not _empty(status):
            values["ActivityStatus"] = status
            values["ActivityStatusValue"] = _ACTIVITY_STATUS.get(str(status).lower(), status)
        substatus = _unwrap(top.get("substatus"))
        if not _empty(substatus):
            values["ActivitySubstatusValue"] = substatus
        provider = _unwrap(top.get("resourceprovidername"))
        if not _empty(provider):
            values["ResourceProviderValue"] = provider
        for key, column in (
            ("claims", "Claims_d"),
            ("authorization", "Authorization_d"),
            ("properties", "Properties_d"),
        ):
            if top.get(key) is not None:
                values[column] = top[key]
        http = top.get("httprequest")
        if http is not None:
            values["HTTPRequest"] = http
            if (
                isinstance(http, dict)
                and _empty(values.get("CallerIpAddress"))
                and not _empty(http.get("clientIpAddress"))
            ):
                values["CallerIpAddress"] = http["clientIpAddress"]
        _resource_columns(values, top.get("resourceid"))
        for key in top:
            if key not in self._PLAIN and key not in self._KNOWN:
                self.notes.ignore(key, ACTIVITY)
        return Routed(values, ACTIVITY, None, "shape")


class Graph(Shape):
    """Microsoft Graph ``auditLogs/signIns`` items (v1.0 and beta)."""

    name = "graph"
    title = "graph: Microsoft Graph auditLogs/signIns JSON (v1.0 or beta; value arrays, paged files)"

    def route(self, record: dict[str, Any]) -> Routed:
        top = _lower_keys(record)
        if _empty(top.get("createddatetime")):
            raise RecordProblem("Graph sign-in has no 'createdDateTime'")
        table, how = self._table(top)
        values: dict[str, Any] = {}
        map_signin_body(record, values, self.notes, table)
        values.setdefault("TimeGenerated", top["createddatetime"])
        self.notes.count("TimeGenerated taken from createdDateTime (Graph has no ingestion time)")
        return Routed(values, table, None, how)

    def _table(self, top: dict[str, Any]) -> tuple[str | None, str]:
        types = top.get("signineventtypes")
        if isinstance(types, str):
            types = parse_json_value(types)
            if isinstance(types, str):
                types = [types]
        if isinstance(types, list):
            for event_type in types:
                table = EVENT_TYPE_TABLES.get(str(event_type).lower())
                if table:
                    return table, "signInEventTypes"
        interactive = top.get("isinteractive")
        if isinstance(interactive, bool):
            self.notes.count("Graph sign-ins without signInEventTypes: table chosen by isInteractive")
            return ("SigninLogs" if interactive else "AADNonInteractiveUserSignInLogs"), "isInteractive"
        return None, ""


SHAPES: dict[str, type[Shape]] = {s.name: s for s in (LaCsv, LaRows, Diagnostic, ActivityRest, Graph)}


def known_shapes() -> list[str]:
    """One line per shape, for error messages and ``--help``."""
    return [cls.title for cls in SHAPES.values()]


def detect_json_shape(record: dict[str, Any]) -> str | None:
    """The shape a JSON record is in, from its keys alone, or None when it fits none."""
    keys = {str(k).lower() for k in record}
    if "eventtimestamp" in keys or isinstance(record.get("operationName"), dict) or "submissiontimestamp" in keys:
        return ActivityRest.name
    if (
        "time" in keys
        and "category" in keys
        and ("properties" in keys or "operationname" in keys or "identity" in keys)
    ):
        return Diagnostic.name
    registry_keys = sum(1 for k in keys if read_header(k).column)
    la_markers = {"timegenerated", "type", "$table"} & keys or any(k.startswith("timegenerated") for k in keys)
    if la_markers and registry_keys >= 3:
        return LaRows.name
    if "createddatetime" in keys and keys & {"userprincipalname", "appid", "signineventtypes", "serviceprincipalid"}:
        return Graph.name
    if registry_keys >= 5:
        return LaRows.name
    return None


# --------------------------------------------------------------------------------------------
# Per-table finishing: the same fixes whatever shape a row came from.


def finish(table: str, values: dict[str, Any], notes: FileNotes) -> dict[str, Any]:
    """Fill what Log Analytics would have, from what the row has; count what was derived."""
    values["Type"] = table
    if table in SIGNIN_TABLES or table in WORKLOAD_TABLES:
        _finish_signin(table, values, notes)
    elif table == ACTIVITY:
        _finish_activity(values, notes)
    values.pop("_LegacyResourceId", None)
    return values


def _finish_signin(table: str, values: dict[str, Any], notes: FileNotes) -> None:
    if _empty(values.get("TimeGenerated")) and not _empty(values.get("CreatedDateTime")):
        values["TimeGenerated"] = values["CreatedDateTime"]
        notes.count(f"{table}: TimeGenerated taken from CreatedDateTime")
    if _empty(values.get("Category")):
        values["Category"] = CATEGORY_OF_TABLE[table]
    user_type = values.get("UserType")
    if isinstance(user_type, str) and user_type in ("member", "guest"):
        values["UserType"] = user_type.capitalize()
    wanted = _PROCESSING_TIME.get(table)
    if wanted:
        other = next(c for c in _PROCESSING_TIME.values() if c != wanted)
        if other in values:
            values.setdefault(wanted, values.pop(other))


def _finish_activity(values: dict[str, Any], notes: FileNotes) -> None:
    if _empty(values.get("TimeGenerated")) and not _empty(values.get("EventSubmissionTimestamp")):
        values["TimeGenerated"] = values["EventSubmissionTimestamp"]
        notes.count("AzureActivity: TimeGenerated taken from EventSubmissionTimestamp")
    for text_column, dynamic_column in (
        ("Claims", "Claims_d"),
        ("Authorization", "Authorization_d"),
        ("Properties", "Properties_d"),
    ):
        _pair(values, text_column, dynamic_column)
    claims = parse_json_value(values.get("Claims_d"))
    authorization = parse_json_value(values.get("Authorization_d"))
    properties = parse_json_value(values.get("Properties_d"))
    # The legacy column set (older exports): friendly OperationName, past-tense ActivityStatus.
    if _empty(values.get("CategoryValue")) and not _empty(values.get("Category")):
        values["CategoryValue"] = values["Category"]
    if _empty(values.get("ActivityStatusValue")) and not _empty(values.get("ActivityStatus")):
        status = str(values["ActivityStatus"])
        values["ActivityStatusValue"] = _ACTIVITY_STATUS.get(status.lower(), status)
    if _empty(values.get("ActivitySubstatusValue")) and not _empty(values.get("ActivitySubstatus")):
        values["ActivitySubstatusValue"] = values["ActivitySubstatus"]
    if _empty(values.get("ResourceProviderValue")) and not _empty(values.get("ResourceProvider")):
        values["ResourceProviderValue"] = values["ResourceProvider"]
    if _empty(values.get("_ResourceId")) and not _empty(values.get("_LegacyResourceId")):
        values["_ResourceId"] = values["_LegacyResourceId"]
    if _empty(values.get("OperationNameValue")):
        _legacy_operation(values, authorization, properties, notes)
    if _empty(values.get("CategoryValue")):
        _category_from_shape(values, claims, authorization, notes)
    elif str(values["CategoryValue"]).strip().lower() in _OLD_ADMIN_CATEGORIES:
        notes.count(
            f"AzureActivity: CategoryValue 'Administrative' for older records whose category was "
            f"'{values['CategoryValue']}'"
        )
        values["CategoryValue"] = "Administrative"
    if _empty(values.get("Hierarchy")) and isinstance(properties, dict) and not _empty(properties.get("hierarchy")):
        values["Hierarchy"] = properties["hierarchy"]
    if _empty(values.get("Caller")) and isinstance(claims, dict):
        caller = _caller_from_claims(claims)
        if caller:
            values["Caller"] = caller
            notes.count("AzureActivity: Caller taken from the token claims (upn, else object id)")
    if _empty(values.get("CallerIpAddress")) and isinstance(claims, dict) and not _empty(claims.get("ipaddr")):
        values["CallerIpAddress"] = claims["ipaddr"]
    if claims is None or (isinstance(claims, str) and not claims.strip()):
        notes.count(
            "AzureActivity: rows without token claims (no Claims/Claims_d, e.g. a legacy export): "
            "whether their token carried MFA cannot be told"
        )


def _pair(values: dict[str, Any], text_column: str, dynamic_column: str) -> None:
    """Fill the string copy and the dynamic copy of a JSON column from whichever exists."""
    text = values.get(text_column)
    dynamic = values.get(dynamic_column)
    if _empty(dynamic) and not _empty(text):
        values[dynamic_column] = text
    elif _empty(text) and not _empty(dynamic):
        values[text_column] = dynamic if isinstance(dynamic, str) else json_text(dynamic)


def _legacy_operation(values: dict[str, Any], authorization: Any, properties: Any, notes: FileNotes) -> None:
    """OperationNameValue for rows that lack it: the resource-provider operation, where one is written."""
    friendly = values.get("OperationName")
    if isinstance(friendly, str) and _OPERATION.match(friendly.strip()):
        values["OperationNameValue"] = friendly.strip()
        notes.count("AzureActivity: OperationNameValue taken from OperationName (legacy export)")
        return
    if (
        isinstance(authorization, dict)
        and isinstance(authorization.get("action"), str)
        and authorization["action"].strip()
    ):
        values["OperationNameValue"] = authorization["action"].strip()
        notes.count("AzureActivity: OperationNameValue taken from Authorization.action (legacy export)")
        return
    message = properties.get("message") if isinstance(properties, dict) else None
    if isinstance(message, str) and _OPERATION.match(message.strip()):
        values["OperationNameValue"] = message.strip()
        notes.count("AzureActivity: OperationNameValue taken from Properties.message (legacy export)")
        return
    notes.count(
        "AzureActivity: rows with no resource-provider operation (only a friendly OperationName): "
        "they cannot be counted as writes"
    )


#: Azure Policy effects written to the activity log as ``Microsoft.Authorization/policies/<effect>/action``.
_POLICY_OPERATION = re.compile(
    r"^microsoft\.authorization/policies/(audit|auditifnotexists|deny|denyaction|deployifnotexists|modify|append)"
    r"/action$",
    re.IGNORECASE,
)


def _category_from_shape(values: dict[str, Any], claims: Any, authorization: Any, notes: FileNotes) -> None:
    """CategoryValue for records that carry none (older Activity Log API versions), told from their shape.

    Every kit query reads ``Administrative`` or ``Policy`` rows: a row left without a category
    would be ignored by all of them, so it is classified, or counted so the import summary says
    it was not. A policy effect has its own operation name; an administrative operation is a
    resource-provider operation made by a caller with a token or a role check (service health
    and alert events name an operation too, but carry neither).
    """
    operation = str(values.get("OperationNameValue") or "").strip()
    called = bool(claims) or bool(authorization) or not _empty(values.get("Caller"))
    if _POLICY_OPERATION.match(operation):
        values["CategoryValue"] = "Policy"
        notes.count("AzureActivity: CategoryValue 'Policy' told from the operation (the record had no category)")
    elif _OPERATION.match(operation) and called:
        values["CategoryValue"] = "Administrative"
        notes.count(
            "AzureActivity: CategoryValue 'Administrative' told from the operation (the record had no category)"
        )
    else:
        notes.count(
            "AzureActivity: rows without a category whose kind cannot be told (no resource-provider operation "
            "made by a caller): no kit query reads them"
        )


def _caller_from_claims(claims: dict[str, Any]) -> str | None:
    for key in (CLAIM_UPN, CLAIM_NAME, "upn", "unique_name"):
        value = claims.get(key)
        if isinstance(value, str) and "@" in value:
            return value.strip()
    for key in (CLAIM_OID, "oid", "appid"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
