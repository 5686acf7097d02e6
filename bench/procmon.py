"""Run a command and measure its wall time and the memory of its whole process tree.

Three memory figures, because each answers a different question:

* ``peak_tree_rss``: the largest *sum* of RSS over the command and all its descendants, sampled
  every ``interval`` seconds with psutil. This is what the target is checked against. It counts
  shared pages (libraries, the page cache of mmapped files) once per process, so it is an upper
  bound on what the tree really needs; a spike shorter than the interval can be missed.
* ``peak_tree_pss``: the same sum with PSS (shared pages split between the processes sharing
  them), the fairest "how much RAM did this take" figure Linux offers.
* ``max_single_rss``: ``ru_maxrss`` from ``wait4`` on the command, i.e. the largest peak RSS of
  any *single* process in the tree (the command or a waited-for descendant). Exact, not sampled,
  but it is a maximum over processes, not a sum: with several notebook kernels alive at once it
  understates the tree's footprint. That is also all ``getrusage(RUSAGE_CHILDREN)`` can report.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil


@dataclass
class Measured:
    """Outcome of one measured command."""

    returncode: int
    seconds: float
    peak_tree_rss: int  # bytes
    peak_tree_pss: int  # bytes
    max_single_rss: int  # bytes
    peak_processes: int
    samples: int
    stdout: str
    stderr: str
    stderr_lines: list[tuple[float, str]]  # (seconds since start when the line arrived, line)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def _sample(procs: list[psutil.Process]) -> tuple[int, int]:
    rss = pss = 0
    for proc in procs:
        try:
            full = proc.memory_full_info()
        except (psutil.AccessDenied, psutil.ZombieProcess):
            try:
                rss += proc.memory_info().rss
            except psutil.Error:
                pass
            continue
        except psutil.Error:
            continue
        rss += full.rss
        pss += getattr(full, "pss", full.rss)
    return rss, pss


def run_measured(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    interval: float = 0.2,
    timeout: float | None = None,
) -> Measured:
    """Run ``command`` to completion, sampling its process tree; never leaves a process behind."""
    started = time.perf_counter()
    child = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    root = psutil.Process(child.pid)
    seen: dict[int, psutil.Process] = {child.pid: root}
    chunks: dict[str, list[tuple[float, bytes]]] = {"out": [], "err": []}

    def drain(stream: IO[bytes], key: str) -> None:
        # On threads, so a chatty command cannot block on a full pipe; arrival times date log lines.
        for line in iter(stream.readline, b""):
            chunks[key].append((time.perf_counter() - started, line))

    assert child.stdout is not None and child.stderr is not None
    threads = [
        threading.Thread(target=drain, args=(child.stdout, "out"), daemon=True),
        threading.Thread(target=drain, args=(child.stderr, "err"), daemon=True),
    ]
    for t in threads:
        t.start()
    peak_rss = peak_pss = peak_procs = samples = 0
    status, usage, finished = 0, None, False
    try:
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid == child.pid:
                finished = True
                break
            procs = _tree(root)
            seen.update((p.pid, p) for p in procs)
            rss, pss = _sample(procs)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            peak_procs = max(peak_procs, len(procs))
            samples += 1
            if timeout is not None and time.perf_counter() - started > timeout:
                raise TimeoutError(f"{command[0]} did not finish within {timeout:.0f}s")
            time.sleep(interval)
    finally:
        seconds = time.perf_counter() - started
        _kill_leftovers(seen.values())
        if finished:
            child.returncode = os.waitstatus_to_exitcode(status)
        else:
            child.kill()
            child.wait()
        for t in threads:
            t.join(timeout=5)
        child.stdout.close()
        child.stderr.close()
    return Measured(
        returncode=child.returncode,
        seconds=seconds,
        peak_tree_rss=peak_rss,
        peak_tree_pss=peak_pss,
        max_single_rss=usage.ru_maxrss * 1024 if usage is not None else 0,
        peak_processes=peak_procs,
        samples=samples,
        stdout=b"".join(line for _, line in chunks["out"]).decode("utf-8", "replace"),
        stderr=b"".join(line for _, line in chunks["err"]).decode("utf-8", "replace"),
        stderr_lines=[(round(t, 3), line.decode("utf-8", "replace").rstrip()) for t, line in chunks["err"]],
    )


def _kill_leftovers(procs: Iterable[psutil.Process]) -> None:
    """Kill descendants seen during the run that outlived it (psutil checks the pid was not reused)."""
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                proc.kill()
        except psutil.Error:
            pass
