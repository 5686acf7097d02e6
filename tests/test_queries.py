"""Every query in queries/ runs on the local engine against a small hand-written workspace.

The workspace below is written row by row so each expected number can be checked by reading
the rows: two users (one cased two ways), a guest, a service principal and a managed identity,
with sign-ins in both user tables, ARM writes with and without MFA, and policy events.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kitlib.backends.local import LocalBackend
from kitlib.query.catalog import load_catalog
from kitlib.query.run import run_query

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
LOOKBACK = dt.timedelta(days=30)
ARM = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
GRAPH = "00000003-0000-0000-c000-000000000000"
CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
PWSH = "1950a258-227b-4e31-a9cf-717495945fc2"
TEAMS = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"
AMR = "http://schemas.microsoft.com/claims/authnmethodsreferences"
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
CLI_LIB = "Family: MSAL Library: MSAL.Python 1.31.0 Platform: Python"
PS_LIB = "Family: MSAL Library: MSAL.NetCore 4.83.1 Platform: .NET"
GUEST = "vendor_fabrikam.com#ext#@contoso.onmicrosoft.com"
DEFINITIONS = "/providers/Microsoft.Authorization/policyDefinitions/"
ROOT_ASSIGNMENTS = (
    "/providers/Microsoft.Management/managementGroups/root/providers/Microsoft.Authorization/policyAssignments/"
)
SP_ID = "6f1c2d3e-0000-4000-8000-00000000a001"
MI_ID = "6f1c2d3e-0000-4000-8000-00000000b002"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def processing(library: str | None) -> str:
    items: list[dict[str, str]] = [{"key": "Is CAE Token", "value": "True"}]
    if library is not None:
        items.append({"key": "Azure AD App Authentication Library", "value": library})
    return json.dumps(items)


def signin(
    when: dt.datetime,
    upn: str,
    *,
    app: str = CLI,
    app_name: str = "Microsoft Azure CLI",
    resource: str = ARM,
    result: str = "0",
    requirement: str = "singleFactorAuthentication",
    details: str = "[]",
    library: str | None = CLI_LIB,
    protocol: str = "none",
    device: str = "",
    ip: str = "20.40.1.10",
    asn: str = "8075",
    agent: str = "python-requests/2.32.3",
    client: str = "Mobile Apps and Desktop clients",
    user_type: str = "Member",
    home: str = "t-contoso",
    token: str = "refreshToken",
) -> dict[str, Any]:
    return {
        "TimeGenerated": when,
        "UserPrincipalName": upn,
        "UserId": "oid-" + upn.lower().split("@")[0],
        "UserDisplayName": upn.split("@")[0],
        "UserType": user_type,
        "AppId": app,
        "AppDisplayName": app_name,
        "ResourceIdentity": resource,
        "ResultType": result,
        "AuthenticationRequirement": requirement,
        "AuthenticationDetails": details,
        "AuthenticationProcessingDetails": processing(library),
        "AuthenticationProtocol": protocol,
        "ClientAppUsed": client,
        "IncomingTokenType": token,
        "DeviceDetail": {"deviceId": device, "operatingSystem": "Linux"},
        "IPAddress": ip,
        "AutonomousSystemNumber": asn,
        "UserAgent": agent,
        "HomeTenantId": home,
        "ResourceTenantId": "t-contoso",
        "CrossTenantAccessType": "none" if home == "t-contoso" else "b2bCollaboration",
        "SessionId": "s-" + upn.lower(),
        "IsThroughGlobalSecureAccess": False,
    }


def activity(
    when: dt.datetime,
    caller: str,
    operation: str,
    correlation: str,
    *,
    amr: str = "pwd",
    app: str = CLI,
    principal: str | None = "User",
    status: str = "Succeeded",
    ip: str = "20.40.1.10",
    subscription: str = "sub-1",
    category: str = "Administrative",
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    claims = {AMR: amr, "appid": app} if principal != "ServicePrincipal" and amr else {"appid": app}
    if "@" in caller:
        claims[UPN_CLAIM] = caller
    return {
        "TimeGenerated": when,
        "Caller": caller,
        "CategoryValue": category,
        "OperationNameValue": operation,
        "ActivityStatusValue": status,
        "CorrelationId": correlation,
        "Claims_d": claims,
        "Authorization_d": {"evidence": {"principalType": principal}} if principal else {},
        "Properties_d": properties or {},
        "CallerIpAddress": ip,
        "SubscriptionId": subscription,
        "_ResourceId": f"/subscriptions/{subscription}/resourcegroups/rg/providers/x/{correlation}",
    }


def policy_event(
    when: dt.datetime, caller: str, action: str, correlation: str, policies: list[dict[str, str]]
) -> dict[str, Any]:
    return activity(
        when,
        caller,
        f"Microsoft.Authorization/policies/{action}/action",
        correlation,
        category="Policy",
        properties={"policies": json.dumps(policies), "isComplianceCheck": "False"},
    )


VM_WRITE = "Microsoft.Compute/virtualMachines/write"
DEPLOY = "Microsoft.Resources/deployments/write"


def interactive_rows() -> list[dict[str, Any]]:
    return [
        # Alice: ROPC token for ARM from a script, no device, Saturday night.
        signin(at(21, 2), "Alice@Contoso.com", protocol="ropc", token="none"),
        # Alice in a browser on Teams with MFA: a person's footprint.
        signin(
            at(20, 9),
            "alice@contoso.com",
            app=TEAMS,
            app_name="Microsoft Teams",
            resource=GRAPH,
            requirement="multiFactorAuthentication",
            library=None,
            client="Browser",
            agent="Mozilla/5.0",
            device="dev-a",
        ),
        # Bob: interactive PowerShell login with MFA on a managed device.
        signin(
            at(20, 10),
            "bob@contoso.com",
            app=PWSH,
            app_name="Microsoft Azure PowerShell",
            requirement="multiFactorAuthentication",
            library=PS_LIB,
            agent="azsdk-net-Identity/1.21.0",
            device="dev-b",
            ip="198.51.100.7",
            asn="3320",
            token="none",
        ),
        # Guest: MFA required and refused (50076), then a device-code token.
        signin(at(22, 15), GUEST, result="50076", user_type="Guest", home="t-fabrikam", library=None),
        signin(at(22, 15, 5), GUEST, protocol="deviceCode", user_type="Guest", home="t-fabrikam", library=None),
        # Outside the 30-day window: must not count.
        signin(at(1, 1) - dt.timedelta(days=40), "alice@contoso.com", protocol="ropc"),
    ]


def noninteractive_rows() -> list[dict[str, Any]]:
    rows = [
        # The same Alice, cased differently, refreshing for ARM twice.
        signin(at(23, 2), "ALICE@contoso.com", protocol="ropc"),
        signin(at(24, 2), "alice@CONTOSO.com", protocol="ropc"),
        # Bob's refresh carries MFA forward from the session (the claim, not the requirement).
        signin(
            at(23, 11),
            "bob@contoso.com",
            app=PWSH,
            app_name="Microsoft Azure PowerShell",
            details=json.dumps([{"authenticationStepResultDetail": "MFA requirement satisfied by claim in the token"}]),
            library=PS_LIB,
            agent="azsdk-net-Identity/1.21.0",
            device="dev-b",
            ip="198.51.100.7",
            asn="3320",
        ),
        # Bob calls Graph too (not ARM).
        signin(
            at(23, 12),
            "bob@contoso.com",
            resource=GRAPH,
            app=PWSH,
            app_name="Microsoft Azure PowerShell",
            library=PS_LIB,
        ),
    ]
    for row in rows:  # JSON text in this table, as in Log Analytics
        row["DeviceDetail"] = json.dumps(row["DeviceDetail"])
    return rows


def activity_rows() -> list[dict[str, Any]]:
    mfa_write = {"policyDefinitionId": DEFINITIONS + "4e6c27d5-a6ee-49cf-b2b4-d8fe90fa2b8b"}
    return [
        # Alice: one VM write logged twice (Started, Succeeded) under one CorrelationId, no MFA.
        activity(at(21, 2, 1), "Alice@Contoso.com", VM_WRITE, "c1", status="Started"),
        activity(at(21, 2, 2), "alice@contoso.com", VM_WRITE, "c1"),
        # Alice: a delete and a deployment (no MFA), and an action (listKeys, no MFA).
        activity(
            at(22, 2, 0), "alice@contoso.com", "Microsoft.Storage/storageAccounts/delete", "c2", subscription="sub-2"
        ),
        activity(at(23, 2, 0), "alice@contoso.com", DEPLOY, "c3"),
        activity(at(23, 2, 5), "alice@contoso.com", "Microsoft.Storage/storageAccounts/listKeys/action", "c4"),
        # Bob: two writes with MFA (two different amr shapes), one failed.
        activity(at(20, 10, 30), "bob@contoso.com", VM_WRITE, "c5", amr="pwd,mfa", app=PWSH, ip="198.51.100.7"),
        activity(
            at(23, 11, 30),
            "bob@contoso.com",
            VM_WRITE,
            "c6",
            amr="rsa,mfa",
            app=PWSH,
            status="Failed",
            ip="198.51.100.7",
        ),
        # A service principal and a managed identity (Caller is an id, not a UPN).
        activity(at(22, 3), SP_ID, VM_WRITE, "c7", principal="ServicePrincipal", amr="", app="app-sp"),
        activity(at(22, 4), MI_ID, VM_WRITE, "c8", principal=None, amr="", app="app-mi"),
        # Alice, outside the window.
        activity(at(1, 1) - dt.timedelta(days=40), "alice@contoso.com", VM_WRITE, "c9"),
        # Policy: Microsoft's MFA audit for Alice's VM write, an unrelated policy, and a
        # system-assignment denyAction for Bob.
        policy_event(
            at(21, 2, 2), "alice@contoso.com", "audit", "c1", [dict(mfa_write, policyDefinitionEffect="Audit")]
        ),
        policy_event(
            at(21, 2, 3),
            "alice@contoso.com",
            "audit",
            "c1",
            [
                {
                    "policyDefinitionId": DEFINITIONS + "allowed-locations",
                    "policyDefinitionEffect": "Audit",
                }
            ],
        ),
        policy_event(
            at(25, 9),
            "Bob@contoso.com",
            "denyAction",
            "c10",
            [
                {
                    "policyDefinitionId": DEFINITIONS + "f69cd8b8-9a6e-46b4-be84-244e8b127944",
                    "policyAssignmentId": ROOT_ASSIGNMENTS + "sys.mfa-delete",
                    "policyDefinitionEffect": "DenyAction",
                }
            ],
        ),
    ]


def sp_rows() -> list[dict[str, Any]]:
    return [
        {
            "TimeGenerated": at(22, 3),
            "AppId": "app-sp",
            "ServicePrincipalId": SP_ID,
            "ServicePrincipalName": "deploy-pipeline",
            "ResourceIdentity": ARM,
            "ResultType": "0",
            "IPAddress": "20.40.9.9",
            "FederatedCredentialId": "fic-1",
        },
        {
            "TimeGenerated": at(22, 5),
            "AppId": "app-sp",
            "ServicePrincipalId": SP_ID,
            "ServicePrincipalName": "deploy-pipeline",
            "ResourceIdentity": GRAPH,
            "ResultType": "0",
            "IPAddress": "20.40.9.9",
            "FederatedCredentialId": "",
        },
    ]


def write_workspace(root: Path, *, activity: bool = True) -> Path:
    """Write the hand-made tables into ``root`` (``activity=False`` leaves AzureActivity out)."""
    pd.DataFrame(interactive_rows()).to_parquet(root / "SigninLogs.parquet")
    pd.DataFrame(noninteractive_rows()).to_parquet(root / "AADNonInteractiveUserSignInLogs.parquet")
    if activity:
        # JSON lines for the activity log: the dynamic columns arrive as nested objects.
        with (root / "AzureActivity.jsonl").open("w", encoding="utf-8") as fh:
            for row in activity_rows():
                fh.write(json.dumps(row, default=str) + "\n")
    pd.DataFrame(sp_rows()).to_parquet(root / "AADServicePrincipalSignInLogs.parquet")
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("hand-made-workspace"))


@pytest.fixture(scope="module")
def backend(workspace: Path) -> LocalBackend:
    return LocalBackend(workspace, now=NOW)


def run(backend: LocalBackend, name: str) -> pd.DataFrame:
    return run_query(backend, name, now=NOW, lookback=LOOKBACK).frame


def rows_for(frame: pd.DataFrame, **match: Any) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in match.items():
        mask &= frame[column] == value
    return frame[mask]


#: Values for required parameters other than the window, by KQL type (an identity for strings).
EXTRA_PARAMETER_VALUES: dict[str, Any] = {
    "string": "alice@contoso.com",
    "long": 10,
    "int": 10,
    "real": 1.0,
    "bool": True,
}


@pytest.mark.parametrize("name", sorted(load_catalog()))
def test_every_catalog_query_runs_locally_and_returns_rows(backend: LocalBackend, name: str) -> None:
    query = load_catalog()[name]
    extra = {
        p.name: EXTRA_PARAMETER_VALUES[p.kql_type]
        for p in query.parameters
        if p.required and p.name not in ("start", "end") and p.kql_type in EXTRA_PARAMETER_VALUES
    }
    result = run_query(backend, name, now=NOW, lookback=LOOKBACK, **extra)
    assert result.rows > 0, f"{name} returned nothing on the hand-made workspace"


def test_arm_writes_count_each_operation_once_and_fold_case(backend: LocalBackend) -> None:
    frame = run(backend, "arm_writes_by_identity")
    alice = rows_for(frame, Identity="alice@contoso.com")
    write = rows_for(alice, Kind="write", TokenHasMfa=False)
    # c1 (two rows, two casings) and c3 (deployment): two operations.
    assert write["Operations"].sum() == 2
    assert write["Deployments"].sum() == 1
    assert rows_for(alice, Kind="delete", TokenHasMfa=False)["Operations"].sum() == 1
    assert rows_for(alice, Kind="action", TokenHasMfa=False)["Operations"].sum() == 1
    assert set(write.iloc[0]["AmrValues"]) == {"pwd"}
    assert write.iloc[0]["AppId"] == CLI
    assert set(alice["Identity"]) == {"alice@contoso.com"}
    # The out-of-window write c9 is not counted anywhere.
    assert alice["Operations"].sum() == 4


def test_arm_writes_read_mfa_from_the_amr_claim(backend: LocalBackend) -> None:
    frame = run(backend, "arm_writes_by_identity")
    bob = rows_for(frame, Identity="bob@contoso.com")
    assert len(bob) == 1
    row = bob.iloc[0]
    assert bool(row["TokenHasMfa"]) is True
    assert row["Operations"] == 2  # c6 failed (no error code: not an RBAC refusal) and still counts
    assert {a for a in row["AmrValues"] if a} == set()  # the amr of writes *without* MFA only
    assert list(row["CallerIps"]) == ["198.51.100.7"]


def test_write_resources_route_every_user_write_by_resource(backend: LocalBackend) -> None:
    frame = run(backend, "arm_write_resources")
    assert set(frame["Identity"]) == {"alice@contoso.com", "bob@contoso.com"}  # no workload, no action
    alice = frame[frame["Identity"] == "alice@contoso.com"].set_index("Resource")
    c1 = "/subscriptions/sub-1/resourcegroups/rg/providers/x/c1"
    assert alice.loc[c1, "Operations"] == 1 and alice.loc[c1, "OperationsWithoutMfa"] == 1  # two events, one write
    assert alice.loc["/subscriptions/sub-2/resourcegroups/rg/providers/x/c2", "SubscriptionId"] == "sub-2"
    assert len(alice) == 3  # c1, c2 (delete), c3 (deployment); c4 is an action, c9 outside the window
    bob = frame[frame["Identity"] == "bob@contoso.com"]
    assert bob["Operations"].sum() == 2 and bob["OperationsWithoutMfa"].sum() == 0


def test_write_resources_use_the_phase2_rule(tmp_path: Path) -> None:
    refused = {"statusMessage": json.dumps({"error": {"code": "AuthorizationFailed"}})}
    rows = [
        activity(at(20, 9), "hello@contoso.com", VM_WRITE, "h1", amr="rsa,ngcmfa"),
        activity(at(20, 9), "stepup@contoso.com", VM_WRITE, "s1", amr="pwd", principal="Group"),
        activity(at(20, 9), "nope@contoso.com", VM_WRITE, "n1", status="Failed", properties=refused),
    ]
    rows[1]["Claims_d"]["acrs"] = "p1"
    with (tmp_path / "AzureActivity.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=str) + "\n")
    frame = run(LocalBackend(tmp_path, now=NOW), "arm_write_resources").set_index("Identity")
    assert frame.loc["hello@contoso.com", "OperationsWithoutMfa"] == 1  # ngcmfa is not mfa
    assert frame.loc["stepup@contoso.com", "OperationsWithoutMfa"] == 0  # acrs p1; a Group assignment
    assert frame.loc["nope@contoso.com", "OperationsWithoutMfa"] == 0  # refused by RBAC before the MFA check
    assert frame.loc["nope@contoso.com", "RefusedByRbac"] == 1


def test_arm_writes_leave_out_workload_identities(backend: LocalBackend) -> None:
    frame = run(backend, "arm_writes_by_identity")
    assert not frame["Identity"].isin([SP_ID, MI_ID]).any()
    assert set(frame["Identity"]) == {"alice@contoso.com", "bob@contoso.com"}


def test_workload_writes_hold_only_service_principals_and_managed_identities(backend: LocalBackend) -> None:
    frame = run(backend, "arm_operations")
    workloads = frame[(frame["Facet"] == "operations") & (frame["Principal"] == "workload")]
    # Neither token has an idtyp, upn or scp claim, and neither Caller is UPN-shaped.
    assert set(workloads["Identity"]) == {SP_ID.lower(), MI_ID.lower()}
    assert workloads["Operations"].sum() == 2
    users = frame[(frame["Facet"] == "operations") & (frame["Principal"] == "user")]
    assert set(users["Identity"]) == {"alice@contoso.com", "bob@contoso.com"}


def test_policy_events_match_builtin_definitions_and_system_assignments(backend: LocalBackend) -> None:
    frame = run(backend, "arm_policy_mfa_events")
    alice = rows_for(frame, Identity="alice@contoso.com")
    assert len(alice) == 1  # the unrelated allowed-locations audit is not counted
    assert alice.iloc[0]["Action"] == "audit"
    assert alice.iloc[0]["Source"] == "builtin-definition"
    assert alice.iloc[0]["Events"] == 1
    assert list(alice.iloc[0]["Effects"]) == ["Audit"]
    bob = rows_for(frame, Identity="bob@contoso.com")
    assert bob.iloc[0]["Action"] == "denyaction"
    assert bob.iloc[0]["Source"] == "system-assignment"


def test_token_signins_union_both_tables_and_extract_the_library(backend: LocalBackend) -> None:
    frame = run(backend, "arm_token_signins")
    alice = rows_for(frame, Identity="alice@contoso.com")
    assert set(alice["Library"]) == {CLI_LIB}
    assert alice["SignIns"].sum() == 3  # one interactive + two non-interactive, not the old one
    assert alice["Interactive"].sum() == 1 and alice["NonInteractive"].sum() == 2
    assert alice["Ropc"].sum() == 3
    assert alice["SingleFactor"].sum() == 3 and alice["MfaSatisfied"].sum() == 0
    assert alice["WithDevice"].sum() == 0
    assert alice.iloc[0]["UserAgent"] == "python-requests/2.32.3"
    assert set(alice.iloc[0]["Asns"]) == {"8075"}


def test_token_signins_count_mfa_by_requirement_or_by_claim(backend: LocalBackend) -> None:
    frame = run(backend, "arm_token_signins")
    bob = rows_for(frame, Identity="bob@contoso.com")
    assert bob["SignIns"].sum() == 2  # the Graph token is not an ARM token
    assert bob["MfaSatisfied"].sum() == 2 and bob["SingleFactor"].sum() == 0
    assert bob["WithDevice"].sum() == 2
    assert set(bob["Library"]) == {PS_LIB}


def test_token_signins_flag_guests_device_code_and_mfa_failures(backend: LocalBackend) -> None:
    frame = run(backend, "arm_token_signins")
    guest = rows_for(frame, Identity=GUEST)
    assert guest["DeviceCode"].sum() == 1
    assert guest["MfaRequiredFailures"].sum() == 1
    assert guest["CrossTenantSignIns"].sum() == 2
    assert set(guest["UserType"]) == {"Guest"}
    assert set(guest["Library"]) == {""}  # no library key: empty, not dropped


def test_user_context_sees_browser_office_and_mfa_anywhere(backend: LocalBackend) -> None:
    frame = run(backend, "user_signin_context").set_index("Identity")
    assert frame.loc["alice@contoso.com", "BrowserSignIns"] == 1
    assert frame.loc["alice@contoso.com", "OfficeSignIns"] == 1
    assert frame.loc["alice@contoso.com", "MfaSignIns"] == 1
    assert frame.loc["alice@contoso.com", "ArmSignIns"] == 3
    assert frame.loc["bob@contoso.com", "BrowserSignIns"] == 0
    assert frame.loc["bob@contoso.com", "OtherSignIns"] == 1
    assert frame.loc[GUEST, "CrossTenantSignIns"] == 2


def test_write_minutes_bin_calls_per_minute(backend: LocalBackend) -> None:
    frame = run(backend, "arm_write_minutes").set_index("Identity")
    alice = frame.loc["alice@contoso.com"]
    # Each operation at its first event: c1 at 21/02:01 (its 02:02 event is the same operation),
    # c2 at 22/02:00, c3 at 23/02:00 (actions excluded).
    assert alice["WriteMinutes"] == 3
    minutes = sorted(pd.to_datetime(pd.Series(alice["Minutes"]), utc=True))
    assert minutes[0] == pd.Timestamp(at(21, 2, 1)) and minutes[-1] == pd.Timestamp(at(23, 2, 0))
    assert alice["DeploymentMinutes"] == 1
    assert SP_ID not in frame.index


def test_activity_hours_split_weekend_and_hour(backend: LocalBackend) -> None:
    frame = run(backend, "arm_activity_hours")
    alice = rows_for(frame, Identity="alice@contoso.com")
    # 21 Nov 2026 is a Saturday (ROPC interactive at 02:00); 23 and 24 Nov are weekdays.
    assert rows_for(alice, Hour=2, Weekend=True)["Events"].sum() == 1
    assert rows_for(alice, Hour=2, Weekend=False)["Events"].sum() == 2
    assert set(alice["Hour"]) == {2}


def test_workload_signins_with_missing_managed_identity_table(backend: LocalBackend) -> None:
    result = run_query(backend, "workload_signins", now=NOW, lookback=LOOKBACK)
    assert result.missing_tables == ["AADManagedIdentitySignInLogs"]
    row = result.frame.iloc[0]
    assert (row["Kind"], row["SignIns"], row["ArmSignIns"], row["Federated"]) == ("service_principal", 2, 1, 1)


@pytest.mark.parametrize("name", sorted(load_catalog()))
def test_every_query_reads_the_same_half_open_window(name: str) -> None:
    # [start, end): a row stamped exactly at the end belongs to the next run, never to both.
    text = load_catalog()[name].text
    assert "between (start .. end)" not in text
    if "start" in {p.name for p in load_catalog()[name].parameters}:
        assert "TimeGenerated >= start and TimeGenerated < end" in text
