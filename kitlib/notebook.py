"""The one module a notebook imports: its context, and every helper a kit notebook calls.

A kit notebook reads::

    import kitlib.notebook as kn
    from kitlib.notebook import figures

    ctx = kn.setup(workspace=workspace, now=now, lookback=lookback,
                   breakglass=breakglass, pseudonymize=pseudonymize)

and from then on calls ``ctx.query(...)``, ``ctx.analyze()`` and ``ctx.glue(...)``, and the
display helpers re-exported here (:data:`__all__` is the documented surface; the helpers live
in :mod:`kitlib.render` and :mod:`kitlib.analysis`). Nothing is injected into the notebook's
namespace. The context records what was missing or partial and glues that record
(``kitlib.run``) so the HTML export can say it in the report header. Every frame passes through
the pseudonymiser (when asked for) before it can be displayed, and every data-derived string is
HTML-escaped before it is displayed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kitlib.analysis.cache import analysis_key, cached_analysis
from kitlib.analysis.findings import (
    BELOW_CLAIMS_LABELS,
    IDENTITY_SOURCES,
    action_counts,
    below_claims_versions,
    by_severity,
    could_not_look,
    gap_lines,
    next_steps,
    no_activity_text,
    too_old_clients,
)
from kitlib.analysis.history import changes, history_frame, load_history, snapshot
from kitlib.analysis.impact import analyze
from kitlib.analysis.model import Analysis, empty_frame, empty_timeline, identities_of, split_items, tools_of
from kitlib.analysis.tools import CLI_CAVEAT
from kitlib.backends.base import Backend, QueryResult
from kitlib.backends.connect import connect, resolve_workspace, workspace_label
from kitlib.backends.coverage import empty_window_warning, table_coverage, workspace_coverage
from kitlib.backends.local import empty_result
from kitlib.domain.schema import TABLES
from kitlib.environment import HISTORY_ENV
from kitlib.errors import UsageError
from kitlib.privacy.protect import protect_analysis, protect_frame
from kitlib.privacy.pseudonyms import Pseudonymizer, is_pseudonym
from kitlib.query.catalog import get_query
from kitlib.query.run import run_query
from kitlib.render import figures
from kitlib.render.glue import RUN_GLUE, glue, glue_bundle, read_glued
from kitlib.render.html import (
    HTML,
    bullets,
    esc,
    headline,
    identity_table,
    no_activity,
    note,
    table,
    warnings_note,
)
from kitlib.render.labels import app_label, identity_label, label, readable, subscription_label
from kitlib.timeparse import format_timespan, parse_lookback, parse_now
from kitlib.version import __version__

__all__ = [
    "BELOW_CLAIMS_LABELS",
    "CLI_CAVEAT",
    "HTML",
    "Identity",
    "NotebookContext",
    "action_counts",
    "app_label",
    "below_claims_versions",
    "bullets",
    "by_severity",
    "changes",
    "could_not_look",
    "empty_frame",
    "empty_timeline",
    "esc",
    "figures",
    "gap_lines",
    "glue",
    "glue_bundle",
    "headline",
    "history_frame",
    "identities_of",
    "identity_label",
    "identity_table",
    "label",
    "next_steps",
    "no_activity",
    "note",
    "read_glued",
    "readable",
    "setup",
    "snapshot",
    "split_items",
    "subscription_label",
    "table",
    "too_old_clients",
    "tools_of",
    "warnings_note",
]

# plotly imports nbformat on a kernel's first figure; nbformat imports jsonschema, whose optional
# IRI format checker (rfc3987_syntax) compiles an Earley grammar on import: ~4-5 s of CPU per
# kernel, for a check nothing in a kit notebook uses. Marking the optional module as absent
# makes jsonschema skip that checker (it handles the ImportError); nothing else changes.
if "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """A drill-down subject: ``original`` stays in the kernel, ``shown`` is what reports display."""

    original: str = field(repr=False)
    shown: str

    def __repr__(self) -> str:
        return f"Identity({self.shown!r})"


@dataclass
class NotebookContext:
    """The analysis window, the backend, the pseudonymiser, and the record of what was missing."""

    workspace: str
    backend: Backend
    now: dt.datetime
    lookback: dt.timedelta
    breakglass: tuple[str, ...] = ()
    pseudonymizer: Pseudonymizer | None = None
    missing_tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    live_glue: bool = True
    _analysis: Analysis | None = field(default=None, repr=False)
    _absent: list[str] | None = field(default=None, repr=False)
    # Queries this page ran itself: they read the tables that were there (absent ones stood in empty).
    _read_what_was_there: set[str] = field(default_factory=set, repr=False)
    # The analysis' query frames before pseudonymisation: kernel-only, never displayed.
    _raw_frames: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def start(self) -> dt.datetime:
        return self.now - self.lookback

    @property
    def end(self) -> dt.datetime:
        return self.now

    @property
    def pseudonymize(self) -> bool:
        return self.pseudonymizer is not None

    # -- record of the run ------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """What the report header says: what was analysed, and what was missing."""
        key_note = None
        if self.pseudonymizer is not None:
            key_note = (
                "one-off key for this run: pseudonyms cannot be linked to other reports"
                if self.pseudonymizer.ephemeral
                else "key from KITLIB_PSEUDONYM_KEY: pseudonyms are stable across reports made with it"
            )
        return {
            "workspace": workspace_label(self.workspace),
            "backend": type(self.backend).__name__,
            "now": self.now.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "lookback": format_timespan(self.lookback),
            "breakglass_excluded": len(self.breakglass),
            "kit_version": __version__,
            "pseudonymized": self.pseudonymize,
            "pseudonym_key": key_note,
            "missing_tables": sorted(set(self.missing_tables)),
            "gaps": gap_lines(sorted(set(self.missing_tables))),
            "warnings": list(dict.fromkeys(self.warnings)),
            "complete": self.complete,
            "python": platform.python_version(),
        }

    def _publish_meta(self) -> None:
        if self.live_glue:
            try:
                glue(RUN_GLUE, self.meta())
            except ImportError:  # pragma: no cover - IPython always exists in a kernel
                pass

    def record(
        self, *, missing_tables: Iterable[str] = (), warnings: Iterable[str] = (), complete: bool = True
    ) -> None:
        """Add what a query or the analysis reported; re-glue the record when it changed."""
        before = (len(self.missing_tables), len(self.warnings), self.complete)
        for table_name in missing_tables:
            if table_name not in self.missing_tables:
                self.missing_tables.append(table_name)
        for warning in (self.scrub(w) for w in warnings):
            if warning not in self.warnings:
                self.warnings.append(warning)
        self.complete = self.complete and complete
        if (len(self.missing_tables), len(self.warnings), self.complete) != before:
            for warning in self.warnings[before[1] :]:
                log.warning("%s", warning)
            self._publish_meta()

    # -- data --------------------------------------------------------------------------------

    def query(self, name: str, **parameters: Any) -> pd.DataFrame:
        """Run catalog query ``name`` over the window; personal-data columns are pseudonymised.

        A table the workspace lacks stands in as an empty one (recorded as missing), so a page
        shows what the other tables hold and says, with :meth:`gap_note`, what it could not see.
        """
        result: QueryResult = run_query(
            self.backend, name, now=self.now, lookback=self.lookback, if_absent="empty", **parameters
        )
        self._read_what_was_there.add(name)
        self.record(missing_tables=result.missing_tables, warnings=result.warnings, complete=result.complete)
        roles = dict(get_query(name).pii)
        return self.protect(result.frame, roles)

    def frame(self, name: str) -> pd.DataFrame:
        """The analysis' frame of query ``name``; with no rows but every column when it could not run.

        A query whose table is absent (or that failed) leaves no columns behind; a page that
        filters or plots it would stop on a KeyError. This gives it the query's own columns and
        types instead; :meth:`gap_note` says why it is empty.
        """
        frame = self.analyze().frames.get(name)
        if frame is None or len(frame.columns) == 0:
            return self.protect(empty_result(get_query(name)), dict(get_query(name).pii))
        return frame

    def absent_tables(self) -> list[str]:
        """Every table the kit reads that this workspace lacks (recorded, so the header lists them all).

        The analysis names only the absent tables of queries it tried; a query skipped for one
        table never asks about its optional ones.
        """
        if self._absent is None:
            self._absent = [t for t in TABLES if t not in self.backend.available_tables()]
            self.record(missing_tables=self._absent)
        return self._absent

    def missing(self, *needs: str) -> list[str]:
        """The tables among ``needs`` (query or table names) that this workspace lacks, in order."""
        absent = set(self.absent_tables())
        tables: list[str] = []
        for need in needs:
            tables.extend([need] if need in TABLES else get_query(need).all_tables)
        return [t for t in dict.fromkeys(tables) if t in absent]

    def failed(self, *queries: str) -> list[str]:
        """Queries among ``queries`` the analysis ran without getting an answer (its tables were there)."""
        frames = self.analyze().frames
        return [
            q for q in queries if q in frames and len(frames[q].columns) == 0 and not self.missing(*get_query(q).tables)
        ]

    def unread(self, *needs: str) -> list[str]:
        """Tables the ``needs`` (query or table names) could not read: absent ones, and present ones
        whose query did not run because a table it reads together with them is absent."""
        tables: list[str] = []
        for need in needs:
            if need in TABLES:
                tables.extend(self.missing(need))
            elif need not in self._read_what_was_there and self.missing(*get_query(need).tables):
                tables.extend(get_query(need).all_tables)  # the query did not run: none of its tables was read
            else:
                tables.extend(self.missing(need))  # only optional tables absent
        return list(dict.fromkeys(tables))

    def gap_note(self, *needs: str) -> HTML:
        """Where a section could not look: absent tables, failed queries (empty HTML when it could)."""
        missing = self.missing(*needs)
        unread = [t for t in self.unread(*needs) if t not in set(missing)]
        parts = []
        sentence = could_not_look(missing, unread)
        if sentence:
            parts.append(note(sentence, kind="warning").html)
        broken = self.failed(*(n for n in needs if n not in TABLES))
        if broken:
            text = f"Could not look: the service did not answer {', '.join(broken)} (the header lists why)."
            parts.append(note(text, kind="warning").html)
        return HTML("".join(parts), " ".join(parts) and "could not look")

    def unless_missing(self, display: Any, *needs: str, quiet: bool = False) -> Any:
        """``display`` when the section's tables were there and its queries answered, else its gap note.

        ``quiet``: show nothing instead of the note (an earlier display of the section said it).
        """
        gap = self.gap_note(*needs)
        if not gap.html:
            return display
        return None if quiet else gap

    def unless_unseen(self, display: Any, frame: pd.DataFrame, *needs: str) -> Any:
        """``display``, or nothing when ``frame`` is empty because a table ``needs`` is absent.

        An empty chart says "no data"; where the kit could not look that would read as a
        finding. The section's gap note (or the page's empty state) has already said why.
        """
        if len(frame) == 0 and (self.unread(*needs) or self.failed(*(n for n in needs if n not in TABLES))):
            return None
        return display

    def measured(self, value: Any, *needs: str) -> Any:
        """``value``, or None when a table it is counted from is absent (a number that was not measured)."""
        return None if self.missing(*needs) or self.failed(*(n for n in needs if n not in TABLES)) else value

    def partial(self, value: int, *needs: str) -> int | str | None:
        """A count for a tile: itself when its tables were all there, "at least N" when some were, None when none."""
        missing = self.missing(*needs)
        if not missing:
            return value
        tables = [t for n in needs for t in ([n] if n in TABLES else get_query(n).all_tables)]
        if set(tables) <= set(missing):
            return None
        return f"at least {value:,}"

    def days_covered(self, table: str) -> float | None:
        """Days of the window ``table`` holds data for: what a per-day rate divides by (None when absent).

        An export that starts after the window does, or stops before it ends, would make a rate
        over the window's full length too low.
        """
        if self.missing(table):
            return None
        return table_coverage(self.backend, table, self.start, self.end).days_covered(self.start, self.end)

    def window_warning(self) -> str | None:
        """When no present table has a row in the window: the data's time range and a --now that covers it.

        Recorded as a warning too, so the report header names the misplaced window.
        """
        coverage = workspace_coverage(self.backend, self.start, self.end)
        message = empty_window_warning(coverage, self.start, self.end, self.lookback)
        if message:
            self.record(warnings=[message])
        return message

    def no_activity(self) -> HTML:
        """The empty state of a page: "nothing seen" only where the kit could look, else "could not look"."""
        unread = [t for t in self.unread("arm_writes_by_identity", "arm_token_signins") if t in set(IDENTITY_SOURCES)]
        unread += [t for q in self.failed("arm_writes_by_identity", "arm_token_signins") for t in get_query(q).tables]
        unread = list(dict.fromkeys(unread))
        text = no_activity_text(unread, self.missing(*IDENTITY_SOURCES))
        misplaced = self.window_warning()
        if misplaced:  # not "nothing to show": the window missed the data
            said = f"{misplaced[0].upper()}{misplaced[1:]}."
            text = f"{text} {said}" if unread else said
        return note(text, kind="warning" if unread or misplaced else "info")

    def analysis_key(self) -> dict[str, Any]:
        """What an analysis result depends on; a cached result is used only when this matches."""
        return analysis_key(self.workspace, self.now, self.lookback, self.breakglass)

    def analyze(self) -> Analysis:
        """The kit's analysis over the window (computed once per notebook), pseudonymised when asked.

        The batch runner computes the analysis once per run and hands it to every kernel
        (``$KITLIB_ANALYSIS_CACHE``); it is used only for the exact same parameters.
        """
        if self._analysis is None:
            analysis = cached_analysis(self.analysis_key())
            if analysis is None:
                glass = self._breakglass_originals()
                analysis = analyze(self.backend, now=self.now, lookback=self.lookback, breakglass=glass)
            self._raw_frames = analysis.frames
            protected = self.protect_analysis(analysis)
            self.record(
                missing_tables=analysis.missing_tables,
                warnings=[self.scrub(w) for w in analysis.warnings],
                complete=analysis.complete,
            )
            self._analysis = protected
        return self._analysis

    def _breakglass_originals(self) -> list[str]:
        """Break-glass UPNs as given, with pseudonyms (a pseudonymised batch passes those) mapped back.

        A pseudonym is resolved against the identities that wrote to ARM in the window; one
        that matches none is dropped with a warning rather than guessed.
        """
        given = [b for b in self.breakglass if not is_pseudonym(b)]
        hidden = [b for b in self.breakglass if is_pseudonym(b)]
        if hidden:
            frame = run_query(
                self.backend, "arm_writes_by_identity", now=self.now, lookback=self.lookback, if_absent="empty"
            ).frame
            pool = [str(c) for c in frame.get("Identity", pd.Series(dtype=object)).dropna().unique()]
            for pseudonym in hidden:
                original = self.resolve_identity(pseudonym, pool)
                if original is None:
                    self.record(warnings=[f"break-glass pseudonym {pseudonym} matches no identity in the window"])
                else:
                    given.append(original)
        return given

    def protect_analysis(self, analysis: Analysis) -> Analysis:
        """A copy of ``analysis`` with every frame pseudonymised (unchanged when pseudonymisation is off)."""
        return protect_analysis(
            self.pseudonymizer, analysis, breakglass=self.breakglass, source=workspace_label(self.workspace)
        )

    def scrub(self, text: str) -> str:
        """``text`` with identities seen so far replaced by pseudonyms (unchanged when off)."""
        return self.pseudonymizer.scrub_text(text) if self.pseudonymizer is not None else text

    def protect(
        self,
        frame: pd.DataFrame,
        roles: Mapping[str, str] | None = None,
        scrub: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """``frame`` with identities pseudonymised (unchanged when pseudonymisation is off)."""
        return protect_frame(self.pseudonymizer, frame, roles, scrub)

    def who(self, value: str, kind: str = "user") -> str:
        """One identity as the report may show it."""
        if self.pseudonymizer is None or not isinstance(value, str):
            return value
        return self.pseudonymizer.pseudonym(value, kind)

    def resolve_identity(self, identity: str, candidates: Iterable[str]) -> str | None:
        """The candidate ``identity`` names: the identity itself, or the one behind a pseudonym.

        Lets a pseudonymised run pass the pseudonym as the drill-down parameter, so the original
        never appears in the executed notebook.
        """
        pool = [c for c in candidates if isinstance(c, str)]
        if not is_pseudonym(identity):
            lowered = identity.strip().lower()
            return next((c for c in pool if c.lower() == lowered), None)
        if self.pseudonymizer is None:
            return None
        return self.pseudonymizer.resolve(identity, pool)

    def exclude_breakglass(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        """Rows of ``frame`` whose ``column`` is not a break-glass account."""
        if not self.breakglass or column not in frame.columns:
            return frame
        excluded = {b.strip().lower() for b in self.breakglass}
        if self.pseudonymizer is not None:
            excluded |= {self.pseudonymizer.pseudonym(b, "user") for b in self.breakglass}
        return frame[~frame[column].astype(str).str.lower().isin(excluded)]

    def history(self, folder: str | Path | None) -> list[dict[str, Any]]:
        """Snapshots earlier scheduled runs kept for this workspace, oldest first (before ``now``).

        ``folder`` empty means ``$KITLIB_HISTORY`` (how the runner passes it without naming a
        path in a pseudonymised notebook); no trend when that is unset too.
        """
        folder = folder or os.environ.get(HISTORY_ENV, "")
        if not folder:
            return []

        return load_history(Path(folder), workspace=self.workspace, before=self.now)

    def find_identity(self, identity: str = "") -> Identity | None:
        """The identity a drill-down is about: given (UPN or pseudonym), else the top writer without MFA.

        Reads the per-identity write summary unpseudonymised *inside the kernel* (to map a
        pseudonym back); only ``Identity.shown`` is ever displayed.
        """
        # The analysis already ran this query (once per batch); reuse its frame instead of the
        # heaviest query again. Without an analysis frame (e.g. AzureActivity missing), ask.
        self.analyze()
        writes = self._raw_frames.get("arm_writes_by_identity")
        if not isinstance(writes, pd.DataFrame) or "Identity" not in writes.columns:
            result = run_query(
                self.backend, "arm_writes_by_identity", now=self.now, lookback=self.lookback, if_absent="empty"
            )
            self.record(missing_tables=result.missing_tables, warnings=result.warnings, complete=result.complete)
            writes = result.frame
        candidates = [str(c) for c in writes.get("Identity", pd.Series(dtype=object)).dropna().unique()]
        excluded = {b.strip().lower() for b in self.breakglass}
        if identity.strip():
            original = self.resolve_identity(identity.strip(), candidates)
            if original is None and not is_pseudonym(identity):
                original = identity.strip().lower()  # no writes; sign-ins may still show it
        else:
            no_mfa = writes[~writes["TokenHasMfa"].astype(bool) & writes["Kind"].isin(["write", "delete"])]
            no_mfa = no_mfa[~no_mfa["Identity"].str.lower().isin(excluded)]
            if no_mfa.empty:
                return None
            totals = no_mfa.groupby("Identity")["Operations"].sum().sort_values(ascending=False, kind="stable")
            original = str(totals.index[0])
        if original is None:
            return None
        return Identity(original=original, shown=self.who(original))

    # -- display --------------------------------------------------------------------------

    def glue(self, name: str, value: Any) -> None:
        """Record a summary value for tests, the manifest and schedulers."""
        if self.live_glue:
            glue(name, value)


def setup(
    workspace: str = "",
    now: str | dt.datetime = "",
    lookback: str | dt.timedelta = "30d",
    breakglass: Sequence[str] = (),
    pseudonymize: bool = False,
    *,
    log_level: str | None = None,
    live_glue: bool = True,
) -> NotebookContext:
    """Parse the notebook's parameters, open the workspace, and return the context.

    ``workspace`` empty means ``$KITLIB_WORKSPACE``; ``now`` empty means the current time.
    With ``pseudonymize``, the key comes from ``$KITLIB_PSEUDONYM_KEY`` (a fresh one-off key
    when unset, and the report says so).
    """
    if log_level:
        logging.getLogger("kitlib").setLevel(log_level.upper())
    if isinstance(breakglass, str) or not all(isinstance(b, str) for b in breakglass):
        raise UsageError("parameter breakglass must be a list of user principal names")
    when = parse_now(now)
    span = parse_lookback(lookback)
    spec = resolve_workspace(workspace or None)
    backend = connect(spec, now=when)
    ctx = NotebookContext(
        workspace=spec,
        backend=backend,
        now=when,
        lookback=span,
        breakglass=tuple(breakglass),
        pseudonymizer=Pseudonymizer.from_env() if pseudonymize else None,
        live_glue=live_glue,
    )
    ctx._publish_meta()
    return ctx
