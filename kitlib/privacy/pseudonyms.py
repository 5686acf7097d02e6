"""Keyed pseudonyms for identities, and the leak check that guards every shared report.

Pseudonyms are applied in the kernel, to DataFrames, before anything is displayed, plotted,
glued or exported: the plotly JSON inside an HTML report carries raw labels, so cleaning the
HTML afterwards would be too late. A pseudonym is ``<kind>-`` plus ten base32 characters of
HMAC-SHA256(key, kind + normalised value). Without the key it cannot be reversed by trying
every user name (unkeyed hashes can), and with one key per run pseudonyms cannot be linked
across reports.

The leak check is the last gate: it scans every file of a run folder for the original
identifiers the pseudonymiser saw (plus any the caller knows of, e.g. display names), and for the
local part of every UPN/e-mail among them, and refuses to publish on a hit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kitlib.errors import LeakError, UsageError

log = logging.getLogger(__name__)

#: The key; any string of at least :data:`MIN_KEY_LENGTH` characters. Unset = a fresh key per run.
KEY_ENV = "KITLIB_PSEUDONYM_KEY"
#: Set by the batch runner: where a kernel records the originals it saw, for the leak check.
LEDGER_ENV = "KITLIB_PSEUDONYM_LEDGER"
#: Set by the batch runner beside KEY_ENV when it made the key itself ("run": one-off key).
KEY_ORIGIN_ENV = "KITLIB_PSEUDONYM_KEY_ORIGIN"

MIN_KEY_LENGTH = 16
#: Kinds of personal data (the query header's ``pii`` roles) and the prefix of their pseudonyms.
KINDS = ("user", "id", "ip", "host", "name")
_PSEUDONYM = re.compile(r"^(?:user|id|ip|host|name)-[a-z2-7]{10}$")
#: Shorter originals are too likely to occur by chance in unrelated text to scan for.
_MIN_SCAN_LENGTH = 4

# Tokens shaped like identifiers: looked up in a set instead of one huge alternation.
_TOKEN_PATTERNS = (
    re.compile(r"[A-Za-z0-9._%+'#-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.]*\d)"),
    re.compile(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b"),
    re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"),
)


def normalise(value: str, kind: str) -> str:
    """The form two spellings of one identity share: trimmed, and lower-case except for hosts."""
    text = value.strip()
    return text if kind == "host" else text.lower()


def is_pseudonym(value: str) -> bool:
    """True for strings this module produces (``user-abcdefghij``)."""
    return bool(_PSEUDONYM.match(value.strip()))


def load_key(environ: Mapping[str, str] | None = None) -> tuple[bytes, bool]:
    """The key from ``$KITLIB_PSEUDONYM_KEY`` and whether it is a one-off key for this run only."""
    env = os.environ if environ is None else environ
    text = env.get(KEY_ENV, "")
    if not text:
        return secrets.token_bytes(32), True
    if len(text) < MIN_KEY_LENGTH:
        raise UsageError(f"{KEY_ENV} must be at least {MIN_KEY_LENGTH} characters long")
    return text.encode("utf-8"), env.get(KEY_ORIGIN_ENV, "") == "run"


def new_key_text() -> str:
    """A fresh random key in a form that survives an environment variable."""
    return secrets.token_urlsafe(32)


class Pseudonymizer:
    """Replaces identities with keyed pseudonyms and remembers what it replaced."""

    def __init__(self, key: bytes, *, ephemeral: bool = False, ledger: Path | None = None) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise UsageError(f"a pseudonym key needs at least {MIN_KEY_LENGTH} bytes")
        self._key = key
        self.ephemeral = ephemeral
        self.ledger = ledger
        # normalised original -> (kind, pseudonym); plus raw spellings seen, for the leak check.
        self._seen: dict[str, tuple[str, str]] = {}
        self._spellings: set[str] = set()
        self._scrubber: re.Pattern[str] | None = None
        self._by_lower: dict[str, str] = {}
        self._dirty = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Pseudonymizer:
        """Key from the environment (fresh when unset); ledger path when the batch runner set one."""
        env = os.environ if environ is None else environ
        key, ephemeral = load_key(env)
        ledger = env.get(LEDGER_ENV) or None
        return cls(key, ephemeral=ephemeral, ledger=Path(ledger) if ledger else None)

    # -- single values -------------------------------------------------------------------

    def pseudonym(self, value: str, kind: str = "user") -> str:
        """The pseudonym of ``value``; pseudonyms and empty strings pass through unchanged."""
        if kind not in KINDS:
            raise UsageError(f"unknown personal-data kind {kind!r}; use one of {', '.join(KINDS)}")
        if not value or not value.strip() or is_pseudonym(value):
            return value
        norm = normalise(value, kind)
        known = self._seen.get(norm)
        if known is not None and known[0] == kind:
            if value not in self._spellings:
                self._spellings.add(value)
                self._dirty = True
            return known[1]
        digest = hmac.new(self._key, f"{kind}\x00{norm}".encode(), hashlib.sha256).digest()
        code = base64.b32encode(digest).decode("ascii").lower()[:10]
        result = f"{kind}-{code}"
        self._seen[norm] = (kind, result)
        self._spellings.add(value)
        self._scrubber = None
        self._dirty = True
        return result

    def _value(self, value: Any, kind: str) -> Any:
        if isinstance(value, str):
            return self.pseudonym(value, kind)
        if isinstance(value, (list, tuple)):
            return type(value)(self._value(v, kind) for v in value)
        if isinstance(value, np.ndarray):
            return [self._value(v, kind) for v in value.tolist()]
        return value

    # -- frames ----------------------------------------------------------------------------

    def series(self, series: pd.Series, kind: str = "user") -> pd.Series:
        """``series`` with every identity replaced; each distinct value is hashed once."""
        if series.dtype != object and not isinstance(series.dtype, pd.StringDtype):
            return series
        cache: dict[Any, Any] = {}

        def convert(value: Any) -> Any:
            if not isinstance(value, (str, list, tuple, np.ndarray)):
                return value
            key = _key(value)
            if key not in cache:
                cache[key] = self._value(value, kind)
            return cache[key]

        out = series.map(convert)
        self._flush()
        return out

    def frame(self, frame: pd.DataFrame, roles: Mapping[str, str], text_columns: Iterable[str] = ()) -> pd.DataFrame:
        """A copy of ``frame`` with ``roles`` columns pseudonymised and known names scrubbed from text."""
        out = frame.copy()
        for column, kind in roles.items():
            if column in out.columns:
                out[column] = self.series(out[column], kind)
        for column in text_columns:
            if column in out.columns:
                out[column] = out[column].map(lambda v: self.scrub_text(v) if isinstance(v, str) else v)
        self._flush()
        return out

    def scrub_text(self, text: str) -> str:
        """``text`` with every original seen so far replaced by its pseudonym (free text, reasons)."""
        if not self._seen or not text:
            return text
        if self._scrubber is None:
            self._by_lower = {o.lower(): p for o, (_, p) in self._seen.items()}
            originals = sorted(self._by_lower, key=len, reverse=True)
            self._scrubber = re.compile(
                r"(?<![\w.+-])(?:" + "|".join(map(re.escape, originals)) + r")(?![\w-])", re.IGNORECASE
            )
        return self._scrubber.sub(lambda m: self._by_lower.get(m.group(0).lower(), m.group(0)), text)

    # -- what was replaced ---------------------------------------------------------------

    @property
    def originals(self) -> set[str]:
        """Every original identifier seen (normalised and as spelled), for the leak check."""
        return set(self._seen) | self._spellings

    def mapping(self) -> pd.DataFrame:
        """Re-identification table: pseudonym, kind, original. Sensitive: never put it in a report."""
        rows = sorted((p, k, o) for o, (k, p) in self._seen.items())
        return pd.DataFrame(rows, columns=["pseudonym", "kind", "original"])

    def resolve(self, pseudonym: str, candidates: Iterable[str], kind: str = "user") -> str | None:
        """The candidate whose pseudonym is ``pseudonym`` (the key holder's way back), else None."""
        for candidate in candidates:
            if isinstance(candidate, str) and self.pseudonym(candidate, kind) == pseudonym:
                return candidate
        return None

    def _flush(self) -> None:
        """Record the originals in the ledger file the batch runner reads for its leak check."""
        if not self._dirty or self.ledger is None:
            self._dirty = False
            return
        entries = {o: [k, p] for o, (k, p) in self._seen.items()}
        payload = {"originals": entries, "spellings": sorted(self._spellings)}
        tmp = self.ledger.with_name(self.ledger.name + ".tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        tmp.replace(self.ledger)
        self._dirty = False


def _key(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return tuple(_key(v) for v in value) if isinstance(value, (list, tuple)) else value


def read_ledger(path: Path) -> dict[str, str]:
    """Originals a kernel recorded (original -> kind, spellings included); absent ledger = none."""
    if not path.is_file():
        return {}
    payload = json.loads(path.read_text(encoding="utf-8"))
    entries = {str(o): str(kind) for o, (kind, _) in payload.get("originals", {}).items()}
    by_norm = {o.lower(): k for o, k in entries.items()}
    for spelling in payload.get("spellings", []):
        entries.setdefault(str(spelling), by_norm.get(str(spelling).strip().lower(), "user"))
    return entries


def write_mapping(mapping: pd.DataFrame, path: Path, *, forbidden: Path | None = None) -> Path:
    """Write the re-identification map to ``path``, never inside ``forbidden`` (the report folder)."""
    target = path.expanduser().resolve()
    if forbidden is not None:
        root = forbidden.expanduser().resolve()
        if target == root or root in target.parents:
            raise UsageError(f"the re-identification map must not be written inside the report folder {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        mapping.to_csv(handle, index=False)
    return target


# -- leak check -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeakHit:
    """One original identifier found in one file (the identifier itself is not repeated in logs)."""

    path: Path
    original: str


def _texts(path: Path, ignore: Iterable[str]) -> list[str]:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    for chunk in ignore:
        if chunk:
            raw = raw.replace(chunk, "")
    texts = [raw, html.unescape(raw)]
    if path.suffix in (".ipynb", ".json"):
        try:
            texts.append("\n".join(_strings(json.loads(raw))))
        except json.JSONDecodeError:
            pass
    return texts


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def leak_terms(originals: Iterable[str]) -> set[str]:
    """What the leak check looks for: each original, plus the local part of each e-mail/UPN.

    A report that says ``sa-liam.novak`` has leaked ``sa-liam.novak@contoso.com`` as surely as
    the whole address, so the part before ``@`` is scanned for too (a guest's ``#ext#`` form
    also gives the part before its ``_``-encoded home domain). Terms shorter than
    ``_MIN_SCAN_LENGTH`` are dropped: they occur by chance in unrelated text.
    """
    terms: set[str] = set()
    for original in originals:
        text = (original or "").strip().lower()
        if not text:
            continue
        terms.add(text)
        if "@" in text:
            local = text.rsplit("@", 1)[0]
            terms.add(local)
            if local.endswith("#ext#") and "_" in local:
                terms.add(local.rsplit("_", 1)[0])
    return {t for t in terms if len(t) >= _MIN_SCAN_LENGTH}


def find_leaks(paths: Iterable[Path], originals: Iterable[str], *, ignore: Iterable[str] = ()) -> list[LeakHit]:
    """Every (file, term) pair where an original identifier or part of one occurs in a file's text.

    Terms come from :func:`leak_terms` (originals, UPN local parts). Identifier-shaped terms
    (e-mail/UPN, IPv4/IPv6, GUID) are matched as whole tokens; others (local parts, display
    names) as case-insensitive words. ``ignore`` removes known-static chunks (the embedded
    plotly.js) before scanning.
    """
    wanted = leak_terms(originals)
    if not wanted:
        return []
    shaped = {o for o in wanted if any(p.fullmatch(o) for p in _TOKEN_PATTERNS)}
    # Word-like terms (local parts, display names) are indexed by their first word: one pass
    # over the words of a file instead of a regex alternation of thousands of names.
    by_first: dict[str, list[str]] = {}
    odd: list[str] = []
    for term in sorted(wanted - shaped, key=len, reverse=True):
        first = _WORD.match(term)
        if first:
            by_first.setdefault(first.group(0), []).append(term)
        else:
            odd.append(term)
    fallback = (
        re.compile(r"(?<![\w.+-])(?:" + "|".join(map(re.escape, odd)) + r")(?![\w-])", re.IGNORECASE) if odd else None
    )
    ignore = tuple(ignore)
    hits: list[LeakHit] = []
    for path in paths:
        found: set[str] = set()
        for text in _texts(path, ignore):
            for pattern in _TOKEN_PATTERNS:
                for match in pattern.finditer(text):
                    token = match.group(0).lower()
                    if token in shaped:
                        found.add(token)
                    elif "@" in token:
                        # "x.alice@contoso.com" must not hide "alice@contoso.com": check suffixes.
                        for i, ch in enumerate(token):
                            if ch in "._%+'#-" and token[i + 1 :] in shaped:
                                found.add(token[i + 1 :])
            if by_first:
                found.update(_word_terms(text.lower(), by_first))
            if fallback is not None:
                found.update(m.group(0).lower() for m in fallback.finditer(text))
        # A local part found only because its whole address is there is the same leak, once.
        found = {t for t in found if not any(o != t and o.startswith(t) and o[len(t)] in "@_" for o in found)}
        hits.extend(LeakHit(path, o) for o in sorted(found))
    return hits


_WORD = re.compile(r"\w+")


def _word_terms(lowered: str, by_first: Mapping[str, list[str]]) -> set[str]:
    """Terms of ``by_first`` occurring in ``lowered`` as whole words (not inside a longer name)."""
    found: set[str] = set()
    for match in _WORD.finditer(lowered):
        candidates = by_first.get(match.group(0))
        if not candidates:
            continue
        at = match.start()
        if at and (lowered[at - 1].isalnum() or lowered[at - 1] in "_.+-"):
            continue
        for term in candidates:
            end = at + len(term)
            if lowered.startswith(term, at) and not (
                end < len(lowered) and (lowered[end].isalnum() or lowered[end] in "_-")
            ):
                found.add(term)
    return found


def check_folder(root: Path, originals: Iterable[str], *, ignore: Iterable[str] = ()) -> list[LeakHit]:
    """Leak-check every file under ``root``."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return find_leaks(files, originals, ignore=ignore)


def raise_on_leaks(hits: list[LeakHit], where: Path) -> None:
    """Raise LeakError naming the files (never the identifiers) when there is any hit."""
    if hits:
        files = sorted({str(h.path) for h in hits})
        log.error("leak check: %d original identifier(s) in %d file(s)", len(hits), len(files))
        raise LeakError(str(where), [f"{h.path.name}" for h in hits])
