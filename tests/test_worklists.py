"""Findings routed to the people who must act: owners files, worklists, the workbook and the summary."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import NOW

from kitlib.analysis.routing import UNASSIGNED, Owner, owner_of, read_owners, route
from kitlib.environment import PSEUDONYM_KEY_ENV
from kitlib.errors import UsageError
from kitlib.privacy.leakcheck import check_folder
from kitlib.reporting.batch import render_report
from kitlib.reporting.worklists import file_stem, markdown_text, sheet_name, write_worklists
from kitlib.safe_csv import FORMULA_PREFIX, read_csv

SUB_A = "aaaaaaaa-0000-4000-8000-000000000001"
SUB_B = "bbbbbbbb-0000-4000-8000-000000000002"


def _owners(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "owners.csv"
    path.write_text(text, encoding="utf-8")
    return path


# -- owners files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("owner,scope,contact\nx,y,z\n", "first line must be the header"),
        (f"scope,owner,contact\n{SUB_A},Web\n", "line 2: expected 3 fields"),
        (f"scope,owner,contact\n{SUB_A},Web,a@x\n{SUB_A.upper()},Data,b@x\n", "line 3: scope"),
        (f"scope,owner,contact\n{SUB_A},Unassigned,a@x\n", "reserved"),
        ("scope,owner,contact\n,Web,a@x\n", "must not be empty"),
        ("scope,owner,contact\n", "names no owner"),
    ],
)
def test_a_bad_owners_file_is_a_usage_error_naming_the_line(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=re.escape(complaint)):
        read_owners(_owners(tmp_path, text))


def test_the_longest_scope_wins_by_whole_segments_in_any_case(tmp_path: Path) -> None:
    owners = read_owners(
        _owners(
            tmp_path,
            "\ufeffscope,owner,contact\n"
            f"{SUB_A},Platform,platform@x\n"
            f"/subscriptions/{SUB_A.upper()}/resourceGroups/RG-Web/,Web,web@x\n",
        )
    )
    web = f"/subscriptions/{SUB_A}/resourcegroups/rg-web/providers/microsoft.web/sites/app1"
    other = f"/subscriptions/{SUB_A}/resourceGroups/rg-web2/providers/x/y/z"
    found = owner_of([web.upper(), other, f"/subscriptions/{SUB_B}/resourcegroups/rg"], owners)
    assert found[web.upper()] == Owner(f"/subscriptions/{SUB_A}/resourcegroups/rg-web", "Web", "web@x")
    assert found[other] is not None and found[other].owner == "Platform"
    assert found[f"/subscriptions/{SUB_B}/resourcegroups/rg"] is None


def _identities(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"identity": [i for i, _ in rows], "verdict": [v for _, v in rows]})


def _writes(*rows: tuple[str, str, int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Identity": [r[0] for r in rows],
            "Resource": [r[1] for r in rows],
            "SubscriptionId": [r[1].split("/")[2] for r in rows],
            "Operations": [r[2] for r in rows],
            "OperationsWithoutMfa": [r[3] for r in rows],
        }
    )


def test_findings_land_with_every_owner_they_wrote_to_and_the_rest_is_unassigned() -> None:
    owners = [
        Owner(f"/subscriptions/{SUB_A}", "Platform", "p@x"),
        Owner(f"/subscriptions/{SUB_B}/resourcegroups/web", "Web", "w@x"),
    ]
    identities = _identities(
        ("Both@contoso.com", "will_break"),
        ("nowhere@contoso.com", "at_risk"),
        ("elsewhere@contoso.com", "unknown"),
        ("fine@contoso.com", "not_affected"),
    )
    writes = _writes(
        ("both@contoso.com", f"/subscriptions/{SUB_A}/resourcegroups/x/providers/a/b/c", 3, 2),
        ("both@contoso.com", f"/subscriptions/{SUB_B}/resourcegroups/web/providers/a/b/c", 4, 4),
        ("both@contoso.com", f"/subscriptions/{SUB_B}/resourcegroups/other/providers/a/b/c", 1, 1),
        ("elsewhere@contoso.com", f"/subscriptions/{SUB_B}/resourcegroups/other/providers/a/b/d", 5, 5),
        ("fine@contoso.com", f"/subscriptions/{SUB_A}/resourcegroups/x/providers/a/b/c", 9, 0),
    )
    routed = route(identities, writes, owners)
    rows = {(r.owner, r.identity): (r.arm_writes_here, r.arm_writes_without_mfa_here) for r in routed.itertuples()}
    assert rows == {
        ("Platform", "Both@contoso.com"): (3, 2),
        ("Web", "Both@contoso.com"): (4, 4),
        (UNASSIGNED, "elsewhere@contoso.com"): (5, 5),
        (UNASSIGNED, "nowhere@contoso.com"): (0, 0),
    }
    findings = set(identities.loc[identities["verdict"] != "not_affected", "identity"])
    assert set(routed["identity"]) == findings
    per_subscription = route(identities, writes, None)
    assert set(per_subscription["owner"]) == {f"subscription {SUB_A}", f"subscription {SUB_B}", UNASSIGNED}


# -- names and text ---------------------------------------------------------------------------------


def test_owner_names_become_safe_unique_file_and_sheet_names() -> None:
    stems: set[str] = set()
    assert file_stem("../../etc/passwd", stems) == "etc-passwd"
    assert file_stem("Web / Team", stems) == "Web-Team"
    assert file_stem("web   team", stems) == "web-team-2"  # the same name in another case
    sheets = {"summary"}
    long = sheet_name("A team with a name far longer than Excel allows", sheets)
    assert long == "A team with a name far longer t" and len(long) == 31
    assert (
        sheet_name("A team with a name far longer than Excel allows too", sheets) == "A team with a name far longer-2"
    )
    assert sheet_name("'[Ops]: a/b\\c*?'", sheets) == "-Ops-- a-b-c--"
    assert sheet_name("History", sheets) == "History (owner)"
    assert sheet_name("Summary", sheets) == "Summary-2"


def test_summary_text_from_the_logs_is_literal_markdown() -> None:
    assert markdown_text("[click](http://evil.example) *now* <b>x</b> | #1 &amp;") == (
        "\\[click\\]\\(http://evil.example\\) \\*now\\* \\<b\\>x\\</b\\> \\| \\#1 \\&amp;"
    )


def _cells(workbook: Path) -> tuple[list[str], bool]:
    """Every string a workbook holds, and whether any cell is a formula."""
    with zipfile.ZipFile(workbook) as archive:
        shared = archive.read("xl/sharedStrings.xml").decode("utf-8")
        sheets = [archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("xl/worksheets/")]
    strings = [html.unescape(re.sub(r"<[^>]+>", "", s)) for s in re.findall(r"<si>(.*?)</si>", shared, re.S)]
    return strings, any("<f>" in s or "<f " in s for s in sheets)


def test_worklists_are_safe_to_open_in_a_spreadsheet(tmp_path: Path) -> None:
    evil = "=cmd|' /C calc'!A0@contoso.com"
    agent = '=HYPERLINK("http://evil.example","x")'
    identities = pd.DataFrame(
        {
            "identity": [evil, "@sum@contoso.com"],
            "verdict": ["will_break", "at_risk"],
            "reasons": [f"user agent {agent}", "+1"],
            "tool_versions": ["-1", "\u202espoof"],
            "arm_writes": [3, 0],
        }
    )
    routed = route(identities, _writes((evil, f"/subscriptions/{SUB_A}/rg/x", 3, 3)), None)
    write_worklists(
        tmp_path,
        routed,
        identities,
        generated_at=NOW,
        window=(NOW - dt.timedelta(days=30), NOW),
        headline={"verdicts": {"will_break": 1, "at_risk": 1}},
        first_steps=[f"fix {evil}"],
        per_subscription=True,
    )
    csvs = sorted((tmp_path / "worklists").glob("*.csv"))
    raw = pd.concat([pd.read_csv(p, keep_default_na=False) for p in csvs])
    for column in ("identity", "reasons", "tool_versions"):
        assert all(v.startswith(FORMULA_PREFIX) or v[:1] not in "=+-@" for v in raw[column].astype(str))
    back = pd.concat([read_csv(p) for p in csvs])
    assert sorted(back["identity"]) == sorted([evil, "@sum@contoso.com"])
    assert "[U+202E]spoof" in set(back["tool_versions"])
    strings, formulas = _cells(tmp_path / "worklists.xlsx")
    assert not formulas
    assert evil in strings and f"user agent {agent}" in strings and "-1" in strings
    assert "\u202e" not in "".join(strings)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "fix =cmd\\|' /C calc'\\!A0@contoso.com" in summary


# -- the demo tenant, end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def owners_file(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Owners for the demo: one subscription whole, one resource group of another; the rest unmapped."""
    writes = pd.read_parquet(demo_workspace / "AzureActivity.parquet", columns=["SubscriptionId", "_ResourceId"])
    subscriptions = writes["SubscriptionId"].str.lower().value_counts().index.tolist()
    group = next(
        r.rsplit("/providers/", 1)[0]
        for r in writes["_ResourceId"].str.lower()
        if r.startswith(f"/subscriptions/{subscriptions[1]}/resourcegroups/")
    )
    path = tmp_path_factory.mktemp("owners") / "owners.csv"
    path.write_text(
        f"scope,owner,contact\n{subscriptions[0]},Platform team,platform@contoso.example\n"
        f"{group.upper()},App team,apps@contoso.example\n",
        encoding="utf-8",
    )
    return path


def _run(workspace: Path, out: Path, owners: Path, **options: Any) -> Any:
    return render_report(
        str(workspace), out, now=NOW, notebooks=["identities_at_risk"], owners=owners, progress=False, **options
    )


@pytest.mark.slow
def test_the_demo_worklists_hold_every_finding_and_count_the_unassigned(
    demo_workspace: Path, owners_file: Path, tmp_path: Path
) -> None:
    run = _run(demo_workspace, tmp_path / "report", owners_file, keep_history=False)
    assert run.exit_code == 0, run.warnings
    out = run.out
    identities = read_csv(out / "identities.csv")
    findings = set(identities.loc[identities["verdict"].isin(["will_break", "at_risk", "unknown"]), "identity"])
    listed = pd.concat([read_csv(p) for p in (out / "worklists").glob("*.csv")])
    assert set(listed["identity"]) == findings, "an identity with a finding is missing, or one without is listed"
    assert set(listed["owner"]) == {"Platform team", "App team", UNASSIGNED}
    unassigned = set(listed.loc[listed["owner"] == UNASSIGNED, "identity"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["worklists"]["unassigned"] == len(unassigned) > 0
    assert manifest["worklists"]["identities"] == len(findings)
    assert not unassigned & set(listed.loc[listed["owner"] != UNASSIGNED, "identity"])
    assert {"worklists.xlsx", "summary.md"} <= set(manifest["exports"])
    assert "worklists.xlsx" in (out / "index.html").read_text(encoding="utf-8")
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert f"{len(unassigned):,} are unassigned" in summary and "Platform team" in summary


@pytest.mark.slow
def test_a_pseudonymised_run_pseudonymises_the_worklists_and_the_leak_check_reads_them(
    demo_workspace: Path, owners_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "worklist-test-key-0123456789")
    run = _run(demo_workspace, tmp_path / "shared", owners_file, pseudonymize=True, keep_history=False)
    assert run.exit_code == 0 and run.leak_hits == 0, run.warnings
    truth = json.loads((demo_workspace / "ground_truth.json").read_text(encoding="utf-8"))
    originals = [i["identity"] for i in truth["identities"]]
    listed = pd.concat([read_csv(p) for p in (run.out / "worklists").glob("*.csv")])
    assert listed["identity"].str.startswith("user-").all()
    assert check_folder(run.out, originals) == []
    # The check does read inside the workbook: a name planted there is found.
    planted = tmp_path / "planted"
    planted.mkdir()
    with zipfile.ZipFile(run.out / "worklists.xlsx") as source, zipfile.ZipFile(planted / "w.xlsx", "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/sharedStrings.xml":
                data = data.replace(b"</sst>", f"<si><t>{originals[0]}</t></si></sst>".encode())
            copy.writestr(item, data)
    assert {h.original for h in check_folder(planted, originals)} == {originals[0]}
