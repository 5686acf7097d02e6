"""The batch runner: every notebook through papermill, one offline HTML each, a run folder.

``render_report`` is what ``kitlib report`` and ``make report`` call. A run folder holds::

    index.html               links to every report, what ran and what failed
    <notebook>.html          one offline report per notebook that succeeded
    notebooks/<notebook>.ipynb   the executed notebooks (sensitive: raw data unless pseudonymised)
    identities.csv, tools.csv    the analysis exports (when the analysis module is present)
    manifest.json            what ran, parameters, status, durations, glued numbers, gaps

Rules it keeps: unknown parameter names are rejected before anything runs (papermill would
inject them silently); no HTML is published from a failed notebook; papermill's absolute paths
are removed from notebook metadata; with ``pseudonymize`` every file is leak-checked before it
is published, and nothing is published on a hit. Work happens in a staging folder beside
``out`` and is moved in at the end, so a reader never sees a half-written run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from kitlib.analysis.cache import analysis_key, write_cached_analysis
from kitlib.analysis.exports import write_exports
from kitlib.analysis.findings import gap_lines, next_steps
from kitlib.analysis.history import snapshot, write_snapshot
from kitlib.analysis.impact import analyze
from kitlib.analysis.model import Analysis
from kitlib.analysis.routing import UNASSIGNED, Owner, read_owners, route
from kitlib.backends.connect import connect, resolve_workspace, workspace_label
from kitlib.backends.coverage import Coverage, empty_window_warning, workspace_coverage
from kitlib.domain.schema import TABLES
from kitlib.environment import (
    ANALYSIS_CACHE_ENV,
    HISTORY_ENV,
    PSEUDONYM_KEY_ENV,
    PSEUDONYM_KEY_ORIGIN_ENV,
    RUNNER_ONLY,
    WORKSPACE_ENV,
)
from kitlib.errors import UsageError
from kitlib.privacy.leakcheck import check_folder
from kitlib.privacy.protect import protect_analysis, protect_frame
from kitlib.privacy.pseudonyms import Pseudonymizer, new_key_text, read_ledger, write_mapping
from kitlib.query.catalog import get_query
from kitlib.reporting.execute import default_jobs, run_notebooks
from kitlib.reporting.export import plotly_js
from kitlib.reporting.index import write_index
from kitlib.reporting.outcome import NotebookRun, ReportRun
from kitlib.reporting.params import available_notebooks, resolve_notebook, validate_parameters
from kitlib.reporting.publish import publish, publish_refusal, write_manifest
from kitlib.reporting.worklists import Worklists, write_worklists
from kitlib.resources import notebooks_dir
from kitlib.timeparse import format_timespan, parse_lookback, parse_now

log = logging.getLogger(__name__)

#: The query that says which resources each identity wrote to (uncapped): what routes it to owners.
WRITE_RESOURCES = "arm_write_resources"


log = logging.getLogger(__name__)


# -- parameters -------------------------------------------------------------------------------


# -- history: one small snapshot per scheduled run ------------------------------------------


# -- notebooks ------------------------------------------------------------------------------


# -- results ---------------------------------------------------------------------------------


# -- execution --------------------------------------------------------------------------------


# -- the run --------------------------------------------------------------------------------


def render_report(
    workspace: str,
    out: Path,
    *,
    now: dt.datetime | None = None,
    lookback: dt.timedelta = dt.timedelta(days=30),
    notebooks: list[str] | None = None,
    pseudonymize: bool = False,
    jobs: int | None = None,
    progress: bool = True,
    breakglass: Sequence[str] = (),
    parameters: Mapping[str, Any] | None = None,
    reidentify_map: Path | None = None,
    history: Path | None = None,
    keep_history: bool = True,
    timeout: float | None = 1800,
    owners: Path | None = None,
) -> ReportRun:
    """Run the notebooks on ``workspace`` and publish the run folder ``out``.

    ``parameters`` are extra notebook parameters (e.g. ``identity`` for the drill-down), passed
    to the notebooks that declare them; a name no selected notebook declares is rejected.
    ``reidentify_map`` (pseudonymised runs only) is where the pseudonym -> identity table is
    written; it must lie outside ``out``. ``history`` (default ``<out>/../history``) keeps one
    small snapshot per run for the trend; it holds original identities, so it must lie outside
    ``out`` too. ``keep_history=False`` neither reads nor writes it. ``owners`` is an owners file
    (``scope,owner,contact``): findings are routed to the teams owning what each identity wrote to,
    as worklists (without it, one list per subscription).
    """
    began = time.perf_counter()
    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    when = (now or generated_at).astimezone(dt.UTC)
    if lookback <= dt.timedelta(0):
        raise UsageError("lookback must be positive")
    if jobs is not None and jobs < 1:
        raise UsageError("jobs must be at least 1")
    if reidentify_map is not None and not pseudonymize:
        raise UsageError("a re-identification map only makes sense with pseudonymize")
    out = Path(out).expanduser().resolve()
    if reidentify_map is not None:
        target = Path(reidentify_map).expanduser().resolve()
        if target == out or out in target.parents:
            raise UsageError(f"the re-identification map must not be written inside the report folder {out}")
    history_dir = (
        (Path(history).expanduser().resolve() if history else out.parent / "history") if keep_history else None
    )
    if history_dir is not None and (history_dir == out or out in history_dir.parents):
        raise UsageError(f"the history folder must not be inside the report folder {out}")
    spec = resolve_workspace(workspace or None)
    if Path(spec).expanduser().is_dir():
        spec = str(Path(spec).expanduser().resolve())
    extra = dict(parameters or {})
    owner_table = read_owners(owners) if owners is not None else None
    sources = [resolve_notebook(n) for n in notebooks] if notebooks else available_notebooks()
    if not sources:
        raise UsageError(f"no notebooks found in {notebooks_dir()}")
    if len({s.stem for s in sources}) != len(sources):
        raise UsageError("the same notebook was selected twice")
    declared = validate_parameters(sources, extra, pseudonymize)

    # Pseudonymisation: one key for every kernel of this run, so pseudonyms agree across reports.
    env: dict[str, str] = {}
    drop: list[str] = list(RUNNER_ONLY)
    ledger_dir: Path | None = None
    pseudonymizer: Pseudonymizer | None = None
    notes: list[str] = []
    if pseudonymize:
        key_text = os.environ.get(PSEUDONYM_KEY_ENV, "")
        if key_text:
            env[PSEUDONYM_KEY_ENV] = key_text
        else:
            env[PSEUDONYM_KEY_ENV] = new_key_text()
            env[PSEUDONYM_KEY_ORIGIN_ENV] = "run"
        pseudonymizer = Pseudonymizer.from_env(env)
        ledger_dir = Path(tempfile.mkdtemp(prefix="kitlib-ledger-"))
        if "identity" in extra and isinstance(extra["identity"], str) and extra["identity"]:
            # The drill-down receives the pseudonym: the original never enters the notebook.
            extra["identity"] = pseudonymizer.pseudonym(extra["identity"], "user")
    # Parameters land in executed notebooks and the manifest: pseudonymise identities in them.
    shown_breakglass = [pseudonymizer.pseudonym(b, "user") for b in breakglass] if pseudonymizer else list(breakglass)
    # A pseudonymised run keeps absolute paths (which name users and hosts) out of the executed
    # notebooks and the manifest: the kernels get the workspace and history folders from the
    # environment, and the parameters say only "" (meaning: from the environment).
    hide_paths = pseudonymize
    if hide_paths:
        env[WORKSPACE_ENV] = spec
        if history_dir is not None:
            env[HISTORY_ENV] = str(history_dir)
        else:
            drop.append(HISTORY_ENV)
    shared: dict[str, Any] = {
        "workspace": "" if hide_paths else spec,
        "now": when.isoformat().replace("+00:00", "Z"),
        "lookback": format_timespan(lookback),
        "breakglass": shown_breakglass,
        "pseudonymize": pseudonymize,
    }
    runs = []
    for src in sources:
        params = dict(shared)
        params.update({k: v for k, v in extra.items() if k in declared[src]})
        if "history" in declared[src]:
            params["history"] = str(history_dir) if history_dir is not None and not hide_paths else ""
        runs.append(NotebookRun(name=src.stem, source=src.name, parameters=params))

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    (staging / "notebooks").mkdir()
    report = ReportRun(
        out=out,
        notebooks=runs,
        started_at=generated_at.isoformat(),
        duration_seconds=0.0,
        parameters=shared | {"workspace": workspace_label(spec) if hide_paths else spec, "extra": extra},
    )
    cache_dir = Path(tempfile.mkdtemp(prefix="kitlib-analysis-"))
    try:
        analysis, coverage = _analyze_once(spec, when, lookback, breakglass, shown_breakglass, cache_dir, env)
        protected = protect_analysis(pseudonymizer, analysis, source=workspace_label(spec))
        _record_gaps(report, protected, coverage, lookback)
        report.exports = sorted(path.name for path in write_exports(protected, staging))
        # The worklists need one more query and a spreadsheet, and nothing in the notebooks: they are
        # made while the kernels run (the kernels are other processes; this thread alone uses the
        # pseudonymizer until the notebooks are done).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kitlib-worklists") as pool:
            handing = pool.submit(
                _hand_over, spec, analysis, protected, pseudonymizer, staging, owner_table, generated_at
            )
            run_notebooks(
                runs,
                {r.name: s for r, s in zip(runs, sources, strict=True)},
                staging,
                env=env,
                drop=drop,
                ledger_dir=ledger_dir,
                jobs=jobs or default_jobs(len(runs)),
                progress=progress,
                timeout=timeout,
                generated_at=generated_at,
                notes=notes,
                keep_failed=not pseudonymize,
            )
            handed = handing.result()
        report.exports += handed.files
        report.worklists = {
            "owners": handed.owners,
            "per_subscription": owner_table is None,
            "identities": handed.identities,
            "unassigned": handed.unassigned,
        }
        if handed.unassigned:
            report.warnings.append(
                f"{handed.unassigned} identit{'y' if handed.unassigned == 1 else 'ies'} with a finding could not be "
                f"routed to an owner (see the '{UNASSIGNED}' worklist)"
            )
        if pseudonymizer is not None and ledger_dir is not None:
            originals = set(pseudonymizer.originals)
            # Everyone the analysis saw, whether or not a notebook showed them: their UPNs
            # (whose local parts the leak check also scans for), object ids and display names.
            originals.update(_known_originals(analysis.identities))
            for ledger in ledger_dir.glob("*.json"):
                for original, kind in read_ledger(ledger).items():
                    originals.add(original)
                    pseudonymizer.pseudonym(original, kind)  # so error texts can be scrubbed
            for run in runs:
                if run.error:
                    run.error = pseudonymizer.scrub_text(run.error)
        report.duration_seconds = round(time.perf_counter() - began, 2)
        write_manifest(report, staging)
        write_index(report, staging, generated_at)
        if pseudonymizer is not None:
            hits = check_folder(staging, originals, ignore=(plotly_js(),))
            if hits:
                report.leak_hits = len(hits)
                report.published = False
                files = sorted({h.path.relative_to(staging).as_posix() for h in hits})
                log.error("leak check found original identifiers in %s; nothing was published", ", ".join(files))
                report.warnings.append(
                    f"leak check: {len(hits)} original identifier(s) in {', '.join(files)}; nothing was published"
                )
                publish_refusal(report, out)
                return report
            if reidentify_map is not None:
                write_mapping(pseudonymizer.mapping(), Path(reidentify_map), forbidden=out)
        publish(staging, out)
        if history_dir is not None:
            write_snapshot(history_dir, snapshot(analysis.identities, workspace=spec, now=when, lookback=lookback))
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(cache_dir, ignore_errors=True)
        if ledger_dir is not None:
            shutil.rmtree(ledger_dir, ignore_errors=True)


def _known_originals(identities: Any) -> set[str]:
    """Identities, object ids and display names in an (unpseudonymised) identities frame."""
    found: set[str] = set()
    for column in ("identity", "user_id", "display_name"):
        if column in getattr(identities, "columns", ()):
            found.update(str(v) for v in identities[column] if isinstance(v, str) and v.strip())
    return found


def _record_gaps(report: ReportRun, analysis: Analysis, coverage: list[Coverage], lookback: dt.timedelta) -> None:
    """What the analysis could not see goes to the run's manifest and console: gaps first, then the rest.

    ``analysis`` is the protected one (its warnings scrubbed of identities in a pseudonymised run).
    """
    start, end = analysis.window
    report.missing_tables = sorted(set(analysis.missing_tables))
    report.gaps = gap_lines(report.missing_tables)
    report.complete = analysis.complete
    report.coverage = [c.to_dict() for c in coverage]
    window = empty_window_warning(coverage, start, end, lookback)
    found = [*report.gaps, *([window] if window else []), *analysis.warnings]
    if not analysis.complete:
        found.insert(0, "some query results are partial: the counts are lower bounds (see the warnings)")
    report.warnings = list(dict.fromkeys([*report.warnings, *found]))


def _analyze_once(
    spec: str,
    now: dt.datetime,
    lookback: dt.timedelta,
    breakglass: Sequence[str],
    shown_breakglass: Sequence[str],
    cache_dir: Path,
    env: dict[str, str],
) -> tuple[Analysis, list[Coverage]]:
    """Run the analysis once for the whole batch and hand it to the kernels through a private cache.

    Every notebook would otherwise repeat the same queries. The cache is keyed by the exact
    parameters the notebooks receive, so a notebook with different ones recomputes. Also
    returns how the present tables' rows lie against the window (to name a misplaced window).
    """
    with connect(spec, now=now) as backend:
        analysis = analyze(backend, now=now, lookback=lookback, breakglass=list(breakglass))
        coverage = workspace_coverage(backend, *analysis.window)
        absent = [t for t in TABLES if t not in backend.available_tables()]
    # The analysis names the absent tables of the queries it tried; a skipped query never asks
    # about its optional tables. The run states every absent table the kit reads.
    analysis.missing_tables = list(dict.fromkeys([*analysis.missing_tables, *absent]))
    # The key as a kernel will compute it from the parameters it is given (same parsing, and
    # the break-glass list as the kernels see it: pseudonyms in a pseudonymised run).
    key = analysis_key(
        spec,
        parse_now(now.isoformat().replace("+00:00", "Z")),
        parse_lookback(format_timespan(lookback)),
        shown_breakglass,
    )
    env[ANALYSIS_CACHE_ENV] = str(write_cached_analysis(cache_dir / "analysis.pickle", key, analysis))
    return analysis, coverage


def _hand_over(
    spec: str,
    analysis: Analysis,
    protected: Analysis,
    pseudonymizer: Pseudonymizer | None,
    staging: Path,
    owners: list[Owner] | None,
    generated_at: dt.datetime,
) -> Worklists:
    """Route the findings to owners on the original data, then write the worklists pseudonymised as asked.

    Routing compares resource ids with the owners' scopes, so it must see them unscrubbed.
    """
    start, end = analysis.window
    writes = pd.DataFrame(columns=["Identity", "Resource", "SubscriptionId", "Operations", "OperationsWithoutMfa"])
    if "AzureActivity" not in analysis.missing_tables:
        with connect(spec, now=end) as backend:
            writes = backend.run(get_query(WRITE_RESOURCES), {"start": start, "end": end}).frame
    routed = route(analysis.identities, writes, owners)
    shown = protect_frame(pseudonymizer, routed, {"identity": "user"})
    policy = protected.frames.get("arm_policy_mfa_events")
    steps = next_steps(
        protected.identities,
        policy if policy is not None and len(policy.columns) else None,
        analysis.missing_tables,
    )
    return write_worklists(
        staging,
        shown,
        protected.identities,
        generated_at=generated_at,
        window=analysis.window,
        headline=protected.summary(),
        first_steps=steps[:3],
        per_subscription=owners is None,
    )
