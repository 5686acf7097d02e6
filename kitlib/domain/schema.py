"""The table schema registry: Log Analytics column names and types for the tables the kit reads.

One source of truth. The local backend types workspace files with it, the importer normalises
exports to it, the demo generator writes it, and the KQL analyzer check declares it.

The trap it exists for: the two user sign-in tables disagree on which complex columns are
``dynamic`` and which are JSON held in a ``string`` (``DeviceDetail`` is dynamic in
``SigninLogs`` but a string in ``AADNonInteractiveUserSignInLogs``). Queries must not guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kitlib.errors import SchemaError

#: Kusto scalar type -> DuckDB type used for a local column of that type.
DUCKDB_TYPES: Mapping[str, str] = {
    "string": "VARCHAR",
    "guid": "VARCHAR",
    "datetime": "TIMESTAMPTZ",
    "bool": "BOOLEAN",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "dynamic": "JSON",
    "timespan": "INTERVAL",
}


@dataclass(frozen=True)
class TableSchema:
    """One Log Analytics table: ordered column names with their Kusto types."""

    name: str
    columns: tuple[tuple[str, str], ...]
    description: str = ""

    @property
    def column_types(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def type_of(self, column: str) -> str:
        try:
            return self.column_types[column]
        except KeyError:
            raise SchemaError(f"table {self.name} has no column {column!r}") from None

    def json_text_columns(self) -> list[str]:
        """String columns that hold JSON: they need ``todynamic()`` before field access."""
        return [c for c in self.column_names if c in _JSON_TEXT_COLUMNS and self.type_of(c) == "string"]


# Columns that carry JSON documents, whatever their declared type in a given table.
_JSON_TEXT_COLUMNS = frozenset(
    {
        "AuthenticationDetails",
        "AuthenticationProcessingDetails",
        "AuthenticationRequirementPolicies",
        "ConditionalAccessPolicies",
        "DeviceDetail",
        "LocationDetails",
        "MfaDetail",
        "NetworkLocationDetails",
        "Status",
        "Authorization",
        "Claims",
        "Properties",
        "HTTPRequest",
    }
)


def _user_signin_columns(complex_type: str, processing_time_column: str) -> tuple[tuple[str, str], ...]:
    """Columns shared by the two user sign-in tables; ``complex_type`` is where they differ."""
    return (
        ("TenantId", "string"),
        # The Entra tenant that logged the sign-in (TenantId is the workspace's); with
        # HomeTenantId and ResourceTenantId it tells guests and cross-tenant callers apart.
        ("AADTenantId", "string"),
        ("SourceSystem", "string"),
        ("TimeGenerated", "datetime"),
        ("OperationName", "string"),
        ("Category", "string"),
        ("ResultType", "string"),
        ("ResultSignature", "string"),
        ("ResultDescription", "string"),
        ("DurationMs", "long"),
        ("CorrelationId", "string"),
        ("Identity", "string"),
        ("Level", "string"),
        ("Location", "string"),
        ("AlternateSignInName", "string"),
        ("AppDisplayName", "string"),
        ("AppId", "string"),
        ("AuthenticationContextClassReferences", "string"),
        ("AuthenticationDetails", "string"),
        ("AuthenticationMethodsUsed", "string"),
        ("AuthenticationProcessingDetails", "string"),
        ("AuthenticationProtocol", "string"),
        ("AuthenticationRequirement", "string"),
        ("AuthenticationRequirementPolicies", "string"),
        ("AutonomousSystemNumber", "string"),
        ("ClientAppUsed", "string"),
        ("ClientCredentialType", "string"),
        ("ConditionalAccessPolicies", complex_type),
        ("ConditionalAccessStatus", "string"),
        ("CreatedDateTime", "datetime"),
        ("CrossTenantAccessType", "string"),
        ("DeviceDetail", complex_type),
        ("HomeTenantId", "string"),
        ("HomeTenantName", "string"),
        ("Id", "string"),
        ("IncomingTokenType", "string"),
        ("IPAddress", "string"),
        ("IsInteractive", "bool"),
        ("IsRisky", "bool"),
        ("IsThroughGlobalSecureAccess", "bool"),
        ("GlobalSecureAccessIpAddress", "string"),
        ("LocationDetails", complex_type),
        ("MfaDetail", complex_type),
        ("NetworkLocationDetails", "string"),
        ("OriginalRequestId", "string"),
        (processing_time_column, "string"),
        ("ResourceDisplayName", "string"),
        ("ResourceIdentity", "string"),
        ("ResourceTenantId", "string"),
        ("RiskDetail", "string"),
        ("RiskLevelAggregated", "string"),
        ("RiskLevelDuringSignIn", "string"),
        ("RiskState", "string"),
        ("SessionId", "string"),
        ("SignInEventTypes", "string"),
        ("Status", complex_type),
        ("TokenIssuerType", "string"),
        ("UniqueTokenIdentifier", "string"),
        ("UserAgent", "string"),
        ("UserDisplayName", "string"),
        ("UserId", "string"),
        ("UserPrincipalName", "string"),
        ("UserType", "string"),
        ("Type", "string"),
    )


def _workload_signin_columns() -> tuple[tuple[str, str], ...]:
    return (
        ("TenantId", "string"),
        ("SourceSystem", "string"),
        ("TimeGenerated", "datetime"),
        ("OperationName", "string"),
        ("Category", "string"),
        ("ResultType", "string"),
        ("ResultSignature", "string"),
        ("ResultDescription", "string"),
        ("CorrelationId", "string"),
        ("Id", "string"),
        ("AppId", "string"),
        ("ServicePrincipalId", "string"),
        ("ServicePrincipalName", "string"),
        ("ResourceDisplayName", "string"),
        ("ResourceIdentity", "string"),
        ("IPAddress", "string"),
        ("LocationDetails", "string"),
        ("ConditionalAccessPolicies", "string"),
        ("FederatedCredentialId", "string"),
        ("UniqueTokenIdentifier", "string"),
        ("Type", "string"),
    )


TABLES: Mapping[str, TableSchema] = {
    t.name: t
    for t in (
        TableSchema(
            "SigninLogs",
            _user_signin_columns("dynamic", "ProcessingTimeInMilliseconds"),
            "Interactive user sign-ins.",
        ),
        TableSchema(
            "AADNonInteractiveUserSignInLogs",
            _user_signin_columns("string", "ProcessingTimeInMs"),
            "Non-interactive user sign-ins (refresh-token redemptions): most CLI/PowerShell "
            "token traffic for ARM lands here.",
        ),
        TableSchema(
            "AADServicePrincipalSignInLogs",
            (
                *_workload_signin_columns(),
                ("ServicePrincipalCredentialKeyId", "string"),
                ("ServicePrincipalCredentialThumbprint", "string"),
            ),
            "Service principal sign-ins (out of Phase 2 scope; what is already migrated).",
        ),
        TableSchema(
            "AADManagedIdentitySignInLogs",
            (*_workload_signin_columns(), ("ConditionalAccessPoliciesV2", "dynamic")),
            "Managed identity sign-ins (out of Phase 2 scope).",
        ),
        TableSchema(
            "AzureActivity",
            (
                ("TenantId", "string"),
                ("SourceSystem", "string"),
                ("TimeGenerated", "datetime"),
                ("CallerIpAddress", "string"),
                ("CategoryValue", "string"),
                ("CorrelationId", "string"),
                ("Authorization", "string"),
                ("Authorization_d", "dynamic"),
                ("Claims", "string"),
                ("Claims_d", "dynamic"),
                ("Level", "string"),
                ("OperationNameValue", "string"),
                ("Properties", "string"),
                ("Properties_d", "dynamic"),
                ("Caller", "string"),
                ("EventDataId", "string"),
                ("EventSubmissionTimestamp", "datetime"),
                ("HTTPRequest", "string"),
                ("OperationId", "string"),
                ("ResourceGroup", "string"),
                ("ResourceProviderValue", "string"),
                ("ActivityStatusValue", "string"),
                ("ActivitySubstatusValue", "string"),
                ("Hierarchy", "string"),
                ("SubscriptionId", "string"),
                ("OperationName", "string"),
                ("ActivityStatus", "string"),
                ("ActivitySubstatus", "string"),
                ("Category", "string"),
                ("ResourceProvider", "string"),
                ("Resource", "string"),
                ("_ResourceId", "string"),
                ("Type", "string"),
            ),
            "Azure Resource Manager control-plane events: writes (Administrative) and policy effects.",
        ),
    )
}


def table(name: str) -> TableSchema:
    """The schema of a known table, or a SchemaError naming the tables we know."""
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None
