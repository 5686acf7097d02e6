"""Keyed pseudonyms for identities, applied in the kernel before anything is shown.

Pseudonyms are applied to DataFrames before anything is displayed, plotted, glued or exported:
the plotly JSON inside an HTML report carries raw labels, so cleaning the HTML afterwards would
be too late. A pseudonym is ``<kind>-`` plus ten base32 characters of HMAC-SHA256(key, kind +
normalised value). Without the key it cannot be reversed by trying every user name (unkeyed
hashes can), and with one key per run pseudonyms cannot be linked across reports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kitlib.environment import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_ORIGIN_ENV, PSEUDONYM_LEDGER_ENV
from kitlib.errors import UsageError

log = logging.getLogger(__name__)


log = logging.getLogger(__name__)


MIN_KEY_LENGTH = 16


#: Kinds of personal data (the query header's ``pii`` roles) and the prefix of their pseudonyms.
KINDS = ("user", "id", "ip", "host", "name")


_PSEUDONYM = re.compile(r"^(?:user|id|ip|host|name)-[a-z2-7]{10}$")


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
    text = env.get(PSEUDONYM_KEY_ENV, "")
    if not text:
        return secrets.token_bytes(32), True
    if len(text) < MIN_KEY_LENGTH:
        raise UsageError(f"{PSEUDONYM_KEY_ENV} must be at least {MIN_KEY_LENGTH} characters long")
    return text.encode("utf-8"), env.get(PSEUDONYM_KEY_ORIGIN_ENV, "") == "run"


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
        ledger = env.get(PSEUDONYM_LEDGER_ENV) or None
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
