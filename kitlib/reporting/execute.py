"""Running one notebook through papermill in its own kernel, and exporting it when it succeeded.

Kernels get their environment per process (never by editing ``os.environ``), so parallel runs
and the calling process stay untouched. A failed notebook never gets an HTML page.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import nbformat
import papermill
import zmq
from jupyter_client.manager import AsyncKernelManager
from tqdm.auto import tqdm

from kitlib.environment import PSEUDONYM_LEDGER_ENV
from kitlib.errors import KitError
from kitlib.render.glue import RUN_GLUE, read_glued
from kitlib.reporting.export import export_html
from kitlib.reporting.outcome import NotebookRun
from kitlib.reporting.params import KERNEL_NAME

log = logging.getLogger(__name__)


#: Glued values that are not summary numbers (they go to the header, not the manifest summary).
_NOT_SUMMARY = {RUN_GLUE}


def _kernel_manager_class(extra_env: Mapping[str, str], drop_env: Iterable[str]) -> type:
    """An AsyncKernelManager that starts kernels with extra environment variables.

    Passing the environment per kernel (instead of editing ``os.environ``) keeps parallel runs
    and the calling process untouched.
    """
    additions = dict(extra_env)
    removals = tuple(drop_env)

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


#: How long a kernel may take to start, and how often a start that failed is tried.
KERNEL_START_SECONDS = 180
KERNEL_START_ATTEMPTS = 2


def _kernel_did_not_start(exc: BaseException) -> bool:
    """A failure before the first cell ran: the kernel died or stayed silent while starting."""
    text = f"{type(exc).__name__}: {exc}"
    return "before replying to kernel_info" in text or "Kernel didn't respond" in text or "kernel_info" in text


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
    executed = staging / "notebooks" / f"{run.name}.ipynb"
    relative = f"notebooks/{run.name}.ipynb"
    started = time.perf_counter()
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
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
                start_timeout=KERNEL_START_SECONDS,
                kernel_manager_class=manager_class,
                resources={"metadata": {"path": str(source.parent)}},
            )
            run.status = "ok"
            break
        except Exception as exc:  # papermill/nbclient raise many types; each is a failed notebook
            if attempt < KERNEL_START_ATTEMPTS and _kernel_did_not_start(exc):
                # A loaded machine can starve a starting kernel; no cell ran yet, so try once more.
                log.warning("notebook %s: the kernel did not start (%s); starting it again", run.name, exc)
                continue
            run.status = "failed"
            run.error = _error_text(exc)
            log.error("notebook %s failed: %s", run.name, run.error)
            break
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
        result = export_html(nb, staging / f"{run.name}.html", generated_at=generated_at, notes=notes)
    except (KitError, Exception) as exc:  # an export failure fails this notebook, not the batch
        run.status = "failed"
        run.error = f"export failed: {_error_text(exc)}"
        return run
    run.html = result.path.name
    run.html_bytes = result.bytes
    run.figures = result.figures
    return run


def default_jobs(count: int) -> int:
    return max(1, min(count, os.cpu_count() or 1, 4))


def run_notebooks(
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
                    kernel_env[PSEUDONYM_LEDGER_ENV] = str(ledger_dir / f"{run.name}.json")
                    removals.remove(PSEUDONYM_LEDGER_ENV)
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
