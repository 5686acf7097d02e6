"""The kit's benchmark: demo tenants at two sizes, the report end to end, every query, and KQL vs SQL vs pandas.

Run from the checkout root (``make bench`` does)::

    .venv/bin/python bench/run_bench.py

Phases, in order (each records the load average before and after it):

1. **tenants**: ``kitlib demo`` at each size, cached under ``build/bench/`` keyed by users, days,
   seed, ``now`` and a hash of the generator, so a rerun skips generation (the generation time
   recorded when it was built is reported).
2. **report**: ``kitlib report`` as a subprocess, wall time and process-tree memory (see
   ``procmon.py`` for which memory figures and why).
3. **queries**: every ``queries/*.kql`` on each size with the analysis' parameters (window
   ``[now - 30d, now]``; the drill-down identity for ``identity_timeline``), median of rounds.
4. **compare**: the two heaviest queries (by median time on the largest size) as KQL-on-DuckDB,
   hand-written DuckDB SQL (``bench/sql/``) and pandas (``bench/pandas_impl.py``), interleaved in
   rotating order each round so background load hits all three alike; every result's digest must
   match the KQL one.

Writes ``bench/results.md`` (tables, targets met or missed, then ``bench/notes.md``: the profile
and proposed fixes) and ``build/bench/results.json`` (every raw number).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from digest import SPECS, differences, digest  # noqa: E402
from procmon import Measured, run_measured  # noqa: E402

log = logging.getLogger("bench")

SIZES: dict[str, int] = {"small": 1500, "large": 20000}
GiB = 1024**3
MiB = 1024**2
TARGETS = {"small_report_seconds": 60.0, "large_report_seconds": 300.0, "large_peak_rss": 4 * GiB, "kql_vs_sql": 2.0}


# --- small helpers ------------------------------------------------------------------------------


def load() -> float:
    """The 1-minute load average (what the other engineers' work adds to ours)."""
    return round(os.getloadavg()[0], 2)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def kitlib_command() -> list[str]:
    """``kitlib`` from the same environment as this interpreter."""
    exe = Path(sys.executable).with_name("kitlib")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "kitlib"]


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_info() -> dict[str, Any]:
    """nproc, memory, CPU model and the versions that matter, for the results header."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    commit = git("rev-parse", "--short", "HEAD")
    dirty = " (+ uncommitted changes)" if git("status", "--porcelain", "--", "kitlib", "queries", "notebooks") else ""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "duckdb-kql": version("duckdb-kql"),
        "pandas": version("pandas"),
        "pyarrow": version("pyarrow"),
        "papermill": version("papermill"),
        "kitlib": f"{version('kitlib')} @ {commit or 'unknown commit'}{dirty}",
    }


@dataclass
class Phase:
    """Wall time and load average around one phase of the run."""

    name: str
    load_before: float
    load_after: float = 0.0
    seconds: float = 0.0


@dataclass
class Run:
    """Everything measured, serialised to results.json and rendered into results.md."""

    started: str
    command: str
    machine: dict[str, Any]
    args: dict[str, Any]
    phases: list[Phase] = field(default_factory=list)
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    heavy: list[str] = field(default_factory=list)
    compare: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    total_seconds: float = 0.0


class Timer:
    """Context manager recording a :class:`Phase` on ``run``."""

    def __init__(self, run: Run, name: str) -> None:
        self.phase = Phase(name, load())
        run.phases.append(self.phase)
        self.started = 0.0

    def __enter__(self) -> Phase:
        self.started = time.perf_counter()
        log.info("phase %s (load %.2f)", self.phase.name, self.phase.load_before)
        return self.phase

    def __exit__(self, *exc: object) -> None:
        self.phase.seconds = round(time.perf_counter() - self.started, 2)
        self.phase.load_after = load()


# --- 1. tenants ---------------------------------------------------------------------------------


def generator_hash() -> str:
    """Changes whenever the demo generator does, so a stale cached tenant is never reused."""
    h = hashlib.sha256()
    generator = sorted((ROOT / "kitlib" / "demo").glob("*.py"))
    for path in [*generator, ROOT / "kitlib" / "domain" / "schema.py", ROOT / "kitlib" / "domain" / "apps.py"]:
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


def ensure_tenant(cache: Path, users: int, days: int, seed: int, now: str) -> dict[str, Any]:
    """The cached demo tenant for these arguments, generating it (measured) when absent."""
    stamp = now.replace(":", "").replace("-", "")
    folder = cache / "tenants" / f"u{users}-d{days}-s{seed}-{stamp}-g{generator_hash()}"
    meta_path = folder / "bench-tenant.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        return meta
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [*kitlib_command(), "demo", "--out", str(staging), "--users", str(users), "--days", str(days)]
    command += ["--seed", str(seed), "--now", now]
    log.info("generating %s", folder.name)
    measured = run_measured(command, cwd=ROOT)
    if measured.returncode != 0:
        raise SystemExit(f"kitlib demo failed ({measured.returncode}):\n{measured.stderr[-3000:]}")
    import pyarrow.parquet as pq

    rows = {p.stem: pq.ParquetFile(p).metadata.num_rows for p in sorted(staging.glob("*.parquet"))}
    meta = {
        "path": str(folder),
        "users": users,
        "days": days,
        "seed": seed,
        "now": now,
        "rows": rows,
        "total_rows": sum(rows.values()),
        "bytes": sum(p.stat().st_size for p in staging.glob("*.parquet")),
        "generation_seconds": round(measured.seconds, 2),
        "generation_peak_tree_rss": measured.peak_tree_rss,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "generated_load": load(),
        "summary": measured.stdout.strip(),
    }
    (staging / "bench-tenant.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    prefix = folder.name.rsplit("-g", 1)[0] + "-g"
    for stale in folder.parent.glob(prefix + "*"):  # the same tenant from an older generator
        if stale != folder and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    meta["cached"] = False
    return meta


# --- 2. the report end to end -------------------------------------------------------------------


def run_report(workspace: str, out_root: Path, now: str) -> dict[str, Any]:
    """``kitlib report`` in a subprocess: wall time, process-tree memory, per-notebook times."""
    shutil.rmtree(out_root, ignore_errors=True)  # also the history folder beside the report
    out_root.mkdir(parents=True)
    # INFO logging makes the parent log each query and the end of the analysis; procmon dates each
    # line on arrival, which splits the wall time without touching the kit.
    command = [*kitlib_command(), "--log-level", "INFO", "report", "--workspace", workspace]
    command += ["--out", str(out_root / "report"), "--now", now, "--no-progress"]
    before = load()
    measured: Measured = run_measured(command, cwd=ROOT)
    result: dict[str, Any] = {
        "returncode": measured.returncode,
        "seconds": round(measured.seconds, 2),
        "peak_tree_rss": measured.peak_tree_rss,
        "peak_tree_pss": measured.peak_tree_pss,
        "max_single_rss": measured.max_single_rss,
        "peak_processes": measured.peak_processes,
        "samples": measured.samples,
        "load_before": before,
        "load_after": load(),
        "breakdown": breakdown(measured.stderr_lines, measured.seconds),
    }
    manifest = out_root / "report" / "manifest.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        result["status"] = data.get("status")
        result["report_seconds"] = data.get("duration_seconds")
        result["notebooks"] = {n["name"]: [n.get("status"), n.get("duration_seconds")] for n in data["notebooks"]}
        result["warnings"] = data.get("warnings", [])
    if measured.returncode != 0:
        result["stderr"] = measured.stderr[-2000:]
        log.error("kitlib report exited %d: %s", measured.returncode, measured.stderr[-500:])
    return result


QUERY_LINE = re.compile(r"INFO kitlib\.local: query (\w+): (\d+) rows in ([\d.]+)s")
ANALYSIS_LINE = re.compile(r"INFO kitlib\.analysis: analysis: (\d+) identities")


def breakdown(lines: list[tuple[float, str]], total: float) -> dict[str, Any]:
    """Split a report's wall time using its dated INFO lines: start-up, queries, Python join, notebooks.

    Only the parent process logs at INFO (kernels do not configure logging), so the query lines
    are the analysis' own queries, run once for the whole batch.
    """
    queries: list[tuple[float, str, float]] = []
    analysis_end = None
    for t, line in lines:
        if m := QUERY_LINE.search(line):
            queries.append((t, m.group(1), float(m.group(3))))
        elif ANALYSIS_LINE.search(line) and analysis_end is None:
            analysis_end = t
    if analysis_end is None or not queries:
        return {}
    inside = [q for q in queries if q[0] <= analysis_end]
    first_start = inside[0][0] - inside[0][2]
    return {
        "startup": round(first_start, 2),
        "queries": round(sum(q[2] for q in inside), 2),
        "query_times": {name: seconds for _, name, seconds in inside},
        "join": round(analysis_end - inside[-1][0], 2),
        "analysis_end": round(analysis_end, 2),
        "notebooks_and_export": round(total - analysis_end, 2),
    }


# --- 3. every query -----------------------------------------------------------------------------


def drilldown_identity(writes: Any) -> str:
    """The identity the drill-down notebook picks by default: the top writer without MFA."""
    if writes is None or not len(writes):
        return ""
    no_mfa = writes[~writes["TokenHasMfa"].astype(bool) & writes["Kind"].isin(["write", "delete"])]
    if no_mfa.empty:
        return str(writes["Identity"].iloc[0])
    totals = no_mfa.groupby("Identity")["Operations"].sum().sort_values(ascending=False, kind="stable")
    return str(totals.index[0])


def translation_seconds(con: Any, text: str, parameters: dict[str, Any], now: dt.datetime) -> float:
    """Time duckdb-kql spends turning the KQL into SQL (parse + lower), with the connection's schema."""
    import duckdb_kql
    from duckdb_kql.engine import schema

    columns = schema(con)
    started = time.perf_counter()
    duckdb_kql.to_sql(text, schema=columns, parameters=parameters, query_now=now)
    return time.perf_counter() - started


def time_queries(workspace: str, now: dt.datetime, rounds: int, budget: float) -> dict[str, Any]:
    """Median time of every catalog query over ``rounds`` rounds (fewer if ``budget`` seconds run out).

    Each round runs every query once in catalog order, through ``kitlib.query.run.run_query`` with the
    analysis' window, on one ``LocalBackend`` (as the analysis does). The typed views are created
    and the translator warmed up by one untimed query first.
    """
    from kitlib.backends.local import LocalBackend
    from kitlib.query.catalog import get_query, load_catalog
    from kitlib.query.run import run_query

    names = sorted(load_catalog())
    backend = LocalBackend(workspace, now=now)
    run_query(backend, "workload_signins", now=now)  # warm-up: views, translator
    first = run_query(backend, "arm_writes_by_identity", now=now)
    extra = {"identity_timeline": {"identity": drilldown_identity(first.frame)}}
    del first
    times: dict[str, list[float]] = {n: [] for n in names}
    rows: dict[str, int] = {}
    started = time.perf_counter()
    done = 0
    while done < rounds:
        if done and (time.perf_counter() - started) / done * (done + 1) > budget:
            log.warning("query rounds cut to %d: another round would pass the %.0fs budget", done, budget)
            break
        for name in names:
            t = time.perf_counter()
            result = run_query(backend, name, now=now, **extra.get(name, {}))
            times[name].append(time.perf_counter() - t)
            rows[name] = len(result.frame)
            del result
        done += 1
    window = {"start": now - dt.timedelta(days=30), "end": now}
    out: dict[str, Any] = {}
    for name in names:
        query = get_query(name)
        typed = query.coerce_values({**window, **extra.get(name, {})})
        out[name] = {
            "median": median(times[name]),
            "runs": [round(x, 3) for x in times[name]],
            "rows": rows.get(name, 0),
            "translate": round(translation_seconds(backend._con, query.text, typed, now), 3),
        }
    backend.close()
    return out


# --- 4. KQL vs SQL vs pandas ------------------------------------------------------------------


def hand_written_sql(name: str) -> str:
    """``bench/sql/<name>.sql`` with each ``-- include: FILE`` line replaced by that file (a shared stage)."""
    lines = []
    for line in (BENCH / "sql" / f"{name}.sql").read_text().splitlines():
        if line.startswith("-- include:"):
            lines.append((BENCH / "sql" / line.split(":", 1)[1].strip()).read_text().rstrip())
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def compare(
    workspace: str, now: dt.datetime, name: str, rounds: int, budget: float, secondary: dict[str, int]
) -> dict[str, Any]:
    """Interleaved rounds of the implementations of ``name``; digests checked against KQL.

    At least two rounds; further rounds up to ``rounds`` only while they fit in ``budget`` seconds.
    The secondary variants (``pandas``, ``kql_sql_only``) run in the first ``secondary[variant]``
    rounds only (possibly none), which keeps the large size affordable; ``kql`` and ``sql``, whose
    ratio is the target, run in every round.
    """
    import duckdb_kql
    from duckdb_kql.engine import schema
    from pandas_impl import IMPLEMENTATIONS

    from kitlib.backends.local import LocalBackend
    from kitlib.query.catalog import get_query

    start, end = now - dt.timedelta(days=30), now
    params = {"start": start, "end": end}
    query = get_query(name)
    backend = LocalBackend(workspace, now=now)
    backend.run(query, params)  # creates the typed views; the SQL below reads the same ones
    con = backend._con  # the backend's own connection: same views, same settings
    hand_sql = hand_written_sql(name)
    generated = duckdb_kql.to_sql(query.text, schema=schema(con), parameters=query.coerce_values(params), query_now=now)

    variants: dict[str, Callable[[], Any]] = {
        "kql": lambda: backend.run(query, params).frame,
        "kql_sql_only": lambda: con.execute(str(generated), generated.parameters).df(),
        "sql": lambda: con.execute(hand_sql, params).df(),
        "pandas": lambda: IMPLEMENTATIONS[name](Path(workspace), start, end),
    }
    order = list(variants)
    times: dict[str, list[float]] = {v: [] for v in order}
    digests: dict[str, dict[str, Any]] = {}
    loads: list[float] = []
    started = time.perf_counter()
    last_round = 0.0
    for r in range(rounds):
        if r >= 2 and time.perf_counter() - started + last_round > budget:
            log.warning("%s: compare rounds cut to %d by the %.0fs budget", name, r, budget)
            rounds = r
            break
        round_started = time.perf_counter()
        loads.append(load())
        rotated = order[r % len(order) :] + order[: r % len(order)]
        for variant in rotated:
            if r >= secondary.get(variant, rounds):
                continue
            t = time.perf_counter()
            frame = variants[variant]()
            times[variant].append(time.perf_counter() - t)
            if variant not in digests and variant != "kql_sql_only":
                digests[variant] = digest(frame, SPECS[name])
            del frame
        last_round = time.perf_counter() - round_started
    backend.close()
    reference = digests["kql"]
    checks = {v: differences(reference, d) for v, d in digests.items() if v != "kql"}
    med = {v: median(ts) for v, ts in times.items()}  # nan for a variant that did not run
    return {
        "rounds": rounds,
        "times": {v: [round(x, 3) for x in ts] for v, ts in times.items()},
        "median": med,
        "kql_over_sql": med["kql"] / med["sql"],
        "kql_over_pandas": med["kql"] / med["pandas"],
        "pandas_over_sql": med["pandas"] / med["sql"],
        "digest": reference,
        "mismatches": checks,
        "verified": all(not d for d in checks.values()),
        "loads": loads,
    }


# --- results.md ---------------------------------------------------------------------------------


def fmt_bytes(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


def secs(x: float) -> str:
    return "-" if x != x else f"{x:.2f} s"  # x != x: NaN, a variant that did not run


def ratio(x: float) -> str:
    return "-" if x != x else f"{x:.2f}x"


def ok(flag: bool) -> str:
    return "**met**" if flag else "**MISSED**"


def render(run: Run) -> str:
    """results.md: header, tables, target verdicts, then the profiling notes."""
    m = run.machine
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `bench/run_bench.py` on {run.started} (UTC). Command: `{run.command}`.",
        "Rerun with `make bench` (see the README's Benchmark section). Raw numbers: `build/bench/results.json`.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu_model']}, nproc {m['nproc']} |",
        f"| memory | {fmt_bytes(m['memory_bytes'])} |",
        f"| kernel | {m['kernel']} |",
        f"| python | {m['python']} |",
        f"| duckdb / duckdb-kql | {m['duckdb']} / {m['duckdb-kql']} |",
        f"| pandas / pyarrow / papermill | {m['pandas']} / {m['pyarrow']} / {m['papermill']} |",
        f"| kit | {m['kitlib']} |",
        "",
        "The machine is shared: the 1-minute load average is recorded next to every number "
        f"(on {m['nproc']} cores, load {m['nproc']} means fully busy; above it, our work waits for the CPU).",
        "",
        "| phase | wall | load before -> after |",
        "|---|---|---|",
    ]
    lines += [f"| {p.name} | {p.seconds:.0f} s | {p.load_before:.2f} -> {p.load_after:.2f} |" for p in run.phases]
    lines += [f"| **total** | {run.total_seconds:.0f} s | |", ""]

    lines += ["## Demo tenants", "", "| size | users x days | rows (all tables) | Parquet | generation | cached |"]
    lines += ["|---|---|---|---|---|---|"]
    for size, t in run.tenants.items():
        rows = ", ".join(f"{k} {v:,}" for k, v in t["rows"].items())
        peak = fmt_bytes(t["generation_peak_tree_rss"])
        gen = f"{t['generation_seconds']:.0f} s (peak {peak}, load {t['generated_load']})"
        lines.append(
            f"| {size} | {t['users']:,} x {t['days']} | {t['total_rows']:,} ({rows}) | {fmt_bytes(t['bytes'])} | "
            f"{gen} | {'yes, reused' if t['cached'] else 'no, generated now'} |"
        )
    lines.append("")

    lines += [
        "## The report end to end (`kitlib report`)",
        "",
        "Peak tree RSS = largest sum of RSS over `kitlib report` and all its kernels, sampled every 0.2 s "
        "(an upper bound: shared pages count once per process). Tree PSS = the same with shared pages split. "
        "Max single = `ru_maxrss` from `wait4`, the largest single process (what `RUSAGE_CHILDREN` reports); "
        "it is not a sum, so it understates a tree of parallel kernels. The 4 GiB target is checked against "
        "peak tree RSS.",
        "",
        "| size | run | wall | peak tree RSS | peak tree PSS | max single RSS | processes | load before -> after | "
        "notebooks (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, runs in run.reports.items():
        for i, r in enumerate(runs, 1):
            nbs = ", ".join(f"{k} {v[1]:.0f}" for k, v in r.get("notebooks", {}).items())
            status = "" if r["returncode"] == 0 else f" (exit {r['returncode']})"
            lines.append(
                f"| {size} | {i}{status} | {r['seconds']:.1f} s | {fmt_bytes(r['peak_tree_rss'])} | "
                f"{fmt_bytes(r['peak_tree_pss'])} | {fmt_bytes(r['max_single_rss'])} | {r['peak_processes']} | "
                f"{r['load_before']:.2f} -> {r['load_after']:.2f} | {nbs} |"
            )
    lines.append("")

    splits = [(size, i, r["breakdown"]) for size, runs in run.reports.items() for i, r in enumerate(runs, 1)]
    splits = [x for x in splits if x[2]]
    if splits:
        lines += [
            "Where a report's wall time goes (from its own INFO log lines, dated on arrival): start-up and "
            "imports; the analysis' 8 queries (run once per report, in the parent); the analysis' Python join "
            "(`kitlib.analysis.impact.analyze` after its last query); then the notebooks (2 kernels in parallel) and "
            "the HTML/CSV export.",
            "",
            "| size | run | start-up | analysis queries | analysis Python join | notebooks + export |",
            "|---|---|---|---|---|---|",
        ]
        for size, i, b in splits:
            lines.append(
                f"| {size} | {i} | {b['startup']:.1f} s | {b['queries']:.1f} s | {b['join']:.1f} s | "
                f"{b['notebooks_and_export']:.1f} s |"
            )
        lines.append("")

    if run.queries:
        sizes = list(run.queries)
        lines += [
            "## Every query (KQL on DuckDB through `LocalBackend.run`: translate + execute + fetch + normalise)",
            "",
            "Window `[now - 30d, now]` as the analysis uses; `identity_timeline` for the drill-down's default "
            "identity (top writer without MFA). Median of the runs listed (after one untimed warm-up query). "
            "`translate` = duckdb-kql's parse + lowering alone, included in the median.",
            "",
            "| query | " + " | ".join(f"{s} median | {s} runs | {s} translate | {s} rows" for s in sizes) + " |",
            "|---|" + "---|---|---|---|" * len(sizes),
        ]
        names = sorted(run.queries[sizes[-1]], key=lambda n: -run.queries[sizes[-1]][n]["median"])
        for n in names:
            cells = []
            for s in sizes:
                q = run.queries[s].get(n)
                if q is None:
                    cells.append("- | - | - | -")
                    continue
                runs_text = ", ".join(f"{x:.2f}" for x in q["runs"])
                cells.append(f"{q['median']:.2f} s | {runs_text} | {q['translate']:.2f} s | {q['rows']:,}")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        totals = [sum(q["median"] for q in run.queries[s].values()) for s in sizes]
        lines.append("| **sum** | " + " | ".join(f"**{t:.1f} s** | | |" for t in totals) + " |")
        lines.append("")

    if run.compare:
        lines += [
            "## Heavy queries: KQL-on-DuckDB vs hand-written DuckDB SQL vs pandas",
            "",
            f"The two heaviest queries by median time on the largest size: {', '.join(run.heavy)}. "
            "All variants in the same process and round-robin rounds (order rotated every round); `runs` = "
            "rounds of kql and sql / of pandas / of the SQL-only variant: by default pandas is left out on the "
            "large size, where one pandas run takes minutes (`--pandas-rounds large=1` to include it). "
            "`kql` = the kit's path (`LocalBackend.run`: translate, execute, fetch, parse dynamic columns); "
            "`kql SQL only` = the SQL duckdb-kql generated, executed directly (no translation, no JSON parsing "
            "of results); `sql` = `bench/sql/<query>.sql` on the same connection and typed views; "
            "`pandas` = `bench/pandas_impl.py` reading the Parquet files (time includes reading). "
            "Digest = row count, sorted group keys, sums of every numeric/bool/datetime column, set sizes "
            "and set contents (see `bench/digest.py`).",
            "",
            "| size | query | kql | kql SQL only | sql | pandas | kql / sql | kql / pandas | same result | runs "
            "| load |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for key, c in run.compare.items():
            size, name = key.split(":", 1)
            med = c["median"]
            same = (
                "yes (digest equal)"
                if c["verified"]
                else "NO: " + "; ".join(f"{v}: {', '.join(d[:3])}" for v, d in c["mismatches"].items() if d)
            )
            loads = f"{min(c['loads']):.1f}-{max(c['loads']):.1f}"
            runs = " / ".join(str(len(c["times"][v])) for v in ("kql", "pandas", "kql_sql_only"))
            lines.append(
                f"| {size} | {name} | {secs(med['kql'])} | {secs(med['kql_sql_only'])} | {secs(med['sql'])} | "
                f"{secs(med['pandas'])} | **{ratio(c['kql_over_sql'])}** | {ratio(c['kql_over_pandas'])} | {same} | "
                f"{runs} | {loads} |"
            )
        lines.append("")
        lines.append(
            "Individual runs (s): "
            + "; ".join(
                f"{k} " + ", ".join(f"{v}=[{', '.join(f'{x:.2f}' for x in ts)}]" for v, ts in c["times"].items())
                for k, c in run.compare.items()
            )
        )
        lines.append("")

    lines += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for verdict in targets(run):
        lines.append(f"| {verdict[0]} | {verdict[1]} | {ok(verdict[2])} |")
    lines.append("")
    if run.notes:
        lines += ["Notes from this run:", ""] + [f"- {n}" for n in run.notes] + [""]
    notes = BENCH / "notes.md"
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def targets(run: Run) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for every target the run has numbers for."""
    out: list[tuple[str, str, bool]] = []
    small = [r for r in run.reports.get("small", []) if r["returncode"] == 0]
    if small:
        best = median([r["seconds"] for r in small])
        out.append(("small report < 60 s end to end", f"{best:.1f} s (median of {len(small)})", best < 60))
    large = [r for r in run.reports.get("large", []) if r["returncode"] == 0]
    if large:
        secs = median([r["seconds"] for r in large])
        rss = max(r["peak_tree_rss"] for r in large)
        out.append(("large report < 5 min end to end", f"{secs:.1f} s", secs < 300))
        out.append(("large report peak RSS < 4 GiB (tree sum)", fmt_bytes(rss), rss < 4 * GiB))
    for key, c in run.compare.items():
        out.append((f"KQL within 2x of hand SQL: {key}", f"{c['kql_over_sql']:.2f}x", c["kql_over_sql"] <= 2.0))
    for size, runs in run.reports.items():
        for r in runs:
            if r["returncode"] != 0:
                out.append((f"{size} report completes", f"exit {r['returncode']}", False))
    return out


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small,large", help="comma-separated: small (1,500 users), large (20,000)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", default="2026-11-27T00:00:00Z", help="the demo tenant's and the report's now")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "bench", help="tenants, report runs, raw json")
    parser.add_argument("--out", type=Path, default=BENCH / "results.md")
    parser.add_argument("--report-runs", default="small=2,large=1", help="report repetitions per size")
    parser.add_argument("--query-rounds", type=int, default=3, help="rounds per size (at least 1 is run)")
    parser.add_argument("--query-budget", default="small=60,large=150", help="seconds per size for query rounds")
    parser.add_argument("--compare-rounds", default="small=5,large=3", help="rounds per size (at least 2 are run)")
    parser.add_argument(
        "--pandas-rounds", default="small=5,large=0", help="compare rounds that include pandas (large=1 adds ~4 min)"
    )
    parser.add_argument("--sql-only-rounds", default="small=5,large=1", help="compare rounds with the generated SQL")
    parser.add_argument("--compare-budget", default="small=90,large=150", help="seconds per size and query")
    parser.add_argument("--phases", default="tenants,report,queries,compare")
    parser.add_argument("--render-only", action="store_true", help="rewrite --out from the last results.json")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}; known: {', '.join(SIZES)}")
    phases = set(args.phases.split(","))
    report_runs = {k: int(v) for k, v in (p.split("=") for p in args.report_runs.split(","))}
    compare_rounds = {k: int(v) for k, v in (p.split("=") for p in args.compare_rounds.split(","))}
    secondary = {
        variant: {k: int(v) for k, v in (p.split("=") for p in text.split(","))}
        for variant, text in (("pandas", args.pandas_rounds), ("kql_sql_only", args.sql_only_rounds))
    }
    budgets = {
        name: {k: float(v) for k, v in (p.split("=") for p in text.split(","))}
        for name, text in (("query", args.query_budget), ("compare", args.compare_budget))
    }
    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")).astimezone(dt.UTC)

    if args.render_only:
        data = json.loads((args.cache / "results.json").read_text())
        data["phases"] = [Phase(**p) for p in data["phases"]]
        args.out.write_text(render(Run(**data)) + "\n")
        print(f"wrote {args.out} from {args.cache / 'results.json'}")
        return 0

    began = time.perf_counter()
    command = (
        "make bench" if os.environ.get("MAKELEVEL") else "python bench/run_bench.py " + " ".join(argv or sys.argv[1:])
    )
    run = Run(
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=command.strip(),
        machine=machine_info(),
        args={k: str(v) for k, v in vars(args).items()},
    )
    args.cache.mkdir(parents=True, exist_ok=True)

    with Timer(run, "tenants"):
        for size in sizes:
            run.tenants[size] = ensure_tenant(args.cache, SIZES[size], args.days, args.seed, args.now)
            log.info("tenant %s: %s", size, run.tenants[size]["path"])

    if "report" in phases:
        for size in sizes:
            with Timer(run, f"report {size}"):
                run.reports[size] = []
                for i in range(report_runs.get(size, 1)):
                    out_root = args.cache / "runs" / size
                    result = run_report(run.tenants[size]["path"], out_root, args.now)
                    log.info(
                        "report %s #%d: %.1fs, tree RSS %s",
                        size,
                        i + 1,
                        result["seconds"],
                        fmt_bytes(result["peak_tree_rss"]),
                    )
                    run.reports[size].append(result)

    if "queries" in phases:
        for size in sizes:
            with Timer(run, f"queries {size}"):
                run.queries[size] = time_queries(
                    run.tenants[size]["path"], now, args.query_rounds, budgets["query"][size]
                )

    if "compare" in phases:
        ranking_size = sizes[-1]
        if run.queries:
            ranked = sorted(run.queries[ranking_size], key=lambda n: -run.queries[ranking_size][n]["median"])
        else:
            ranked = list(SPECS)
        missing = [n for n in ranked[:2] if n not in SPECS]
        for n in missing:
            run.notes.append(
                f"{n} ranks in the top two but has no hand SQL/pandas version in bench/; the next one is used"
            )
        run.heavy = [n for n in ranked if n in SPECS][:2]
        for size in sizes:
            with Timer(run, f"compare {size}"):
                for name in run.heavy:
                    run.compare[f"{size}:{name}"] = compare(
                        run.tenants[size]["path"],
                        now,
                        name,
                        compare_rounds.get(size, 3),
                        budgets["compare"][size],
                        {variant: per_size.get(size, 1) for variant, per_size in secondary.items()},
                    )
                    c = run.compare[f"{size}:{name}"]
                    log.info("compare %s %s: kql/sql %.2fx verified=%s", size, name, c["kql_over_sql"], c["verified"])

    run.total_seconds = round(time.perf_counter() - began, 1)
    (args.cache / "results.json").write_text(json.dumps(asdict(run), indent=1, default=str) + "\n")
    args.out.write_text(render(run) + "\n")
    print(f"wrote {args.out} ({run.total_seconds:.0f}s)")
    failed = [r for runs in run.reports.values() for r in runs if r["returncode"] != 0]
    unverified = [k for k, c in run.compare.items() if not c["verified"]]
    if unverified:
        print(f"results differ between implementations: {', '.join(unverified)}", file=sys.stderr)
    return 1 if failed or unverified else 0


if __name__ == "__main__":
    sys.exit(main())
