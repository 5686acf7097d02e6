"""The demo tenant: deterministic, schema-exact, realistic, and its ground truth agrees with its rows.

Most tests read the session ``demo_workspace`` (300 users x 30 days, seed 7) once; the ground
truth is recounted here from the Parquet files with pandas, independently of the generator's
integer bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kitlib.backends.local import LocalBackend
from kitlib.demo import (
    ARM_RESOURCE_ID,
    CLI_APP_ID,
    POLICY_DELETE_DEFINITION,
    POLICY_WRITE_DEFINITION,
    POWERSHELL_APP_ID,
    TABLE_NAMES,
    auth_library,
    fallback_auth_library,
    generate,
)
from kitlib.domain import phase2, versions
from kitlib.domain.apps import AZURE_MOBILE_APP_ID, VS_CODE_APP_ID
from kitlib.domain.schema import TABLES
from kitlib.errors import UsageError
from kitlib.query.run import run_query

AMR = "http://schemas.microsoft.com/claims/authnmethodsreferences"
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
SCOPE = "http://schemas.microsoft.com/identity/claims/scope"
MFA_MARKERS = ("MFA requirement satisfied by claim in the token", "MFA successfully completed")
EXPECTED_ARROW = {
    "string": pa.string(),
    "guid": pa.string(),
    "dynamic": pa.string(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "long": pa.int64(),
}


@pytest.fixture(scope="module")
def tables(demo_workspace: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(demo_workspace / f"{t}.parquet") for t in TABLE_NAMES}


@pytest.fixture(scope="module")
def truth(demo_workspace: Path) -> dict[str, Any]:
    return json.loads((demo_workspace / "ground_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def identities(truth: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(truth["identities"]).set_index("identity")


@pytest.fixture(scope="module")
def activity(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """AzureActivity with the claims and authorization parsed and the caller folded to lower case."""
    aa = tables["AzureActivity"].copy()
    claims = aa["Claims_d"].map(json.loads)
    aa["amr"] = claims.map(lambda c: c.get(AMR))
    aa["acrs"] = claims.map(lambda c: c.get("acrs"))
    aa["appid"] = claims.map(lambda c: c.get("appid"))
    aa["uti"] = claims.map(lambda c: c.get("uti"))
    aa["principal_type"] = aa["Authorization_d"].map(lambda a: json.loads(a)["evidence"]["principalType"])
    aa["is_user"] = [
        phase2.is_user_token(c.get("idtyp"), c.get(UPN), c.get(SCOPE), caller)
        for c, caller in zip(claims, aa["Caller"], strict=True)
    ]
    aa["caller"] = aa["Caller"].str.lower()
    op = aa["OperationNameValue"].str.lower()
    aa["is_write"] = (aa["CategoryValue"] == "Administrative") & (
        op.str.endswith("/write") | op.str.endswith("/delete")
    )
    aa["is_action"] = (aa["CategoryValue"] == "Administrative") & op.str.endswith("/action")
    aa["has_mfa"] = [phase2.token_has_mfa(a, c) for a, c in zip(aa["amr"], aa["acrs"], strict=True)]
    aa["error"] = aa["Properties_d"].map(
        lambda p: json.loads(json.loads(p).get("statusMessage", "{}")).get("error", {}).get("code", "")
    )
    refused = aa.loc[aa["error"] == phase2.RBAC_ERROR, "CorrelationId"]
    aa["refused_rbac"] = aa["CorrelationId"].isin(set(refused))
    return aa


@pytest.fixture(scope="module")
def signins(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Both user sign-in tables, with the identity folded to lower case."""
    both = pd.concat([tables["SigninLogs"], tables["AADNonInteractiveUserSignInLogs"]], ignore_index=True)
    both["identity"] = both["UserPrincipalName"].str.lower()
    both["library"] = both["AuthenticationProcessingDetails"].map(
        lambda text: next(
            (kv["value"] for kv in json.loads(text) if kv["key"] == "Azure AD App Authentication Library"), None
        )
    )
    return both


# --- determinism and arguments ---------------------------------------------------------------


def test_same_seed_and_arguments_write_identical_bytes(tmp_path: Path, now: dt.datetime) -> None:
    first = generate(tmp_path / "a", users=60, days=5, seed=3, now=now)
    second = generate(tmp_path / "b", users=60, days=5, seed=3, now=now)
    other = generate(tmp_path / "c", users=60, days=5, seed=4, now=now)
    names = [f"{t}.parquet" for t in TABLE_NAMES] + ["ground_truth.json"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first.rows == second.rows
    assert (tmp_path / "a" / "AzureActivity.parquet").read_bytes() != (
        tmp_path / "c" / "AzureActivity.parquet"
    ).read_bytes()
    assert other.paths["ground_truth"] == tmp_path / "c" / "ground_truth.json"


def test_summary_reports_what_was_written(tmp_path: Path, now: dt.datetime) -> None:
    summary = generate(tmp_path, users=60, days=3, seed=1, now=now)
    for table in TABLE_NAMES:
        assert pq.ParquetFile(summary.paths[table]).metadata.num_rows == summary.rows[table]
    truth = json.loads(summary.paths["ground_truth"].read_text(encoding="utf-8"))
    assert summary.identities == len(truth["identities"]) > 0
    assert summary.workload_identities == len(truth["workload_identities"])
    assert truth["generator"] == {"seed": 1, "users": 60, "days": 3, "now": "2026-11-27T00:00:00Z",
                                  "kit_version": truth["generator"]["kit_version"]}  # fmt: skip
    assert summary.seconds > 0


@pytest.mark.parametrize(
    "kwargs",
    [{"users": 10}, {"users": 0}, {"days": 0}, {"days": 400}, {"seed": -1}, {"users": 100.0}],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, now: dt.datetime, kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        generate(tmp_path, **{"users": 60, "days": 2, "seed": 1, "now": now, **kwargs})


def test_output_path_that_is_a_file_is_a_usage_error(tmp_path: Path, now: dt.datetime) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError):
        generate(target, users=60, days=2, now=now)


def test_naive_now_is_taken_as_utc(tmp_path: Path) -> None:
    generate(tmp_path, users=60, days=2, seed=1, now=dt.datetime(2026, 11, 27))
    frame = pd.read_parquet(tmp_path / "SigninLogs.parquet", columns=["TimeGenerated"])
    assert frame["TimeGenerated"].max() < pd.Timestamp("2026-11-27T00:00:00Z")
    assert frame["TimeGenerated"].min() >= pd.Timestamp("2026-11-25T00:00:00Z")


# --- schema --------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_table_has_exactly_the_registry_columns_and_types(demo_workspace: Path, table: str) -> None:
    schema = pq.read_schema(demo_workspace / f"{table}.parquet")
    assert schema.names == TABLES[table].column_names
    for name, kind in TABLES[table].columns:
        assert schema.field(name).type == EXPECTED_ARROW[kind], (table, name)


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_json_columns_parse_on_every_row(tables: dict[str, pd.DataFrame], table: str) -> None:
    schema = TABLES[table]
    columns = [c for c, kind in schema.columns if kind == "dynamic"] + schema.json_text_columns()
    frame = tables[table]
    assert len(frame) > 0
    for column in columns:
        parsed = frame[column].map(json.loads)
        assert parsed.map(lambda v: isinstance(v, (dict, list))).all(), (table, column)


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_all_rows_fall_inside_the_window(tables: dict[str, pd.DataFrame], now: dt.datetime, table: str) -> None:
    times = tables[table]["TimeGenerated"]
    assert times.min() >= pd.Timestamp(now) - pd.Timedelta(days=30)
    assert times.max() < pd.Timestamp(now)


def test_result_type_is_text_with_the_noise_codes(signins: pd.DataFrame) -> None:
    codes = set(signins["ResultType"])
    assert {"0", "50126", "50076", "50079", "53003"} <= codes
    assert all(isinstance(c, str) for c in codes)


def test_string_twins_carry_the_same_json_as_the_dynamic_columns(tables: dict[str, pd.DataFrame]) -> None:
    aa = tables["AzureActivity"]
    for text, dyn in (("Claims", "Claims_d"), ("Authorization", "Authorization_d"), ("Properties", "Properties_d")):
        assert (aa[text] == aa[dyn]).all()


# --- ground truth against the rows ---------------------------------------------------------------


def test_ground_truth_lists_exactly_the_users_that_touched_arm(
    identities: pd.DataFrame, signins: pd.DataFrame, activity: pd.DataFrame
) -> None:
    arm_signins = set(signins.loc[signins["ResourceIdentity"] == ARM_RESOURCE_ID, "identity"])
    user_callers = set(activity.loc[activity["is_user"], "caller"])
    assert set(identities.index) == arm_signins | user_callers
    # The role assignment's type is not the caller's: some users are granted through a group.
    assert (activity.loc[activity["is_user"], "principal_type"] == "Group").any()


def test_the_rows_say_what_the_personas_intended_about_writes(identities: pd.DataFrame, activity: pd.DataFrame) -> None:
    """The truth comes from intents; recounted from the rows by Microsoft's rule, it must agree."""
    user_writes = activity[activity["is_write"] & activity["is_user"]]
    reached = user_writes[~user_writes["refused_rbac"]]
    writes = reached.groupby("caller")["CorrelationId"].nunique()
    no_mfa = reached[~reached["has_mfa"]].groupby("caller")["CorrelationId"].nunique()
    refused = user_writes[user_writes["refused_rbac"]].groupby("caller")["CorrelationId"].nunique()
    assert (identities["arm_writes"] == writes.reindex(identities.index, fill_value=0)).all()
    assert (identities["arm_writes_without_mfa"] == no_mfa.reindex(identities.index, fill_value=0)).all()
    assert (identities["writes_refused_rbac"] == refused.reindex(identities.index, fill_value=0)).all()
    assert set(identities.index[identities["expected_verdict"] == "will_break"]) == set(no_mfa.index)
    assert 0 < len(no_mfa) < len(identities) and len(refused) > 0
    # The traps are there: tokens whose amr names ngcmfa or wiaormfa but not mfa, and a p1 step-up.
    amr = set(user_writes["amr"].dropna())
    assert {"rsa,ngcmfa", "wiaormfa"} <= amr
    assert (user_writes["acrs"] == "p1").any() and (user_writes["acrs"] == "c1").any()


def test_the_rows_say_what_the_personas_intended_about_tokens(
    identities: pd.DataFrame, signins: pd.DataFrame, activity: pd.DataFrame
) -> None:
    """At risk: a successful single-factor ARM token from any client, unless the same app's writes show MFA."""
    marked = signins["AuthenticationDetails"].str.contains("|".join(MFA_MARKERS)) | signins["Status"].str.contains(
        "|".join(MFA_MARKERS)
    )
    labelled_mfa = (signins["AuthenticationRequirement"] == "multiFactorAuthentication") | marked
    arm = signins[(signins["ResourceIdentity"] == ARM_RESOURCE_ID) & (signins["ResultType"] == "0")]
    app_logged_mfa = labelled_mfa[arm.index].groupby([arm["identity"], arm["AppId"]]).transform("any")
    shown = activity[activity["is_user"] & activity["has_mfa"] & ~activity["refused_rbac"]]
    shown_pairs = set(zip(shown["caller"], shown["appid"], strict=True))
    by_claims = pd.Series([(i, a) in shown_pairs for i, a in zip(arm["identity"], arm["AppId"], strict=True)],
                          index=arm.index)  # fmt: skip
    single = arm[~labelled_mfa[arm.index] & ~(by_claims & ~app_logged_mfa)]
    breaking = set(identities.index[identities["expected_verdict"] == "will_break"])
    assert set(identities.index[identities["expected_verdict"] == "at_risk"]) == set(single["identity"]) - breaking
    # Any client: the Azure mobile app's and Visual Studio Code's tokens count too.
    assert {AZURE_MOBILE_APP_ID, VS_CODE_APP_ID} <= set(single["AppId"])
    # POST actions without MFA alone do not put anyone at risk.
    posters = set(activity.loc[activity["is_action"] & ~activity["has_mfa"] & activity["is_user"], "caller"])
    quiet = posters - set(single["identity"]) - breaking
    assert quiet and (identities.loc[sorted(quiet), "expected_verdict"] == "not_affected").all()


def test_failed_arm_sign_ins_of_unaffected_users_require_mfa(identities: pd.DataFrame, signins: pd.DataFrame) -> None:
    """So counting failed sign-ins or not cannot move anyone out of not_affected."""
    unaffected = set(identities.index[identities["expected_verdict"] == "not_affected"])
    failed = signins[(signins["ResourceIdentity"] == ARM_RESOURCE_ID) & (signins["ResultType"] != "0")]
    failed = failed[failed["identity"].isin(unaffected)]
    assert (failed["AuthenticationRequirement"] == "multiFactorAuthentication").all()


def test_verdicts_follow_personas(identities: pd.DataFrame) -> None:
    by = identities.groupby("persona")["expected_verdict"]
    for persona in ("human_mfa", "portal_only", "readonly_cli_mfa", "stepped_up", "cli_and_cloudshell",
                    "upgraded_cli", "one_event", "post_only", "mfa_hidden"):  # fmt: skip
        assert set(by.get_group(persona)) == {"not_affected"}, persona
    for persona in ("readonly_cli_single_factor", "rbac_refused", "mobile_app", "outbound_member"):
        assert set(by.get_group(persona)) == {"at_risk"}, persona
    for persona in ("automation_cli_agent", "automation_deployment", "hello_writer", "wia_writer", "group_granted"):
        assert set(by.get_group(persona)) == {"will_break"}, persona
    assert "will_break" in set(by.get_group("human_cli_partial_mfa"))
    assert {"will_break", "not_affected"} <= set(by.get_group("guest"))


def test_directions_and_versions_in_use_follow_personas(identities: pd.DataFrame) -> None:
    assert set(identities.loc[identities["guest"], "guest_direction"]) == {"inbound"}
    assert set(identities.loc[identities["persona"] == "outbound_member", "guest_direction"]) == {"outbound"}
    both = identities[identities["persona"] == "cli_and_cloudshell"]
    assert (both["versions_at_end"].map(lambda v: len(v.get("azure-cli", []))) == 2).all()
    assert (both["expected_version_ok"] == "no").all()
    upgraded = identities[identities["persona"] == "upgraded_cli"]
    assert (upgraded["versions_at_end"].map(lambda v: len(v.get("azure-cli", []))) == 1).all()
    assert (upgraded["expected_version_ok"] == "yes").all()
    # Releases the logs cannot place on one side of the threshold are expected as unknown.
    unreadable = identities[identities["tool_versions"].map(lambda v: v.get("azure-cli") in ("2.75.0", "2.76.0"))]
    assert len(unreadable) and (unreadable["expected_version_ok"] == "unknown").all()


# --- personas ------------------------------------------------------------------------------------


def test_ropc_accounts_sign_in_with_ropc_and_are_automation(identities: pd.DataFrame, signins: pd.DataFrame) -> None:
    ropc = identities[identities["ropc"]]
    assert len(ropc) >= 3 and ropc["automation"].all()
    for identity in ropc.index:
        rows = signins[signins["identity"] == identity]
        assert (rows["AuthenticationProtocol"] == "ropc").any()
        assert set(rows["AuthenticationRequirement"]) <= {"singleFactorAuthentication", "multiFactorAuthentication"}
        assert not rows["AuthenticationDetails"].str.contains(MFA_MARKERS[1]).any()
    tools = set().union(*ropc["tools"])
    assert {"azure-powershell", "ansible", "azure-cli"} <= tools
    assert not identities.loc[~identities["ropc"], "persona"].eq("automation_ropc").any()


def test_guests_look_like_b2b_collaboration(identities: pd.DataFrame, signins: pd.DataFrame) -> None:
    guests = identities[identities["guest"]]
    assert len(guests) >= 3
    rows = signins[signins["identity"].isin(guests.index)]
    assert rows["identity"].str.contains("#ext#@contoso.example", regex=False).all()
    assert (rows["UserType"] == "Guest").all()
    assert (rows["CrossTenantAccessType"] == "b2bCollaboration").all()
    assert (rows["HomeTenantId"] != rows["ResourceTenantId"]).all()


def test_breakglass_accounts_are_flagged(identities: pd.DataFrame) -> None:
    glass = identities[identities["breakglass"]]
    assert sorted(glass.index) == ["breakglass01@contoso.example", "breakglass02@contoso.example"]
    assert (glass["arm_writes"] <= 2).all()
    assert not glass["automation"].any()


def test_cloud_shell_users_are_mfa_humans_on_microsoft_ips(identities: pd.DataFrame, signins: pd.DataFrame) -> None:
    shell = identities[identities["persona"] == "cloud_shell"]
    assert len(shell) >= 2
    rows = signins[signins["identity"].isin(shell.index) & (signins["AppId"] == CLI_APP_ID)]
    assert (rows["AutonomousSystemNumber"] == "8075").all()
    assert (shell["expected_verdict"] == "not_affected").all()
    assert not shell["automation"].any()


def test_automation_has_no_device_and_never_mfa(
    identities: pd.DataFrame, signins: pd.DataFrame, activity: pd.DataFrame
) -> None:
    bots = identities[identities["automation"]]
    assert set(bots["persona"]) == {"automation_ropc", "automation_cli_agent", "automation_deployment"}
    rows = signins[signins["identity"].isin(bots.index)]
    device_ids = rows["DeviceDetail"].map(lambda d: json.loads(d)["deviceId"])
    assert (device_ids == "").all()
    assert not activity.loc[activity["caller"].isin(bots.index), "has_mfa"].any()
    # naming is only a hint: some bots look like people, some people look like bots
    prefixes = ("svc-", "deploy-", "tf-", "ansible-", "build-", "automation-")
    assert not bots.index.str.startswith(prefixes).all()
    people = identities[~identities["automation"]]
    assert people.index.str.startswith(("sa-", "svc-", "devops-")).any()


def test_cli_agents_run_on_a_schedule(identities: pd.DataFrame, signins: pd.DataFrame) -> None:
    agents = identities[identities["persona"] == "automation_cli_agent"].index
    rows = signins[signins["identity"].isin(agents) & (signins["ResourceIdentity"] == ARM_RESOURCE_ID)]
    assert (rows["IncomingTokenType"] == "refreshToken").all()
    minutes = rows.groupby("identity")["TimeGenerated"].apply(lambda t: (t.dt.minute + t.dt.second / 60).std())
    hours = rows.groupby("identity")["TimeGenerated"].apply(lambda t: t.dt.hour.nunique())
    # hourly agents fire at the same minute; nightly ones at the same hour
    assert ((minutes < 2.5) | (hours <= 2)).sum() >= len(agents) * 0.7


def test_deployment_bursts_write_many_resources_within_minutes(
    identities: pd.DataFrame, activity: pd.DataFrame
) -> None:
    deployers = identities[identities["persona"] == "automation_deployment"].index
    ops = activity[activity["caller"].isin(deployers) & activity["is_write"]]
    per_ten_minutes = ops.groupby(["caller", ops["TimeGenerated"].dt.floor("10min")])["OperationId"].nunique()
    assert per_ten_minutes.max() >= 5
    tools = identities.loc[deployers, "tools"]
    assert tools.map(lambda t: "terraform" in t).any() and tools.map(lambda t: "bicep" in t).any()
    deployments = ops[ops["OperationNameValue"].str.lower() == "microsoft.resources/deployments/write"]
    assert len(deployments) > 0
    # a Bicep deployment's nested resource writes share its CorrelationId
    nested = ops[ops["CorrelationId"].isin(deployments["CorrelationId"])]
    assert nested.groupby("CorrelationId")["OperationId"].nunique().max() > 1


def test_the_same_identity_appears_in_several_casings(signins: pd.DataFrame, activity: pd.DataFrame) -> None:
    spellings = pd.concat([signins[["identity", "UserPrincipalName"]].rename(columns={"UserPrincipalName": "seen"}),
                           activity[["caller", "Caller"]].set_axis(["identity", "seen"], axis=1)])  # fmt: skip
    per_identity = spellings.groupby("identity")["seen"].nunique()
    assert (per_identity >= 2).sum() >= 10


# --- tools and versions -------------------------------------------------------------------------


def test_version_traps_are_present_with_their_library_strings(identities: pd.DataFrame, signins: pd.DataFrame) -> None:
    cli = identities["tool_versions"].map(lambda v: v.get("azure-cli"))
    libraries = {}
    for trap in ("2.9.1", "2.75.0", "2.76.0", "2.100.0"):
        who = cli.index[cli == trap]
        assert len(who) >= 1, trap
        seen = set(signins.loc[signins["identity"].isin(who) & (signins["AppId"] == CLI_APP_ID), "library"].dropna())
        seen.discard("")
        assert len(seen) == 1, (trap, seen)
        libraries[trap] = seen.pop()
    assert libraries["2.9.1"].startswith("Family: ADAL Library: ADAL.Python")
    assert libraries["2.75.0"] == libraries["2.76.0"] == "Family: MSAL Library: MSAL.Python 1.33.0b1 Platform: Python"
    future = versions.parse_library_string(libraries["2.100.0"])
    assert future is not None
    newest_pin = max(r.msal for r in versions.cli_releases() if r.msal is not None)
    assert versions.parse_version(future.version) > newest_pin


def test_library_strings_come_from_the_versions_mapping(identities: pd.DataFrame, signins: pd.DataFrame) -> None:
    checked = 0
    for identity, row in identities.iterrows():
        ran = row["versions_seen"].get("azure-cli", [])
        known = [versions.library_for_tool("azure-cli", v) for v in ran]
        if not ran or any(k is None for k in known):
            continue
        seen = set(signins.loc[(signins["identity"] == identity) & (signins["AppId"] == CLI_APP_ID), "library"])
        assert seen - {""} == {k.render() for k in known if k is not None}, identity
        checked += 1
    assert checked >= 20


def test_sign_ins_show_the_library_not_the_tool_version(signins: pd.DataFrame) -> None:
    tool_rows = signins[signins["AppId"].isin([CLI_APP_ID, POWERSHELL_APP_ID]) & ~signins["IsInteractive"]]
    assert not tool_rows["UserAgent"].str.contains("AZURECLI|AzurePowershell", regex=True).any()
    assert tool_rows["UserAgent"].str.startswith("python-requests/").any()
    assert tool_rows["UserAgent"].str.startswith("azsdk-net-Identity/").any()
    assert tool_rows["library"].str.contains("MSAL.NetCore|MSAL.Desktop", regex=True).any()
    assert (tool_rows["library"] == "").any()  # an empty value now and then


def test_fallback_library_for_releases_the_mapping_cannot_name() -> None:
    newest = versions.cli_releases()[-1].text
    future = versions.parse_library_string(auth_library("azure-cli", "2.100.0"))
    current = versions.parse_library_string(auth_library("azure-cli", newest))
    assert future is not None and current is not None
    assert versions.parse_version(future.version) > versions.parse_version(current.version)
    assert auth_library("azure-cli", "2.100.0") == fallback_auth_library("azure-cli", "2.100.0")
    ps = versions.parse_library_string(fallback_auth_library("azure-powershell", "5.2.0", sku="MSAL.Desktop"))
    assert ps is not None and ps.library == "MSAL.Desktop" and versions.is_version(ps.version)


# --- workload identities ----------------------------------------------------------------------


def test_service_principals_and_managed_identities_write_but_are_not_user_identities(
    truth: dict[str, Any], identities: pd.DataFrame, activity: pd.DataFrame, tables: dict[str, pd.DataFrame]
) -> None:
    workloads = pd.DataFrame(truth["workload_identities"])
    assert set(workloads["kind"]) == {"service_principal", "managed_identity"}
    ids = set(workloads["id"])
    callers = activity[activity["Caller"].isin(ids)]
    assert set(callers["Caller"]) == ids
    assert (callers["principal_type"] == "ServicePrincipal").all()
    assert callers["amr"].isna().all()
    assert callers["Claims_d"].map(lambda c: json.loads(c)["idtyp"] == "app").all()
    assert callers["is_write"].sum() > 100
    assert not ids & set(identities.index) and not ids & set(identities["user_id"])
    assert not ids & set(workloads["app_id"])
    sp_ids = set(workloads.loc[workloads["kind"] == "service_principal", "id"])
    mi_ids = set(workloads.loc[workloads["kind"] == "managed_identity", "id"])
    assert set(tables["AADServicePrincipalSignInLogs"]["ServicePrincipalId"]) == sp_ids
    assert set(tables["AADManagedIdentitySignInLogs"]["ServicePrincipalId"]) == mi_ids


# --- activity realism ----------------------------------------------------------------------------


def test_operations_have_started_and_final_rows_sharing_a_correlation_id(activity: pd.DataFrame) -> None:
    admin = activity[activity["CategoryValue"] == "Administrative"]
    # Log Analytics spells ActivityStatusValue Start/Accept/Success/Failure (legacy ActivityStatus: Started...).
    statuses = admin.groupby("OperationId")["ActivityStatusValue"].agg(set)
    assert statuses.map(lambda s: "Start" in s and bool(s & {"Success", "Failure"})).all()
    assert statuses.map(lambda s: "Accept" in s).any()
    assert statuses.map(lambda s: "Failure" in s).any()
    assert set(admin["ActivityStatus"]) == {"Started", "Accepted", "Succeeded", "Failed"}
    assert (admin.groupby("OperationId")["CorrelationId"].nunique() == 1).all()


def test_writes_actions_and_upper_case_operation_names_are_present(activity: pd.DataFrame) -> None:
    names = activity.loc[activity["CategoryValue"] == "Administrative", "OperationNameValue"]
    assert names.str.lower().str.endswith("/listkeys/action").any()
    assert (names == names.str.upper()).any()
    assert (names != names.str.upper()).any()
    assert activity.loc[activity["is_action"], "CorrelationId"].nunique() > 10


def test_some_writes_join_their_sign_in_by_token_id(activity: pd.DataFrame, signins: pd.DataFrame) -> None:
    user_writes = activity[activity["is_write"] & activity["is_user"]]
    joined = user_writes["uti"].isin(set(signins["UniqueTokenIdentifier"]))
    assert 0.5 < joined.mean() < 0.99


def test_policy_audit_events_accompany_non_mfa_user_writes_on_audited_subscriptions(
    truth: dict[str, Any], activity: pd.DataFrame
) -> None:
    audited = set(truth["policy_audit_subscriptions"])
    audits = activity[activity["OperationNameValue"] == "Microsoft.Authorization/policies/audit/action"]
    assert len(audits) > 0
    assert (audits["CategoryValue"] == "Policy").all()
    assert set(audits["SubscriptionId"]) <= audited
    policies = audits["Properties_d"].map(lambda p: json.loads(json.loads(p)["policies"]))
    definitions = set(policies.map(lambda p: p[0]["policyDefinitionId"].rsplit("/", 1)[-1]))
    assert definitions <= {POLICY_WRITE_DEFINITION, POLICY_DELETE_DEFINITION}
    assert POLICY_WRITE_DEFINITION in definitions
    writes = activity[activity["is_write"]].drop_duplicates("CorrelationId").set_index("CorrelationId")
    matched = writes.loc[audits["CorrelationId"]]
    assert (~matched["has_mfa"]).all() and matched["is_user"].all() and not matched["refused_rbac"].any()
    expected = writes[
        (~writes["has_mfa"]) & writes["is_user"] & ~writes["refused_rbac"] & writes["SubscriptionId"].isin(audited)
    ]
    assert set(expected.index) == set(audits["CorrelationId"])


def test_system_deny_events_come_from_the_sys_mfa_assignments(activity: pd.DataFrame) -> None:
    denies = activity[activity["OperationNameValue"].str.contains("/deny", case=False)]
    assert len(denies) > 0
    names = denies["Properties_d"].map(lambda p: json.loads(json.loads(p)["policies"])[0]["policyAssignmentName"])
    assert set(names) <= {"sys.mfa-write", "sys.mfa-delete"}
    assert not denies["has_mfa"].any()
    # The denied write itself fails with RequestDisallowedByPolicy, under a 401 or a 403 alike.
    failures = activity[activity["CorrelationId"].isin(set(denies["CorrelationId"])) & (activity["error"] != "")]
    assert set(failures["error"]) == {phase2.POLICY_ERROR}
    assert {"Unauthorized", "Forbidden"} <= set(failures["ActivitySubstatusValue"])


# --- the kit reads it ---------------------------------------------------------------------------


def test_local_backend_runs_the_first_query_and_agrees_with_the_ground_truth(
    demo_workspace: Path, now: dt.datetime, identities: pd.DataFrame
) -> None:
    backend = LocalBackend(demo_workspace, now=now)
    try:
        result = run_query(backend, "arm_writes_mfa_daily", now=now, lookback=dt.timedelta(days=30))
    finally:
        backend.close()
    frame = result.frame
    assert result.complete and len(frame) > 0
    without_mfa = set(frame.loc[~frame["TokenHasMfa"].astype(bool), "Caller"])
    assert without_mfa == set(identities.index[identities["expected_verdict"] == "will_break"])
    assert all("@" in c for c in frame["Caller"])
