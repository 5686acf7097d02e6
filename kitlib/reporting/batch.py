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
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitlib.errors import KitError, NotebookError, UsageError
from kitlib.notebook import RUN_GLUE, esc, format_timespan, read_glued
from kitlib.resources import notebooks_dir

if TYPE_CHECKING:  # nbformat imports jsonschema (slow); the notebooks import this module for history
    import nbformat

log = logging.getLogger(__name__)

KERNEL_NAME = "kitlib"
#: The parameters every kit notebook declares; the runner passes them to each notebook.
SHARED_PARAMETERS = ("workspace", "now", "lookback", "breakglass", "pseudonymize")
#: Reading order in index.html; other notebooks follow alphabetically.
ORDER = ("readiness_overview", "identities_at_risk", "automation_accounts", "tools_and_versions", "identity_drilldown")
#: Glued values that are not summary numbers (they go to the header, not the manifest summary).
_NOT_SUMMARY = {RUN_GLUE}


# -- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotebookParameter:
    """One entry of a notebook's ``parameters`` cell, as papermill reads it."""

    name: str
    type: str
    default: str
    help: str


def notebook_parameters(path: Path | str) -> list[NotebookParameter]:
    """The typed parameters a notebook declares (what ``kitlib params NOTEBOOK`` prints)."""
    import papermill

    source = resolve_notebook(path)
    try:
        found = papermill.inspect_notebook(str(source))
    except Exception as exc:  # papermill raises plain exceptions for unreadable notebooks
        raise NotebookError(f"cannot read the parameters of {source}: {exc}") from None
    return [
        NotebookParameter(
            p["name"], str(p.get("inferred_type_name", "None")), str(p.get("default", "")), str(p.get("help", ""))
        )
        for p in found.values()
    ]


def format_parameters(params: Sequence[NotebookParameter]) -> str:
    """A plain-text table of parameters for the CLI."""
    if not params:
        return "(no parameters cell)"
    width = max(len(f"{p.name}: {p.type} = {p.default}") for p in params)
    return "\n".join(f"{f'{p.name}: {p.type} = {p.default}':<{width}}  {p.help}".rstrip() for p in params)


# -- history: one small snapshot per scheduled run ------------------------------------------

#: Snapshot files: ``snapshot-<run time>.json`` in the history folder (default: ``<out>/../history``).
SNAPSHOT_GLOB = "snapshot-*.json"
_VERDICTS_TRACKED = ("will_break", "at_risk")


def snapshot(identities: Any, *, workspace: str, now: dt.datetime, lookback: dt.timedelta) -> dict[str, Any]:
    """What a later run compares against: verdict counts and who would break or is at risk.

    Holds original identities: it is kept beside, never inside, a report folder.
    """
    ids = identities[~identities["breakglass"].astype(bool)] if "breakglass" in identities else identities
    tracked = ids[ids["verdict"].isin(_VERDICTS_TRACKED)]
    return {
        "version": 1,
        "run_at": now.astimezone(dt.UTC).isoformat(),
        "workspace": workspace,
        "lookback": format_timespan(lookback),
        "counts": {
            **{v: int((ids["verdict"] == v).sum()) for v in ("will_break", "at_risk", "not_affected", "unknown")},
            "writes_without_mfa": int(ids["arm_writes_without_mfa"].sum()) if len(ids) else 0,
        },
        "identities": {str(i): str(v) for i, v in zip(tracked["identity"], tracked["verdict"], strict=True)},
    }


def write_snapshot(folder: Path, snap: Mapping[str, Any]) -> Path:
    """Write ``snap`` as ``snapshot-<run time>.json`` (a rerun for the same instant replaces it)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromisoformat(str(snap["run_at"])).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"snapshot-{stamp}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snap, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path


def load_history(
    folder: Path, *, workspace: str | None = None, before: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Snapshots in ``folder`` (oldest first), for ``workspace`` and strictly before ``before``."""
    if not folder.is_dir():
        return []
    snaps = []
    for path in sorted(folder.glob(SNAPSHOT_GLOB)):
        try:
            snap = json.loads(path.read_text(encoding="utf-8"))
            run_at = dt.datetime.fromisoformat(str(snap["run_at"]))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("history: skipping unreadable snapshot %s (%s)", path.name, exc)
            continue
        if workspace is not None and snap.get("workspace") != workspace:
            continue
        if before is not None and run_at >= before:
            continue
        snaps.append(snap)
    return sorted(snaps, key=lambda s: str(s["run_at"]))


def history_frame(snapshots: Sequence[Mapping[str, Any]], current: Mapping[str, Any] | None = None) -> Any:
    """One row per run (earlier snapshots plus the current one): the burn-down's data."""
    import pandas as pd

    rows = [
        {
            "run_at": pd.Timestamp(str(s["run_at"])),
            **{k: s["counts"].get(k, 0) for k in ("will_break", "at_risk", "writes_without_mfa")},
        }
        for s in [*snapshots, *([current] if current else [])]
    ]
    return pd.DataFrame(rows, columns=["run_at", "will_break", "at_risk", "writes_without_mfa"])


#: ``change`` values of :func:`changes`.
CHANGE_NEW, CHANGE_WORSE, CHANGE_BETTER = "new", "worse", "better"
CHANGE_REMEDIATED, CHANGE_NOT_SEEN = "remediated", "no longer seen"


def changes(previous: Mapping[str, Any] | None, identities: Any, rename: Any = None) -> Any:
    """Who is new at risk, who got worse or better, who was remediated since ``previous`` (a snapshot).

    ``remediated`` is a claim that needs evidence in the newer run: the identity now writes to
    ARM with MFA and makes no write without it, or it is ``not_affected`` with MFA'd ARM tokens
    and no single-factor ones. An identity that merely stopped appearing, or is seen without
    that evidence (no writes at all, or a verdict that is now ``unknown``), is ``no longer seen``
    (in the window, doing what put it at risk): absence is not a fix. ``rename`` maps the
    snapshot's original identities to what ``identities`` shows (pseudonyms in a pseudonymised run).
    """
    import pandas as pd

    columns = ["identity", "before", "now", "change"]
    if previous is None:
        return pd.DataFrame(columns=columns)
    name = rename or (lambda v: v)
    before = {name(i): v for i, v in previous.get("identities", {}).items()}
    ids = identities[~identities["breakglass"].astype(bool)] if "breakglass" in identities else identities
    records = {str(r["identity"]): r for r in ids.to_dict("records")}
    rows = []
    for identity, record in sorted(records.items()):
        verdict, old = record["verdict"], before.get(identity)
        if verdict in _VERDICTS_TRACKED and old is None:
            rows.append((identity, "not at risk", verdict, CHANGE_NEW))
        elif verdict == "will_break" and old == "at_risk":
            rows.append((identity, old, verdict, CHANGE_WORSE))
    for identity, old in sorted(before.items()):
        found = records.get(identity)
        verdict = found["verdict"] if found is not None else None
        if verdict in _VERDICTS_TRACKED:
            if old == "will_break" and verdict == "at_risk":
                rows.append((identity, old, verdict, CHANGE_BETTER))
            continue
        fixed = found is not None and _remediated(found)
        rows.append((identity, old, verdict or "not seen", CHANGE_REMEDIATED if fixed else CHANGE_NOT_SEEN))
    return pd.DataFrame(rows, columns=columns)


def _remediated(record: Mapping[str, Any]) -> bool:
    """Evidence of a fix: MFA'd writes and none without, or only MFA'd ARM tokens (not_affected)."""

    def number(column: str) -> int:
        value = record.get(column)
        return int(value) if value is not None and value == value else 0

    if record.get("verdict") != "not_affected" or number("arm_writes_without_mfa") > 0:
        return False
    writes_with_mfa = number("arm_writes") - number("arm_writes_without_mfa")
    return writes_with_mfa > 0 or (number("arm_signins_mfa") > 0 and number("arm_signins_single_factor") == 0)


# -- notebooks ------------------------------------------------------------------------------


def resolve_notebook(name: Path | str) -> Path:
    """A notebook by path, or by name in the notebooks folder (``readiness_overview``)."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    candidate = notebooks_dir() / f"{path.stem}.ipynb"
    if candidate.is_file():
        return candidate.resolve()
    known = ", ".join(p.stem for p in available_notebooks())
    raise UsageError(f"no notebook named {str(name)!r}; known notebooks: {known or '(none)'}")


def available_notebooks() -> list[Path]:
    """The kit's notebooks in reading order."""
    found = {p.stem: p for p in notebooks_dir().glob("*.ipynb")}
    ordered = [found.pop(n) for n in ORDER if n in found]
    return ordered + [found[n] for n in sorted(found)]


# -- results ---------------------------------------------------------------------------------


@dataclass
class NotebookRun:
    """One notebook's outcome in a run."""

    name: str
    source: str
    parameters: dict[str, Any]
    status: str = "pending"  # ok | failed | withheld
    duration_seconds: float = 0.0
    executed: str | None = None
    html: str | None = None
    html_bytes: int = 0
    figures: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    error: str | None = None


@dataclass
class ReportRun:
    """What a batch produced; ``exit_code`` is 0 only when every notebook succeeded and nothing leaked."""

    out: Path
    notebooks: list[NotebookRun]
    started_at: str
    duration_seconds: float
    parameters: dict[str, Any]
    exports: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    leak_hits: int = 0
    published: bool = True

    @property
    def ok(self) -> bool:
        return self.published and self.leak_hits == 0 and all(r.status == "ok" for r in self.notebooks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.json"

    @property
    def failed(self) -> list[NotebookRun]:
        return [r for r in self.notebooks if r.status != "ok"]


# -- execution --------------------------------------------------------------------------------


def _kernel_manager_class(extra_env: Mapping[str, str], drop_env: Iterable[str]) -> type:
    """An AsyncKernelManager that starts kernels with extra environment variables.

    Passing the environment per kernel (instead of editing ``os.environ``) keeps parallel runs
    and the calling process untouched.
    """
    from jupyter_client.manager import AsyncKernelManager

    additions = dict(extra_env)
    removals = tuple(drop_env)

    import zmq

    class KitKernelManager(AsyncKernelManager):
        # Encrypt the kernel channels where libzmq can (and avoid ipykernel's plain-TCP warning).
        def __init__(self, **kwargs: Any) -> None:
            if zmq.has("curve"):
                kwargs.setdefault("transport_encryption", "auto")
            super().__init__(**kwargs)

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            env = dict(kw.pop("env", None) or os.environ)
            for name in removals:
                env.pop(name, None)
            env.update(additions)
            # The kernel process's own stderr is ipykernel chatter (cell output travels over
            # ZMQ and lands in the executed notebook); keep it out of scheduler logs.
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
            await super().start_kernel(env=env, **kw)

    return KitKernelManager


def _scrub_papermill_metadata(path: Path, relative: str) -> nbformat.NotebookNode:
    """Replace papermill's absolute input/output paths (they leak user names) with relative ones."""
    import nbformat

    nb: nbformat.NotebookNode = nbformat.read(str(path), as_version=4)
    pm = nb.metadata.get("papermill", {})
    if "input_path" in pm:
        pm["input_path"] = Path(str(pm["input_path"])).name
    if "output_path" in pm:
        pm["output_path"] = relative
    nbformat.write(nb, str(path))
    return nb


def _error_text(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    return text.strip()[:800]


def _execute_one(
    run: NotebookRun,
    source: Path,
    staging: Path,
    *,
    manager_class: type,
    timeout: float | None,
    generated_at: dt.datetime,
    notes: Sequence[str],
    keep_failed: bool,
) -> NotebookRun:
    import papermill

    executed = staging / "notebooks" / f"{run.name}.ipynb"
    relative = f"notebooks/{run.name}.ipynb"
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters=run.parameters,
            kernel_name=KERNEL_NAME,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=True,
            execution_timeout=timeout,
            kernel_manager_class=manager_class,
            resources={"metadata": {"path": str(source.parent)}},
        )
        run.status = "ok"
    except Exception as exc:  # papermill/nbclient raise many types; each is a failed notebook
        run.status = "failed"
        run.error = _error_text(exc)
        log.error("notebook %s failed: %s", run.name, run.error)
    run.duration_seconds = round(time.perf_counter() - started, 2)
    if not executed.is_file():
        return run
    nb = _scrub_papermill_metadata(executed, relative)
    glued = read_glued(nb)
    record = glued.get(RUN_GLUE) or {}
    run.missing_tables = list(record.get("missing_tables") or [])
    run.warnings = list(record.get("warnings") or [])
    run.complete = bool(record.get("complete", True))
    run.summary = {k: v for k, v in glued.items() if k not in _NOT_SUMMARY}
    if run.status != "ok":
        if keep_failed:
            run.executed = relative
        else:
            executed.unlink()
        return run
    run.executed = relative
    try:
        from kitlib.reporting.export import export_html

        result = export_html(nb, staging / f"{run.name}.html", generated_at=generated_at, notes=notes)
    except (KitError, Exception) as exc:  # an export failure fails this notebook, not the batch
        run.status = "failed"
        run.error = f"export failed: {_error_text(exc)}"
        return run
    run.html = result.path.name
    run.html_bytes = result.bytes
    run.figures = result.figures
    return run


# -- the run --------------------------------------------------------------------------------


def _validate_parameters(sources: Sequence[Path], extra: Mapping[str, Any], pseudonymize: bool) -> dict[Path, set[str]]:
    declared = {src: {p.name for p in notebook_parameters(src)} for src in sources}
    for src, names in declared.items():
        missing = [p for p in SHARED_PARAMETERS if p not in names]
        if missing:
            raise UsageError(
                f"notebook {src.stem} does not declare {', '.join(missing)} in its parameters cell; "
                f"every report notebook must (pseudonymisation and the window depend on it)"
            )
    everything = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(extra) - everything)
    if unknown:
        raise UsageError(
            f"unknown notebook parameter(s): {', '.join(unknown)}; "
            f"the selected notebooks take: {', '.join(sorted(everything))}"
        )
    shadowing = sorted(set(extra) & {*SHARED_PARAMETERS, "history"})
    if shadowing:
        raise UsageError(f"pass {', '.join(shadowing)} with their own options, not as extra parameters")
    return declared


def _default_jobs(count: int) -> int:
    return max(1, min(count, os.cpu_count() or 1, 4))


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
) -> ReportRun:
    """Run the notebooks on ``workspace`` and publish the run folder ``out``.

    ``parameters`` are extra notebook parameters (e.g. ``identity`` for the drill-down), passed
    to the notebooks that declare them; a name no selected notebook declares is rejected.
    ``reidentify_map`` (pseudonymised runs only) is where the pseudonym -> identity table is
    written; it must lie outside ``out``. ``history`` (default ``<out>/../history``) keeps one
    small snapshot per run for the trend; it holds original identities, so it must lie outside
    ``out`` too. ``keep_history=False`` neither reads nor writes it.
    """
    from kitlib.backends.connect import resolve_workspace
    from kitlib.privacy.pseudonyms import (
        KEY_ENV,
        KEY_ORIGIN_ENV,
        LEDGER_ENV,
        Pseudonymizer,
        check_folder,
        new_key_text,
        read_ledger,
        write_mapping,
    )

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
    sources = [resolve_notebook(n) for n in notebooks] if notebooks else available_notebooks()
    if not sources:
        raise UsageError(f"no notebooks found in {notebooks_dir()}")
    if len({s.stem for s in sources}) != len(sources):
        raise UsageError("the same notebook was selected twice")
    declared = _validate_parameters(sources, extra, pseudonymize)

    # Pseudonymisation: one key for every kernel of this run, so pseudonyms agree across reports.
    env: dict[str, str] = {}
    drop: list[str] = [LEDGER_ENV, KEY_ORIGIN_ENV, "KITLIB_ANALYSIS_CACHE"]
    ledger_dir: Path | None = None
    pseudonymizer: Pseudonymizer | None = None
    notes: list[str] = []
    if pseudonymize:
        key_text = os.environ.get(KEY_ENV, "")
        if key_text:
            env[KEY_ENV] = key_text
        else:
            env[KEY_ENV] = new_key_text()
            env[KEY_ORIGIN_ENV] = "run"
        pseudonymizer = Pseudonymizer.from_env(env)
        ledger_dir = Path(tempfile.mkdtemp(prefix="kitlib-ledger-"))
        if "identity" in extra and isinstance(extra["identity"], str) and extra["identity"]:
            # The drill-down receives the pseudonym: the original never enters the notebook.
            extra["identity"] = pseudonymizer.pseudonym(extra["identity"], "user")
    # Parameters land in executed notebooks and the manifest: pseudonymise identities in them.
    shown_breakglass = [pseudonymizer.pseudonym(b, "user") for b in breakglass] if pseudonymizer else list(breakglass)
    shared: dict[str, Any] = {
        "workspace": spec,
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
            params["history"] = str(history_dir) if history_dir is not None else ""
        runs.append(NotebookRun(name=src.stem, source=src.name, parameters=params))

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    (staging / "notebooks").mkdir()
    report = ReportRun(
        out=out,
        notebooks=runs,
        started_at=generated_at.isoformat(),
        duration_seconds=0.0,
        parameters={k: v for k, v in shared.items()} | {"extra": extra},
    )
    cache_dir = Path(tempfile.mkdtemp(prefix="kitlib-analysis-"))
    try:
        analysis, analysis_warnings = _analyze_once(spec, when, lookback, breakglass, shown_breakglass, cache_dir, env)
        report.warnings.extend(analysis_warnings)
        if analysis is not None:
            report.exports = _write_exports(analysis, spec, staging, when, lookback, pseudonymizer)
        _run_notebooks(
            runs,
            {r.name: s for r, s in zip(runs, sources, strict=True)},
            staging,
            env=env,
            drop=drop,
            ledger_dir=ledger_dir,
            jobs=jobs or _default_jobs(len(runs)),
            progress=progress,
            timeout=timeout,
            generated_at=generated_at,
            notes=notes,
            keep_failed=not pseudonymize,
        )
        if pseudonymizer is not None and ledger_dir is not None:
            originals = set(pseudonymizer.originals)
            if analysis is not None:
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
        _write_manifest(report, staging)
        _write_index(report, staging, generated_at)
        if pseudonymizer is not None:
            from kitlib.reporting.export import plotly_js

            hits = check_folder(staging, originals, ignore=(plotly_js(),))
            if hits:
                report.leak_hits = len(hits)
                report.published = False
                files = sorted({h.path.relative_to(staging).as_posix() for h in hits})
                log.error("leak check found original identifiers in %s; nothing was published", ", ".join(files))
                report.warnings.append(
                    f"leak check: {len(hits)} original identifier(s) in {', '.join(files)}; nothing was published"
                )
                _publish_refusal(report, out)
                return report
            if reidentify_map is not None:
                write_mapping(pseudonymizer.mapping(), Path(reidentify_map), forbidden=out)
        _publish(staging, out)
        if history_dir is not None and analysis is not None:
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


def _run_notebooks(
    runs: list[NotebookRun],
    sources: Mapping[str, Path],
    staging: Path,
    *,
    env: Mapping[str, str],
    drop: Sequence[str],
    ledger_dir: Path | None,
    jobs: int,
    progress: bool,
    timeout: float | None,
    generated_at: dt.datetime,
    notes: Sequence[str],
    keep_failed: bool,
) -> None:
    from tqdm.auto import tqdm

    failed = 0
    with tqdm(
        total=len(runs), desc="report", unit="notebook", disable=not progress, file=sys.stderr, leave=True
    ) as bar:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="kitlib-report") as pool:
            futures = {}
            for run in runs:
                kernel_env = dict(env)
                removals = list(drop)
                if ledger_dir is not None:
                    from kitlib.privacy.pseudonyms import LEDGER_ENV

                    kernel_env[LEDGER_ENV] = str(ledger_dir / f"{run.name}.json")
                    removals.remove(LEDGER_ENV)
                manager = _kernel_manager_class(kernel_env, removals)
                futures[
                    pool.submit(
                        _execute_one,
                        run,
                        sources[run.name],
                        staging,
                        manager_class=manager,
                        timeout=timeout,
                        generated_at=generated_at,
                        notes=notes,
                        keep_failed=keep_failed,
                    )
                ] = run
            for future in as_completed(futures):
                run = future.result()
                failed += run.status != "ok"
                bar.set_postfix_str(f"last={run.name} ({run.status}, {run.duration_seconds:.0f}s) failed={failed}")
                bar.update(1)


def _analyze_once(
    spec: str,
    now: dt.datetime,
    lookback: dt.timedelta,
    breakglass: Sequence[str],
    shown_breakglass: Sequence[str],
    cache_dir: Path,
    env: dict[str, str],
) -> tuple[Any, list[str]]:
    """Run the analysis once for the whole batch and hand it to the kernels through a private cache.

    Every notebook would otherwise repeat the same queries. The cache is keyed by the exact
    parameters the notebooks receive, so a notebook with different ones recomputes.
    """
    import pickle

    try:
        from kitlib.analysis.impact import analyze
    except ImportError:
        return None, [
            "the analysis module is not available in this build: identities.csv and tools.csv were not written"
        ]
    from kitlib.backends.connect import connect
    from kitlib.notebook import ANALYSIS_CACHE_ENV, analysis_key, parse_lookback, parse_now

    backend = connect(spec, now=now)
    analysis = analyze(backend, now=now, lookback=lookback, breakglass=list(breakglass))
    close = getattr(backend, "close", None)
    if callable(close):
        close()
    # The key as a kernel will compute it from the parameters it is given (same parsing, and
    # the break-glass list as the kernels see it: pseudonyms in a pseudonymised run).
    key = analysis_key(
        spec,
        parse_now(now.isoformat().replace("+00:00", "Z")),
        parse_lookback(format_timespan(lookback)),
        shown_breakglass,
    )
    cache = cache_dir / "analysis.pickle"
    fd = os.open(cache, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        pickle.dump((key, analysis), handle, protocol=pickle.HIGHEST_PROTOCOL)
    env[ANALYSIS_CACHE_ENV] = str(cache)
    return analysis, []


def _write_exports(
    analysis: Any,
    spec: str,
    staging: Path,
    now: dt.datetime,
    lookback: dt.timedelta,
    pseudonymizer: Any,
) -> list[str]:
    """identities.csv / tools.csv from the analysis, pseudonymised with the run's key."""
    from kitlib.analysis.impact import write_exports
    from kitlib.backends.connect import connect
    from kitlib.notebook import NotebookContext

    ctx = NotebookContext(
        workspace=spec,
        backend=connect(spec, now=now),
        now=now,
        lookback=lookback,
        pseudonymizer=pseudonymizer,
        live_glue=False,
    )
    written = write_exports(ctx.protect_analysis(analysis), staging)
    return sorted(Path(p).name for p in written)


def _manifest_dict(report: ReportRun) -> dict[str, Any]:
    from kitlib import __version__

    return {
        "kit_version": __version__,
        "started_at": report.started_at,
        "duration_seconds": report.duration_seconds,
        "status": "ok" if report.ok else ("refused" if not report.published else "failed"),
        "parameters": report.parameters,
        "exports": report.exports,
        "warnings": report.warnings,
        "leak_check": (
            None
            if not report.parameters.get("pseudonymize")
            else {"hits": report.leak_hits, "published": report.published}
        ),
        "notebooks": [asdict(r) for r in report.notebooks],
    }


def _write_manifest(report: ReportRun, folder: Path) -> None:
    (folder / "manifest.json").write_text(json.dumps(_manifest_dict(report), indent=2, default=str), encoding="utf-8")


def _write_index(report: ReportRun, folder: Path, generated_at: dt.datetime) -> None:
    """An offline page linking the reports and stating what failed (all text escaped)."""
    from kitlib import __version__
    from kitlib.reporting.export import status_sentence

    params = report.parameters
    rows = []
    for run in report.notebooks:
        sentence = status_sentence(
            run.status, figures=run.figures, seconds=run.duration_seconds, error=run.error or "", notebook=run.name
        )
        status = esc(sentence)
        if run.status == "ok" and run.html:
            link = f'<a href="{esc(run.html)}">{esc(run.name.replace("_", " "))}</a>'
        else:
            link = esc(run.name.replace("_", " "))
        gaps = ""
        if run.missing_tables:
            gaps = f"tables absent: {esc(', '.join(run.missing_tables))}"
        rows.append(f"<tr><td>{link}</td><td>{status}</td><td>{gaps}</td></tr>")
    exports = "".join(f'<li><a href="{esc(name)}">{esc(name)}</a></li>' for name in report.exports)
    overview = next((r.summary for r in report.notebooks if r.name == "readiness_overview" and r.status == "ok"), {})
    headline = ""
    if overview:
        parts = [
            (label, overview[key])
            for label, key in (
                ("user identities would break", "will_break"),
                ("of them likely automation", "will_break_automation"),
                ("at risk", "at_risk"),
                ("writes without MFA per day", "writes_without_mfa_per_day"),
            )
            if key in overview
        ]
        headline = "<p><strong>" + " &middot; ".join(f"{esc(v)} {esc(k)}" for k, v in parts) + "</strong></p>"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in report.warnings)
    window = f"{esc(params.get('lookback'))} ending {esc(params.get('now'))}"
    workspace = esc(Path(str(params.get("workspace"))).name or params.get("workspace"))
    generated = esc(generated_at.strftime("%Y-%m-%d %H:%M UTC"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>MFA readiness report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:32px auto;padding:0 16px;color:#1f2328}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #d8dee4;padding:6px 12px;text-align:left}}
.meta{{color:#57606a}}</style></head>
<body><h1>MFA readiness report</h1>
<p class="meta">Workspace {workspace} &middot; window {window} &middot; generated {generated}
&middot; kit {esc(__version__)}
{" &middot; identities pseudonymised" if params.get("pseudonymize") else ""}</p>
{headline}
<table><thead><tr><th>Report</th><th>Status</th><th>Gaps</th></tr></thead><tbody>{"".join(rows)}</tbody></table>
{f"<h2>Data files</h2><ul>{exports}</ul>" if exports else ""}
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
<p class="meta">Executed notebooks are in <code>notebooks/</code>;
manifest.json lists parameters, durations and summary numbers.</p>
</body></html>
"""
    (folder / "index.html").write_text(page, encoding="utf-8")


def _previous_outputs(out: Path) -> list[Path]:
    """Files an earlier run wrote into ``out`` (from its manifest), to be replaced, not mixed."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return []
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    names = ["manifest.json", "index.html", *data.get("exports", [])]
    for run in data.get("notebooks", []):
        names.extend(n for n in (run.get("html"), run.get("executed")) if n)
    return [out / n for n in names]


def _publish(staging: Path, out: Path) -> None:
    """Move the staged run into ``out``, replacing what the previous run there had written."""
    out.mkdir(parents=True, exist_ok=True)
    for old in _previous_outputs(out):
        if old.is_file() and (old.resolve() == out or out in old.resolve().parents):
            old.unlink()
    for item in sorted(staging.rglob("*")):
        if item.is_file():
            target = out / item.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, target)


def _publish_refusal(report: ReportRun, out: Path) -> None:
    """On a leak: remove the previous run's outputs too, and leave only a manifest saying why."""
    out.mkdir(parents=True, exist_ok=True)
    for old in _previous_outputs(out):
        if old.is_file():
            old.unlink()
    for run in report.notebooks:
        run.html = None
        run.executed = None
        run.summary = {}
        run.error = run.error and "withheld (pseudonymised run)"
    report.exports = []
    _write_manifest(report, out)
