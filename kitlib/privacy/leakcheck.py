"""The leak check: the last gate before a pseudonymised report is published.

It is written to disagree with the scrubber (:mod:`kitlib.privacy.pseudonyms`) on purpose:
the scrubber replaces what it recognises, this check looks for what may have slipped past, and
errs towards refusing. Every file is read the way a person or a search engine could read it:

- decoded: HTML entities and URL escapes (repeatedly, so double encoding does not hide a name),
  and the strings inside JSON files (notebooks, the manifest) with their escapes resolved;
- normalised: Unicode compatibility forms folded (full-width letters), invisible format
  characters (zero-width spaces, bidi controls) dropped, case folded, accents also folded away;
- canonical: every run of characters that is not a letter or digit becomes one separator, so
  ``run-by-sven.martin``, ``svc_sven.martin_adm``, ``SVEN MARTIN`` and ``ip-192-0-2-59`` all
  show their tokens.

What it looks for, per original identifier: the whole identifier, a UPN's local part (whatever
its length), a guest's home address, a display name in either order (``Martin, Sven``), an IP
address in any separator form, and the same tokens written with no separator at all. A term
matches only as whole tokens, so ``malice`` does not match ``alice``.
"""

from __future__ import annotations

import html
import json
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from kitlib.errors import LeakError

log = logging.getLogger(__name__)

#: A single-token term shorter than this is too likely to be an unrelated word (``ab``).
MIN_TOKEN_TERM = 2
_TOKEN = re.compile(r"[^\W_]+")
_MAX_DECODE_ROUNDS = 4


@dataclass(frozen=True)
class LeakHit:
    """One original identifier found in one file, and in which form (never logged with the identifier)."""

    path: Path
    original: str
    form: str


@dataclass(frozen=True)
class _Term:
    original: str
    form: str
    tokens: tuple[str, ...]


def _fold(text: str) -> str:
    """Compatibility forms, no format characters, case folded."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.casefold()


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens_of(text: str) -> tuple[str, ...]:
    """The canonical tokens of ``text``: folded letters and digits, split at everything else."""
    return tuple(_TOKEN.findall(_fold(text)))


def _terms_for(original: str) -> list[_Term]:
    text = original.strip()
    if not text:
        return []
    forms: list[tuple[str, tuple[str, ...]]] = [("identifier", tokens_of(text))]
    lowered = text.casefold()
    if "@" in lowered:
        local = lowered.rsplit("@", 1)[0]
        forms.append(("local part", tokens_of(local)))
        if local.endswith("#ext#") and "_" in local:
            guest = local[: -len("#ext#")]
            user, _, home = guest.rpartition("_")
            forms.append(("guest home address", tokens_of(f"{user}@{home}")))
            forms.append(("local part", tokens_of(user)))
    else:
        words = tokens_of(text)
        if len(words) >= 2 and all(w.isalpha() for w in words):  # a display name: either order
            forms.append(("name, reversed", tuple(reversed(words))))
            forms.append(("name, last first", (words[-1], *words[:-1])))
    terms: list[_Term] = []
    for form, tokens in forms:
        if not tokens or (len(tokens) == 1 and len(tokens[0]) < MIN_TOKEN_TERM):
            continue
        terms.append(_Term(original, form, tokens))
        if len(tokens) > 1:
            terms.append(_Term(original, form + ", run together", ("".join(tokens),)))
        folded = tuple(_strip_accents(t) for t in tokens)
        if folded != tokens:
            terms.append(_Term(original, form + ", without accents", folded))
    return terms


def leak_terms(originals: Iterable[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the check looks for: (original, form, tokens) for every original identifier."""
    return [(t.original, t.form, t.tokens) for o in originals for t in _terms_for(o)]


def _decoded(text: str) -> Iterator[str]:
    """``text`` and what it says once HTML entities and URL escapes are resolved, round by round."""
    seen = {text}
    yield text
    current = text
    for _ in range(_MAX_DECODE_ROUNDS):
        current = unquote(html.unescape(current))
        if current in seen:
            return
        seen.add(current)
        yield current


def _json_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key)
            yield from _json_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_strings(value)


def _contents(path: Path) -> Iterator[tuple[str, bytes]]:
    """A file's bytes, or for a zip container (``.xlsx``) the bytes of each member it holds."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.is_dir():
                    yield member.filename, archive.read(member)
    else:
        yield path.name, path.read_bytes()


def _readings(path: Path, ignore: Iterable[str]) -> Iterator[str]:
    for name, data in _contents(path):
        yield from _member_readings(Path(name), data, ignore)


def _member_readings(path: Path, data: bytes, ignore: Iterable[str]) -> Iterator[str]:
    raw = data.decode("utf-8", errors="replace")
    for chunk in ignore:
        if chunk:
            raw = raw.replace(chunk, " ")
    yield from _decoded(raw)
    if path.suffix.lower() in (".ipynb", ".json"):
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return
        yield from _decoded("\n".join(_json_strings(document)))


class _Index:
    """Terms by their first token, so one pass over a file's tokens finds every term."""

    def __init__(self, terms: Iterable[_Term]) -> None:
        self.by_first: dict[str, list[_Term]] = {}
        for term in terms:
            self.by_first.setdefault(term.tokens[0], []).append(term)

    def scan(self, tokens: list[str]) -> set[_Term]:
        found: set[_Term] = set()
        for at, token in enumerate(tokens):
            for term in self.by_first.get(token, ()):
                if tuple(tokens[at : at + len(term.tokens)]) == term.tokens:
                    found.add(term)
        return found


def find_leaks(paths: Iterable[Path], originals: Iterable[str], *, ignore: Iterable[str] = ()) -> list[LeakHit]:
    """Every (file, original, form) where an original identifier can be read in a file.

    ``ignore`` removes known-static chunks (the embedded plotly.js) before scanning.
    """
    index = _Index(t for o in set(originals) for t in _terms_for(o))
    if not index.by_first:
        return []
    ignore = tuple(ignore)
    hits: list[LeakHit] = []
    for path in paths:
        found: set[_Term] = set()
        for reading in _readings(path, ignore):
            folded = _fold(reading)
            found |= index.scan(_TOKEN.findall(folded))
            plain = _strip_accents(folded)
            if plain != folded:
                found |= index.scan(_TOKEN.findall(plain))
        hits.extend(LeakHit(path, t.original, t.form) for t in found)
    return sorted(set(hits), key=lambda h: (str(h.path), h.original, h.form))


def check_folder(root: Path, originals: Iterable[str], *, ignore: Iterable[str] = ()) -> list[LeakHit]:
    """Leak-check every file under ``root``."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return find_leaks(files, originals, ignore=ignore)


def raise_on_leaks(hits: list[LeakHit], where: Path) -> None:
    """Raise LeakError naming the files and forms (never the identifiers) when there is any hit."""
    if hits:
        files = sorted({str(h.path) for h in hits})
        log.error("leak check: %d original identifier(s) in %d file(s)", len(hits), len(files))
        raise LeakError(str(where), sorted({f"{h.path.name} ({h.form})" for h in hits}))
