"""The query catalog: ``queries/*.kql`` files with a validated comment header and declared inputs.

A query file is plain KQL an analyst can paste into the portal. Its metadata lives in ``//``
comments at the top::

    // name: arm_writes_by_user
    // description: What the query answers, in one line.
    // tables: AzureActivity
    // optional_tables: AADManagedIdentitySignInLogs   (missing -> empty typed table)
    // pii: Caller=user, CallerIpAddress=ip

and its inputs in a ``declare query_parameters(...)`` statement, which this module parses so
names and types can be checked before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kitlib.domain.schema import TABLES
from kitlib.errors import ParameterError, QueryDefinitionError, UnknownQueryError
from kitlib.query.binding import KQL_TYPES, BindError, coerce, kql_literal
from kitlib.resources import queries_dir

REQUIRED_HEADER_KEYS = ("name", "description", "tables")
KNOWN_HEADER_KEYS = frozenset({"name", "description", "tables", "optional_tables", "pii", "split"})
#: ``// split: by_window``: rows from consecutive time slices can be concatenated, so a live
#: backend may cut a long window into slices under the service's limits and stitch the results.
SPLIT_MODES = frozenset({"by_window"})
PII_KINDS = frozenset({"user", "ip", "id", "host", "name"})

_HEADER_LINE = re.compile(r"^//\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_DECLARE = re.compile(r"declare\s+query_parameters\s*\(", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Parameter:
    """One declared input: its name, KQL type, and the default literal text if it has one."""

    name: str
    kql_type: str
    default: str | None = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Query:
    """A parsed catalog entry."""

    name: str
    description: str
    tables: tuple[str, ...]
    optional_tables: tuple[str, ...]
    pii: Mapping[str, str]
    parameters: tuple[Parameter, ...]
    text: str
    path: Path
    declare_span: tuple[int, int] | None = field(default=None, repr=False)
    split: str | None = None

    @property
    def all_tables(self) -> tuple[str, ...]:
        return self.tables + self.optional_tables

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise ParameterError(
            self.name, name, f"not declared; this query takes {', '.join(p.name for p in self.parameters) or 'none'}"
        )

    def coerce_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check names and types of ``values``; every required parameter must be present."""
        typed: dict[str, Any] = {}
        for name, value in values.items():
            declared = self.parameter(name)
            try:
                typed[name] = coerce(declared.kql_type, value)
            except BindError as exc:
                raise ParameterError(self.name, name, str(exc)) from None
        for p in self.parameters:
            if p.required and p.name not in typed:
                raise ParameterError(self.name, p.name, f"required ({p.kql_type}) and not given")
        return typed

    def bind_as_lets(self, values: Mapping[str, Any]) -> str:
        """The query text with its declaration replaced by ``let`` lines of encoded literals.

        For services that take no request parameters (the Log Analytics query API). Parameters
        without a value keep their declared default.
        """
        typed = self.coerce_values(values)
        lets = []
        for p in self.parameters:
            if p.name in typed:
                literal = kql_literal(p.kql_type, typed[p.name])
            else:
                assert p.default is not None  # coerce_values guarantees required ones are present
                literal = p.default
            lets.append(f"let {p.name} = {literal};")
        if self.declare_span is None:
            return self.text
        start, end = self.declare_span
        return self.text[:start] + "\n".join(lets) + self.text[end:]


def _strip_comments_outside_strings(text: str) -> str:
    """Blank out ``//`` comments (keeping offsets) so declarations inside comments are ignored."""
    out = list(text)
    i, n = 0, len(text)
    quote: str | None = None
    verbatim = False
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                if verbatim and i + 1 < n and text[i + 1] == quote:
                    i += 2
                    continue
                quote = None
            elif ch == "\\" and not verbatim:
                i += 1
            i += 1
            continue
        if ch in "\"'":
            quote, verbatim = ch, i > 0 and text[i - 1] == "@"
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            for j in range(i, end):
                out[j] = " "
            i = end
            continue
        i += 1
    return "".join(out)


def _split_top_level(body: str) -> list[str]:
    """Split on commas that are outside parentheses, brackets, braces and strings."""
    parts, depth, current = [], 0, []
    quote: str | None = None
    for ch in body:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return parts


def _parse_declaration(path: str, text: str) -> tuple[tuple[Parameter, ...], tuple[int, int] | None]:
    scrubbed = _strip_comments_outside_strings(text)
    matches = list(_DECLARE.finditer(scrubbed))
    if not matches:
        return (), None
    if len(matches) > 1:
        raise QueryDefinitionError(path, "more than one declare query_parameters statement")
    match = matches[0]
    depth, i = 1, match.end()
    quote: str | None = None
    while i < len(scrubbed) and depth:
        ch = scrubbed[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        i += 1
    if depth:
        raise QueryDefinitionError(path, "declare query_parameters( is never closed")
    body = scrubbed[match.end() : i - 1]
    rest = scrubbed[i:]
    semicolon = re.match(r"\s*;", rest)
    if not semicolon:
        raise QueryDefinitionError(path, "declare query_parameters(...) must end with ';'")
    end = i + semicolon.end()
    params: list[Parameter] = []
    for raw in _split_top_level(body):
        m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([a-z]+)\s*(?:=\s*(.+?))?\s*$", raw, re.DOTALL)
        if not m:
            raise QueryDefinitionError(path, f"cannot read parameter declaration {raw.strip()!r}")
        name, kql_type, default = m.group(1), m.group(2), m.group(3)
        if kql_type not in KQL_TYPES:
            raise QueryDefinitionError(path, f"parameter {name}: unsupported type {kql_type!r}")
        if any(p.name == name for p in params):
            raise QueryDefinitionError(path, f"parameter {name} declared twice")
        params.append(Parameter(name, kql_type, default))
    return tuple(params), (match.start(), end)


def parse_query(path: Path, text: str | None = None) -> Query:
    """Parse one ``.kql`` file; raises QueryDefinitionError with the file and the problem."""
    text = path.read_text(encoding="utf-8") if text is None else text
    header: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("//"):
            break
        m = _HEADER_LINE.match(stripped)
        if m:
            key, value = m.group(1), m.group(2)
            if key not in KNOWN_HEADER_KEYS:
                raise QueryDefinitionError(str(path), f"unknown header key {key!r}")
            header[key] = value
    for key in REQUIRED_HEADER_KEYS:
        if not header.get(key):
            raise QueryDefinitionError(str(path), f"header is missing '// {key}: ...'")
    name = header["name"]
    if name != path.stem:
        raise QueryDefinitionError(str(path), f"header name {name!r} does not match the file name")
    tables = tuple(t.strip() for t in header["tables"].split(",") if t.strip())
    optional = tuple(t.strip() for t in header.get("optional_tables", "").split(",") if t.strip())
    for t in tables + optional:
        if t not in TABLES:
            raise QueryDefinitionError(str(path), f"table {t!r} is not in the schema registry")
    pii: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in header.get("pii", "").split(","))):
        column, _, kind = item.partition("=")
        if not _NAME.match(column.strip()) or kind.strip() not in PII_KINDS:
            raise QueryDefinitionError(
                str(path), f"pii entry {item!r} must be Column=kind, kind in {sorted(PII_KINDS)}"
            )
        pii[column.strip()] = kind.strip()
    split = header.get("split") or None
    if split is not None and split not in SPLIT_MODES:
        raise QueryDefinitionError(str(path), f"split {split!r} is not one of {sorted(SPLIT_MODES)}")
    params, span = _parse_declaration(str(path), text)
    return Query(name, header["description"], tables, optional, pii, params, text, path, span, split)


def default_query_dir() -> Path:
    """``$KITLIB_QUERIES`` if set, else the kit's own catalog (see :mod:`kitlib.resources`)."""
    return queries_dir()


@lru_cache(maxsize=8)
def _load(directory: str, stamp: tuple[tuple[str, float], ...]) -> dict[str, Query]:
    return {q.name: q for q in (parse_query(Path(p)) for p, _ in stamp)}


def load_catalog(directory: Path | None = None) -> dict[str, Query]:
    """Every query in ``directory`` by name (re-read when a file changes)."""
    directory = directory or default_query_dir()
    files = sorted(directory.glob("*.kql"))
    return dict(_load(str(directory), tuple((str(f), f.stat().st_mtime) for f in files)))


def get_query(name: str, directory: Path | None = None) -> Query:
    catalog = load_catalog(directory)
    try:
        return catalog[name]
    except KeyError:
        raise UnknownQueryError(name, list(catalog)) from None
