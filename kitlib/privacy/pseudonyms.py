"""Keyed pseudonyms for identities, applied in the kernel before anything is shown.

Pseudonyms are applied to DataFrames before anything is displayed, plotted, glued or exported:
the plotly JSON inside an HTML report carries raw labels, so cleaning the HTML afterwards would
be too late. A pseudonym is ``<kind>-`` plus ten base32 characters of HMAC-SHA256(key, kind +
normalised value). Without the key it cannot be reversed by trying every user name (unkeyed
hashes can), and with one key per run pseudonyms cannot be linked across reports.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd

from kitlib.environment import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_ORIGIN_ENV, PSEUDONYM_LEDGER_ENV
from kitlib.errors import UsageError
from kitlib.safe_csv import safe_frame

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
        self._scrubber: dict[str, list[tuple[tuple[str, ...], str]]] | None = None
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
            if column in out.columns and column not in roles:
                cache: dict[Any, Any] = {}

                def scrub(value: Any, cache: dict[Any, Any] = cache) -> Any:
                    if not isinstance(value, (str, list, tuple, np.ndarray)):
                        return value
                    key = _key(value)
                    if key not in cache:
                        cache[key] = self.scrub_value(value)
                    return cache[key]

                out[column] = out[column].map(scrub)
        self._flush()
        return out

    def scrub_text(self, text: str) -> str:
        """``text`` with every identity seen so far replaced by its pseudonym, in any spelling.

        Errs towards over-redacting: an identity is found as whole tokens whatever separates
        them (``run-by-sven.martin``, ``svc_sven.martin_adm``, ``ip-192-0-2-59``), by its UPN's
        local part alone, a display name in either order, and behind URL or HTML escapes (the
        text is then shown decoded). The leak check looks again, independently, before publishing.
        """
        if not self._seen or not text:
            return text
        index = self._index()
        scrubbed = _replace_tokens(text, index)
        if scrubbed != text or ("%" not in text and "&" not in text):
            return scrubbed
        decoded = text
        for _ in range(3):
            decoded = unquote(html.unescape(decoded))
        cleaned = _replace_tokens(decoded, index)
        return cleaned if cleaned != decoded else text

    def scrub_value(self, value: Any) -> Any:
        """:meth:`scrub_text` over a string, or over the strings of a list; other values unchanged."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub_value(v) for v in value)
        if isinstance(value, np.ndarray):
            return [self.scrub_value(v) for v in value.tolist()]
        return value

    def _index(self) -> dict[str, list[tuple[tuple[str, ...], str]]]:
        """Token sequences of every identity seen, by first token, longest first."""
        if self._scrubber is None:
            by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
            for original, (kind, pseudonym) in self._seen.items():
                for tokens in spellings(original, kind):
                    by_first.setdefault(tokens[0], []).append((tokens, pseudonym))
            for entries in by_first.values():
                entries.sort(key=lambda e: -len(e[0]))
            self._scrubber = by_first
        return self._scrubber

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


_TOKEN = re.compile(r"[^\W_]+")
#: A one-token spelling shorter than this (a local part ``jo``) would redact unrelated words.
MIN_TOKEN_SPELLING = 2


def spellings(original: str, kind: str) -> list[tuple[str, ...]]:
    """The token sequences an identity can be written as in free text (lower case).

    A user by its UPN, the UPN's local part and, for a guest (``x_home.example#EXT#@...``), its
    home address and name; a display name in either order; an IP, id or host by its parts, an
    id also without its dashes.
    """
    text = original.strip().casefold()
    forms = [tuple(_TOKEN.findall(text))]
    if kind == "user" and "@" in text:
        local = text.rsplit("@", 1)[0]
        forms.append(tuple(_TOKEN.findall(local)))
        if local.endswith("#ext#") and "_" in local:
            user, _, home = local[: -len("#ext#")].rpartition("_")
            forms += [tuple(_TOKEN.findall(f"{user}@{home}")), tuple(_TOKEN.findall(user))]
    elif kind == "name" and len(forms[0]) >= 2:
        forms += [tuple(reversed(forms[0])), (forms[0][-1], *forms[0][:-1])]
    elif kind == "id" and len(forms[0]) > 1:
        forms.append(("".join(forms[0]),))
    unique = dict.fromkeys(f for f in forms if f and (len(f) > 1 or len(f[0]) >= MIN_TOKEN_SPELLING))
    return list(unique)


def _replace_tokens(text: str, index: Mapping[str, list[tuple[tuple[str, ...], str]]]) -> str:
    """``text`` with every indexed token sequence replaced (from its first to its last character)."""
    matches = list(_TOKEN.finditer(text))
    if not matches:
        return text
    tokens = [m.group(0).casefold() for m in matches]
    out: list[str] = []
    cursor = 0
    i = 0
    while i < len(tokens):
        for sequence, pseudonym in index.get(tokens[i], ()):
            if tuple(tokens[i : i + len(sequence)]) == sequence:
                out.append(text[cursor : matches[i].start()])
                out.append(pseudonym)
                cursor = matches[i + len(sequence) - 1].end()
                i += len(sequence)
                break
        else:
            i += 1
    out.append(text[cursor:])
    return "".join(out)


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
        safe_frame(mapping).to_csv(handle, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    return target
