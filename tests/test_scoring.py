"""Score the analysis against the demo tenant's ground truth (300 users x 30 days, seed 7).

The analysis never sees ground_truth.json or persona names; only the break-glass list is taken
from it, as an administrator would pass theirs. Run ``pytest -s tests/test_scoring.py`` to see
the scores; they are also in every assertion message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_analysis import ReversedSets

from kitlib.analysis.exports import write_exports
from kitlib.analysis.impact import analyze
from kitlib.analysis.model import Analysis
from kitlib.backends.local import LocalBackend


@pytest.fixture(scope="module")
def truth(demo_workspace: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((demo_workspace / "ground_truth.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def scored(demo_workspace: Path, now: Any, truth: dict[str, Any]) -> Analysis:
    glass = [i["identity"] for i in truth["identities"] if i.get("breakglass")]
    return analyze(LocalBackend(demo_workspace, now=now), now=now, breakglass=glass)


def _by_identity(analysis: Analysis) -> dict[str, dict[str, Any]]:
    return {str(r["identity"]): r for r in analysis.identities.to_dict("records")}


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def test_will_break_precision_and_recall(scored: Analysis, truth: dict[str, Any]) -> None:
    ours = _by_identity(scored)
    expected = {i["identity"]: i for i in truth["identities"] if not i.get("breakglass")}
    predicted = {k for k, r in ours.items() if r["verdict"] == "will_break" and not r["breakglass"]}
    actual = {k for k, i in expected.items() if i["expected_verdict"] == "will_break"}
    tp, fp, fn = len(predicted & actual), len(predicted - actual), len(actual - predicted)
    precision, recall, _ = _f1(tp, fp, fn)
    message = f"will_break precision {precision:.3f} recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})"
    print(message)
    assert actual, "the demo tenant has no will_break identities"
    assert precision >= 0.98 and recall >= 0.98, message


def test_every_verdict_matches_the_ground_truth_rules(scored: Analysis, truth: dict[str, Any]) -> None:
    ours = _by_identity(scored)
    expected = {i["identity"]: i["expected_verdict"] for i in truth["identities"]}
    wrong = {k: (v, ours.get(k, {}).get("verdict")) for k, v in expected.items() if ours.get(k, {}).get("verdict") != v}
    extra = sorted(set(ours) - set(expected))
    message = (
        f"verdict agreement {1 - len(wrong) / len(expected):.3f}; wrong {list(wrong.items())[:5]}; extra {extra[:5]}"
    )
    print(message)
    assert len(wrong) <= 0.02 * len(expected) and not extra, message


def test_automation_f1_among_users_with_writes(scored: Analysis, truth: dict[str, Any]) -> None:
    ours = _by_identity(scored)
    writers = [i for i in truth["identities"] if i["arm_writes"] > 0 and not i.get("breakglass")]
    tp = fp = fn = 0
    for item in writers:
        flagged = ours.get(item["identity"], {}).get("automation_band") == "likely_automation"
        tp += int(flagged and item["automation"])
        fp += int(flagged and not item["automation"])
        fn += int(not flagged and item["automation"])
    precision, recall, f1 = _f1(tp, fp, fn)
    message = f"automation F1 {f1:.3f} (precision {precision:.3f}, recall {recall:.3f}; tp {tp}, fp {fp}, fn {fn})"
    print(message)
    assert tp + fn > 0, "the demo tenant has no automation accounts with writes"
    assert f1 >= 0.90, message


def test_ropc_recall_is_complete(scored: Analysis, truth: dict[str, Any]) -> None:
    ours = _by_identity(scored)
    ropc = [i["identity"] for i in truth["identities"] if i["ropc"]]
    found = [k for k in ropc if ours.get(k, {}).get("ropc")]
    message = f"ROPC recall {len(found) / len(ropc) if ropc else 0:.3f} ({len(found)} of {len(ropc)})"
    print(message)
    assert ropc and len(found) == len(ropc), message


def test_no_service_principal_or_managed_identity_in_identities(scored: Analysis, truth: dict[str, Any]) -> None:
    workload = {
        str(v).lower() for w in truth["workload_identities"] for v in (w.get("id"), w.get("app_id"), w.get("name")) if v
    }
    ids = set(scored.identities["identity"])
    leaked = ids & workload
    assert not leaked, f"workload identities in identities: {sorted(leaked)}"
    assert all("@" in i for i in ids)
    assert len(scored.workload_identities) >= len(truth["workload_identities"]) > 0


@pytest.mark.parametrize(
    ("release", "expected"), [("2.9.1", "no"), ("2.75.0", "unknown"), ("2.76.0", "unknown"), ("2.100.0", "yes")]
)
def test_version_traps_are_ordered_as_versions(
    scored: Analysis, truth: dict[str, Any], release: str, expected: str
) -> None:
    ours = _by_identity(scored)
    users = [i["identity"] for i in truth["identities"] if (i.get("tool_versions") or {}).get("azure-cli") == release]
    assert users, f"the demo tenant has no Azure CLI {release} user"
    got = {u: ours[u]["azure_cli_version_ok"] for u in users if u in ours}
    print(f"Azure CLI {release}: {got}")
    assert got and all(v == expected for v in got.values()), f"Azure CLI {release} should be {expected}: {got}"


def test_two_runs_give_byte_identical_exports_whatever_order_make_set_returns(
    scored: Analysis, demo_workspace: Path, now: Any, truth: dict[str, Any], tmp_path: Path
) -> None:
    # make_set has no element order on the service (policy effects came back as "Audit, AuditAction"
    # in one run and "AuditAction, Audit" in the next): reversing every list must change nothing.
    glass = [i["identity"] for i in truth["identities"] if i.get("breakglass")]
    again = analyze(ReversedSets(LocalBackend(demo_workspace, now=now)), now=now, breakglass=glass)
    first = {p.name: p.read_bytes() for p in write_exports(scored, tmp_path / "first")}
    second = {p.name: p.read_bytes() for p in write_exports(again, tmp_path / "second")}
    assert first == second
