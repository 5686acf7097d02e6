"""Microsoft's Phase 2 rule, case by case, on hand-made claims: one identity per case.

Each identity below does exactly one thing the rule separates (section 0 of the domain
reference): ``rsa,ngcmfa`` and ``wiaormfa`` are not ``mfa``; ``pwd`` with ``acrs=p1`` is; a user
granted through a group is still a user; an RBAC refusal never reaches the MFA check; a denial
by the MFA enforcement assignment is enforcement made visible, by its error code; a POST action
is not evaluated; an old CLI beside a new one keeps the identity not ready; one event is too
little to call anyone automation. The queries and the analysis are asserted separately.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_queries import CLI, NOW, VM_WRITE, activity, at, signin

from kitlib.analysis.impact import analyze
from kitlib.analysis.model import Analysis
from kitlib.backends.local import LocalBackend
from kitlib.domain import phase2
from kitlib.domain.apps import AZURE_CLI, AZURE_MOBILE_APP_ID, AZURE_PORTAL_APP_ID
from kitlib.domain.versions import library_for_tool
from kitlib.query.catalog import load_catalog
from kitlib.query.run import run_query

ACRS = "acrs"
IDTYP = "idtyp"
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
MFA_ASSIGNMENT = (
    "/providers/Microsoft.Management/managementGroups/root/providers/Microsoft.Authorization/policyAssignments/"
    "sys.mfa-write"
)
OLD_CLI = library_for_tool(AZURE_CLI, "2.67.0")
NEW_CLI = library_for_tool(AZURE_CLI, "2.85.0")
OBJECT_ID = "0b9d2c1e-4f5a-4c3b-9e8d-7a6b5c4d3e2f"


def claims_activity(
    when: dt.datetime,
    caller: str,
    correlation: str,
    *,
    amr: str = "pwd",
    acrs: str = "",
    idtyp: str | None = "user",
    principal: str = "User",
    operation: str = VM_WRITE,
    app: str = CLI,
    status: str = "Succeeded",
    error: dict[str, Any] | None = None,
    upn: str | None = None,
) -> dict[str, Any]:
    """An AzureActivity row whose claims are exactly these (no upn claim unless given)."""
    row = activity(when, caller, operation, correlation, amr=amr, app=app, principal=principal, status=status)
    claims: dict[str, Any] = {"appid": app}
    if amr:
        claims["http://schemas.microsoft.com/claims/authnmethodsreferences"] = amr
    if acrs:
        claims[ACRS] = acrs
    if idtyp is not None:
        claims[IDTYP] = idtyp
    if upn:
        claims[UPN_CLAIM] = upn
    row["Claims_d"] = claims
    if error is not None:
        row["Properties_d"] = {"statusCode": "Forbidden", "statusMessage": json.dumps({"error": error})}
    return row


def mfa_denial() -> dict[str, Any]:
    return {
        "code": phase2.POLICY_ERROR,
        "message": "Resource was disallowed by policy.",
        "additionalInfo": [{"type": "PolicyViolation", "info": {"policyAssignmentId": MFA_ASSIGNMENT}}],
    }


def other_denial() -> dict[str, Any]:
    return {
        "code": phase2.POLICY_ERROR,
        "message": "Resource was disallowed by policy. Reasons: 'Allowed locations'.",
        "additionalInfo": [{"type": "PolicyViolation", "info": {"policyAssignmentName": "allowed-locations"}}],
    }


def activity_rows() -> list[dict[str, Any]]:
    return [
        claims_activity(at(20, 10), "hello@contoso.com", "h1", amr="rsa,ngcmfa"),
        claims_activity(at(20, 10), "wia@contoso.com", "w1", amr="wiaormfa"),
        claims_activity(at(20, 10), "stepup@contoso.com", "s1", amr="pwd", acrs="p1"),
        claims_activity(at(20, 10), "context@contoso.com", "x1", amr="pwd", acrs="c1"),
        claims_activity(at(20, 10), "group@contoso.com", "g1", principal="Group"),
        # An app's token is a workload's, whatever the role assignment's type says.
        claims_activity(at(20, 10), "6f1c2d3e-0000-4000-8000-00000000c003", "a1", amr="", idtyp="app"),
        # A token from before the idtyp claim: the upn claim says whose it is.
        claims_activity(at(20, 10), OBJECT_ID, "u1", idtyp=None, upn="NoIdtyp@contoso.com"),
        claims_activity(at(20, 10), "rbac@contoso.com", "r1", status="Started"),
        claims_activity(at(20, 10, 1), "rbac@contoso.com", "r1", status="Failed", error={"code": phase2.RBAC_ERROR}),
        claims_activity(at(20, 11), "denied@contoso.com", "d1", status="Failed", error=mfa_denial()),
        claims_activity(at(20, 12), "other@contoso.com", "o1", amr="pwd,mfa", status="Failed", error=other_denial()),
        claims_activity(
            at(20, 13), "poster@contoso.com", "p1", operation="Microsoft.Compute/virtualMachines/start/action"
        ),
        claims_activity(at(21, 9), "once@contoso.com", "e1", amr="rsa,mfa", app=AZURE_PORTAL_APP_ID),
        # The last write without MFA on the 20th, writes with MFA after it; and one that stayed without.
        claims_activity(at(20, 9), "recent@contoso.com", "c1"),
        claims_activity(at(22, 9), "recent@contoso.com", "c2", amr="pwd,mfa"),
        claims_activity(at(24, 9), "recent@contoso.com", "c3", amr="pwd,mfa"),
        claims_activity(at(24, 9), "stale@contoso.com", "t1"),
        # MFA shown by the activity log for the app of single-factor-looking sign-ins.
        claims_activity(at(21, 10), "hidden@contoso.com", "m1", amr="pwd,mfa"),
        claims_activity(at(21, 10), "partial@contoso.com", "q1", amr="pwd,mfa"),
    ]


def signin_rows() -> list[dict[str, Any]]:
    assert OLD_CLI is not None and NEW_CLI is not None
    old, new = OLD_CLI.render(), NEW_CLI.render()
    mfa = {"requirement": "multiFactorAuthentication"}
    rows = [
        # A laptop on an old CLI to the end, beside a new one (Cloud Shell) from the second day.
        signin(at(1, 9), "twoclis@contoso.com", library=old, **mfa),
        signin(at(2, 9), "twoclis@contoso.com", library=new, **mfa),
        signin(at(25, 9), "twoclis@contoso.com", library=old, **mfa),
        signin(at(26, 9), "twoclis@contoso.com", library=new, **mfa),
        # An upgrade: the old library is not seen again once the new one appears.
        signin(at(1, 9), "upgrader@contoso.com", library=old, **mfa),
        signin(at(10, 9), "upgrader@contoso.com", library=old, **mfa),
        signin(at(11, 9), "upgrader@contoso.com", library=new, **mfa),
        signin(at(26, 9), "upgrader@contoso.com", library=new, **mfa),
        # Any client counts: the Azure mobile app's single-factor ARM token.
        signin(at(22, 9), "mobile@contoso.com", app=AZURE_MOBILE_APP_ID, app_name="Azure Mobile App", library=None),
        # Sign-ins that read single-factor, of an app whose writes carried MFA.
        signin(at(21, 9), "hidden@contoso.com"),
        # The same, but the sign-in log records MFA for that app too: its single-factor label stands.
        signin(at(21, 9), "partial@contoso.com", **mfa),
        signin(at(22, 9), "partial@contoso.com"),
        # This tenant (t-contoso) is the one its members sign in to at home.
        signin(at(22, 9), "member@contoso.com", **mfa),
        # A member taking ARM tokens from a partner tenant, and a guest from another home tenant.
        {**signin(at(22, 10), "outbound@contoso.com"), "ResourceTenantId": "t-partner"},
        signin(at(22, 11), "vendor_fabrikam.com#ext#@contoso.com", home="t-fabrikam", user_type="Guest"),
    ]
    for row in rows:
        row["DeviceDetail"] = json.dumps(row["DeviceDetail"])
    return rows


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phase2-rule")
    with (root / "AzureActivity.jsonl").open("w", encoding="utf-8") as fh:
        for row in activity_rows():
            fh.write(json.dumps(row, default=str) + "\n")
    pd.DataFrame(signin_rows()).to_parquet(root / "AADNonInteractiveUserSignInLogs.parquet")
    pd.DataFrame([signin(at(22, 8), "member@contoso.com", requirement="multiFactorAuthentication")]).to_parquet(
        root / "SigninLogs.parquet"
    )
    return root


@pytest.fixture(scope="module")
def analysis(workspace: Path) -> Analysis:
    return analyze(LocalBackend(workspace, now=NOW), now=NOW)


@pytest.fixture(scope="module")
def operations(workspace: Path) -> pd.DataFrame:
    frame = run_query(LocalBackend(workspace, now=NOW), "arm_operations", now=NOW).frame
    return frame[frame["Facet"] == "operations"]


def one(frame: pd.DataFrame, identity: str) -> pd.Series:
    rows = frame[frame["Identity" if "Identity" in frame else "identity"] == identity]
    assert len(rows) == 1, f"{identity}: {len(rows)} rows"
    return rows.iloc[0]


def row(analysis: Analysis, identity: str) -> pd.Series:
    return one(analysis.identities, identity)


# --- the token carries MFA by membership ------------------------------------------------------------


@pytest.mark.parametrize(
    ("amr", "acrs", "has_mfa"),
    [
        ("pwd,mfa", "", True),
        ("rsa,ngcmfa", "", False),
        ("wiaormfa", "", False),
        ("ngcmfa", "", False),
        ("pwd", "p1", True),
        ("pwd", "c1", False),
        ("rsa,ngcmfa,mfa", "", True),
        ("", "", False),
    ],
)
def test_the_reference_rule_tests_membership_not_substring(amr: str, acrs: str, has_mfa: bool) -> None:
    assert phase2.token_has_mfa(amr, acrs) is has_mfa


@pytest.mark.parametrize(
    ("identity", "token_has_mfa", "verdict"),
    [
        ("hello@contoso.com", False, "will_break"),
        ("wia@contoso.com", False, "will_break"),
        ("stepup@contoso.com", True, "not_affected"),
        ("context@contoso.com", False, "will_break"),
    ],
)
def test_amr_and_acrs_are_read_as_sets(
    operations: pd.DataFrame, analysis: Analysis, identity: str, token_has_mfa: bool, verdict: str
) -> None:
    assert bool(one(operations, identity)["TokenHasMfa"]) is token_has_mfa
    got = row(analysis, identity)
    assert got["verdict"] == verdict
    assert (got["arm_writes"], got["arm_writes_without_mfa"]) == (1, 0 if token_has_mfa else 1)


# --- who is a user --------------------------------------------------------------------------------


def test_a_user_granted_through_a_group_is_still_a_user(operations: pd.DataFrame, analysis: Analysis) -> None:
    assert one(operations, "group@contoso.com")["Principal"] == "user"
    assert row(analysis, "group@contoso.com")["verdict"] == "will_break"


def test_an_app_token_is_a_workload_whatever_the_assignment_says(operations: pd.DataFrame, analysis: Analysis) -> None:
    app = one(operations, "6f1c2d3e-0000-4000-8000-00000000c003")
    assert app["Principal"] == "workload"
    assert "6f1c2d3e-0000-4000-8000-00000000c003" not in set(analysis.identities["identity"])
    assert "6f1c2d3e-0000-4000-8000-00000000c003" in set(analysis.workload_identities["id"])


def test_a_token_without_idtyp_falls_back_to_the_upn_claim(operations: pd.DataFrame) -> None:
    found = one(operations, "noidtyp@contoso.com")
    assert found["Principal"] == "user"
    assert OBJECT_ID not in set(operations["Identity"])


# --- refused anyway, and enforcement made visible -------------------------------------------------


def test_an_rbac_refusal_never_reaches_the_mfa_check(operations: pd.DataFrame, analysis: Analysis) -> None:
    assert one(operations, "rbac@contoso.com")["Outcome"] == phase2.REFUSED_RBAC
    got = row(analysis, "rbac@contoso.com")
    assert got["verdict"] == "not_affected"
    assert (got["arm_writes"], got["arm_writes_without_mfa"], got["writes_refused_rbac"]) == (0, 0, 1)
    assert "refused by RBAC (AuthorizationFailed)" in got["reasons"]


def test_a_denial_by_the_mfa_assignment_is_enforcement_made_visible(
    operations: pd.DataFrame, analysis: Analysis
) -> None:
    assert one(operations, "denied@contoso.com")["Outcome"] == phase2.DENIED_MFA
    got = row(analysis, "denied@contoso.com")
    assert got["verdict"] == "will_break" and got["enforcement_visible"] == 1
    assert "already denied by the MFA policies" in got["reasons"]


def test_another_policys_denial_is_a_plain_failure(operations: pd.DataFrame, analysis: Analysis) -> None:
    assert one(operations, "other@contoso.com")["Outcome"] == phase2.FAILED
    got = row(analysis, "other@contoso.com")
    assert got["enforcement_visible"] == 0 and got["verdict"] == "not_affected"


# --- what is evaluated -------------------------------------------------------------------------------


def test_a_post_only_user_is_reported_apart_and_not_at_risk(operations: pd.DataFrame, analysis: Analysis) -> None:
    assert one(operations, "poster@contoso.com")["Kind"] == phase2.ACTION
    got = row(analysis, "poster@contoso.com")
    assert got["verdict"] == "not_affected"
    assert (got["arm_writes"], got["actions_without_mfa"]) == (0, 1)
    assert "not evaluated by Phase 2" in got["reasons"]
    assert "POST actions" in got["remediation"]


def test_single_factor_tokens_from_any_client_are_at_risk(analysis: Analysis) -> None:
    got = row(analysis, "mobile@contoso.com")
    assert got["verdict"] == "at_risk" and got["tools"] == "other"


def test_activity_claims_with_mfa_clear_sign_ins_that_only_read_single_factor(analysis: Analysis) -> None:
    assert row(analysis, "hidden@contoso.com")["verdict"] == "not_affected"
    # Where the sign-in log does record MFA for the app, its single-factor label is believed.
    assert row(analysis, "partial@contoso.com")["verdict"] == "at_risk"


# --- recency and direction --------------------------------------------------------------------------


def test_the_last_write_without_mfa_and_whether_mfa_followed(analysis: Analysis) -> None:
    recent = row(analysis, "recent@contoso.com")
    assert (recent["last_write_without_mfa"], recent["mfa_since_last_write_without_mfa"]) == ("2026-11-20", "yes")
    stale = row(analysis, "stale@contoso.com")
    assert (stale["last_write_without_mfa"], stale["mfa_since_last_write_without_mfa"]) == ("2026-11-24", "no")
    assert row(analysis, "stepup@contoso.com")["mfa_since_last_write_without_mfa"] == ""


def test_guests_come_in_and_members_go_out(analysis: Analysis) -> None:
    assert row(analysis, "vendor_fabrikam.com#ext#@contoso.com")["guest_direction"] == "inbound"
    outbound = row(analysis, "outbound@contoso.com")
    assert outbound["guest_direction"] == "outbound" and not outbound["guest"]
    assert "Outbound" in outbound["remediation"]
    assert row(analysis, "member@contoso.com")["guest_direction"] == ""


# --- versions ---------------------------------------------------------------------------------------


def test_an_old_cli_beside_a_new_one_is_not_ready(analysis: Analysis) -> None:
    got = row(analysis, "twoclis@contoso.com")
    assert got["version_ok"] == "no" and got["azure_cli_version_ok"] == "no"
    assert "2.65.0-2.67.0" in got["tool_versions"] and "superseded" not in got["tool_versions"]


def test_a_version_not_seen_since_a_newer_one_appeared_is_superseded(analysis: Analysis) -> None:
    got = row(analysis, "upgrader@contoso.com")
    assert got["version_ok"] == "yes"
    assert "earlier, superseded: MSAL.Python" in got["tool_versions"]


# --- sparse evidence ---------------------------------------------------------------------------------


def test_one_event_is_insufficient_evidence_not_automation(analysis: Analysis) -> None:
    got = row(analysis, "once@contoso.com")
    assert got["automation_band"] == "insufficient_evidence"
    assert got["verdict"] == "not_affected"


def test_insufficient_evidence_that_would_break_says_what_to_look_at(analysis: Analysis) -> None:
    got = row(analysis, "hello@contoso.com")
    assert got["automation_band"] == "insufficient_evidence"
    assert "Too little activity to tell a person from a job" in got["remediation"]
    assert "--lookback 90d" in got["remediation"]


# --- one rule, everywhere -------------------------------------------------------------------------


MFA_JUDGES = sorted(name for name, q in load_catalog().items() if "authnmethodsreferences" in q.text)


@pytest.mark.parametrize("name", MFA_JUDGES)
def test_every_query_that_judges_mfa_uses_the_rule_verbatim(name: str) -> None:
    text = load_catalog()[name].text
    assert phase2.KQL_HAS_MFA in text, f"{name} does not use {phase2.KQL_HAS_MFA}"
    assert not re.search(r'contains\s+"mfa"', text), f"{name} tests mfa as a substring"
    code = "\n".join(line.split("//")[0] for line in text.splitlines())
    assert "principalType" not in code, f"{name} decides on the role assignment's principalType"


def test_the_queries_that_judge_mfa_are_the_ones_expected() -> None:
    assert set(MFA_JUDGES) >= {"arm_operations", "arm_writes_by_identity", "arm_writes_mfa_daily", "arm_write_targets"}
