"""The leak check: the last gate before a pseudonymised report is published.

It scans every file of a run folder for the original identifiers the pseudonymiser saw (plus
any the caller knows of, e.g. display names), and for the local part of every UPN/e-mail among
them, and refuses to publish on a hit.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kitlib.errors import LeakError

log = logging.getLogger(__name__)

#: Shorter originals are too likely to occur by chance in unrelated text to scan for.
_MIN_SCAN_LENGTH = 4


# Tokens shaped like identifiers: looked up in a set instead of one huge alternation.
_TOKEN_PATTERNS = (
    re.compile(r"[A-Za-z0-9._%+'#-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.]*\d)"),
    re.compile(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b"),
    re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"),
)


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
