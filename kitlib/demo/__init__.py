"""The demo tenant: a deterministic, realistic Log Analytics workspace folder with its ground truth.

``generate(out, users=..., days=..., seed=..., now=...)`` writes one Parquet file per table
(``SigninLogs``, ``AADNonInteractiveUserSignInLogs``, ``AADServicePrincipalSignInLogs``,
``AADManagedIdentitySignInLogs``, ``AzureActivity``) with exactly the columns of
:data:`kitlib.domain.schema.TABLES`, plus ``ground_truth.json`` that says, per user identity, what the
analysis should conclude. Same arguments, same bytes: every random choice comes from one seeded
``numpy`` generator, consumed in a fixed order.

Why it exists: the kit must be shown, tested and scored without a real tenant. So the demo has
to contain the traps a real tenant has, not a tidy caricature of it.

The parts, each importing only those listed before it: :mod:`.facts` (fixed facts and code
tables), :mod:`.columns` (row buffers and column builders), :mod:`.libraries` (what a tool release
sends), :mod:`.planner` (the population and what each persona does: the persona table is on
:class:`~kitlib.demo.planner.Tenant`), :mod:`.materialise` (the Parquet tables) and :mod:`.truth`
(the ground truth and its rules).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kitlib.demo.columns import uti_bytes
from kitlib.demo.facts import (
    AUDIT_SUBS,
    CLAIM_MFA,
    DAY,
    ENFORCED_DAYS,
    ENFORCED_SUB,
    KIND_ACTION,
    MIN_USERS,
    OP_KIND,
    PAT_DENIED,
    PAT_DENIED_401,
    PAT_RBAC,
    TABLE_NAMES,
)
from kitlib.demo.libraries import auth_library, fallback_auth_library
from kitlib.demo.materialise import Materialiser
from kitlib.demo.planner import Tenant
from kitlib.demo.truth import ground_truth
from kitlib.domain.apps import ARM_RESOURCE_ID, POLICY_DELETE_DEFINITION, POLICY_WRITE_DEFINITION
from kitlib.domain.apps import AZURE_CLI_APP_ID as CLI_APP_ID
from kitlib.domain.apps import AZURE_POWERSHELL_APP_ID as POWERSHELL_APP_ID
from kitlib.errors import UsageError

__all__ = [
    "ARM_RESOURCE_ID",
    "CLI_APP_ID",
    "MIN_USERS",
    "POLICY_DELETE_DEFINITION",
    "POLICY_WRITE_DEFINITION",
    "POWERSHELL_APP_ID",
    "TABLE_NAMES",
    "DemoSummary",
    "auth_library",
    "fallback_auth_library",
    "generate",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate` wrote."""

    out: Path
    paths: dict[str, Path]  # table name (and "ground_truth") -> file
    rows: dict[str, int]  # table name -> rows written
    identities: int  # user identities in the ground truth
    workload_identities: int
    seconds: float


def policy_effects(tenant: Tenant, o: dict[str, np.ndarray]) -> None:
    """What Azure Policy does with each planned operation: audit on the audited subscriptions, deny on the
    enforced one during the last days.

    The MFA policies judge a user's create/update and delete that passed RBAC (a refused one never
    reaches them) by whether the persona signed in with MFA. A denial answers 401 or 403 at random:
    the kit must read the error code, not the status.
    """
    evaluated = (o["prin"] < tenant.n_users) & (OP_KIND[o["op"]] != KIND_ACTION) & (o["pat"] != PAT_RBAC)
    without_mfa = evaluated & ~CLAIM_MFA[o["amr"]]
    o["audit"] = (without_mfa & np.isin(o["sub"], AUDIT_SUBS)).astype(np.int64)
    deny = without_mfa & (o["sub"] == ENFORCED_SUB) & (o["ts"] >= tenant.now_us - ENFORCED_DAYS * DAY)
    o["deny"] = deny.astype(np.int64)
    status = np.where(tenant.rng.random(len(deny)) < 0.5, PAT_DENIED, PAT_DENIED_401)
    o["pat"] = np.where(deny, status, o["pat"]).astype(np.int8)


def generate(out: Path, *, users: int = 1500, days: int = 30, seed: int = 42, now: dt.datetime) -> DemoSummary:
    """Write a demo tenant (five tables + ``ground_truth.json``) into ``out``; same args, same bytes.

    ``now`` ends the window ``[now - days, now)``; a naive ``now`` is taken as UTC. Existing
    table files in ``out`` are replaced.
    """
    started = time.perf_counter()
    if isinstance(users, bool) or not isinstance(users, int) or users < MIN_USERS:
        raise UsageError(f"users must be an integer >= {MIN_USERS} (every persona needs a few), got {users!r}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise UsageError(f"days must be an integer between 1 and 366, got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(now, dt.datetime):
        raise UsageError(f"now must be a datetime, got {type(now).__name__}")
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    tenant = Tenant(users, days, seed, now)
    tenant.build_population()
    tenant.plan()
    s = tenant.signins.finish()
    w = tenant.wl_signins.finish()
    o = tenant.ops.finish()
    policy_effects(tenant, o)
    log.info(
        "demo plan: %d user sign-ins, %d workload sign-ins, %d operations", len(s["ts"]), len(w["ts"]), len(o["ts"])
    )

    s_uti = uti_bytes(tenant.rng, len(s["ts"])) if len(s["ts"]) else np.zeros((0, 22), np.uint8)
    w_uti = uti_bytes(tenant.rng, len(w["ts"])) if len(w["ts"]) else np.zeros((0, 22), np.uint8)
    m = Materialiser(tenant, out)
    m.user_signins(s, s_uti)
    m.workload_signins(w, w_uti)
    m.activity(o, s["ts"], s_uti, w["ts"], w_uti)

    truth = ground_truth(tenant, s, o, seed, now)
    truth_path = out / "ground_truth.json"
    truth_path.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths = {table: out / f"{table}.parquet" for table in TABLE_NAMES}
    paths["ground_truth"] = truth_path
    seconds = time.perf_counter() - started
    log.info("demo tenant in %s: %s rows, %d identities, %.1fs", out, m.rows, len(truth["identities"]), seconds)
    return DemoSummary(
        out=out,
        paths=paths,
        rows={table: m.rows[table] for table in TABLE_NAMES},
        identities=len(truth["identities"]),
        workload_identities=len(truth["workload_identities"]),
        seconds=seconds,
    )
