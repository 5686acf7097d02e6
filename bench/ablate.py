"""Where KQL-on-DuckDB loses time against hand-written SQL: rewrite the generated SQL one cause at a time.

Not part of ``make bench`` (it is the evidence behind bench/notes.md). Usage, from the checkout root::

    .venv/bin/python bench/ablate.py WORKSPACE [QUERY ...] [--rounds 2]

For each query it times, interleaved round by round on one connection and the kit's typed views:

* ``generated``: the SQL duckdb-kql 1.1.2 generates, as is;
* ``+set``: each ``make_set(x, N)`` lowering (per-row ``TRY_CAST(x AS JSON)`` + ``json_type`` to
  tell arrays from scalars, all rows collected with ``list()`` then de-duplicated, no cap) replaced
  by ``list(DISTINCT x)[1:N]``, what a lowering that knew ``x`` is a string would emit;
* ``+has_any``: also each ``has_any`` chain (one ``regexp_matches`` per term) folded into one regex;
* ``+tostring``: also each type-dispatching ``tostring(col)`` (``CASE typeof(col) ...`` incl.
  ``->> '$'`` re-serialisation of JSON) replaced by ``CAST(col AS VARCHAR)``, and
  ``todynamic(tostring(col))`` by ``TRY_CAST(col AS JSON)``;
* ``hand``: ``bench/sql/<query>.sql``;

and the same ``generated`` / ``hand`` pair on views whose JSON columns are cast with one parse
(``coalesce(TRY_CAST(c AS JSON), to_json(c))``) instead of the kit's two
(``CASE WHEN json_valid(c) THEN CAST(c AS JSON) ELSE to_json(c) END``). Every variant's digest is
compared with the generated SQL's, so no rewrite changes the answer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import duckdb  # noqa: E402
import duckdb_kql  # noqa: E402
from digest import SPECS, differences, digest  # noqa: E402

MAKE_SET = re.compile(
    r"to_json\(coalesce\(list_distinct\(flatten\(list\(CASE WHEN json_type\(TRY_CAST\(\"(\w+)\" AS JSON\)\) = "
    r"'ARRAY' THEN CAST\(to_json\(\"\w+\"\) AS JSON\[\]\) ELSE \[to_json\(\"\w+\"\)\] END\) "
    r"FILTER \(WHERE \"\w+\" IS NOT NULL\)\)\), \[\]\)\)"
)
HAS_TERM = (
    r"regexp_matches\(\"\w+\", '\(\?i\)\(\?:\^\|\[\^\\pL\\pN\]\)' \|\| regexp_escape\('[^']+'\) "
    r"\|\| '\(\?:\$\|\[\^\\pL\\pN\]\)'\)"
)
HAS_CHAIN = re.compile(r"\((?:" + HAS_TERM + r" OR )+" + HAS_TERM + r"\)")
TOSTRING = re.compile(
    r"coalesce\(CASE typeof\(\"(\w+)\"\) WHEN 'JSON' THEN \"\1\" ->> '\$' .*? ELSE CAST\(\"\1\" AS VARCHAR\) END, ''\)"
)
TODYNAMIC = re.compile(r"TRY_CAST\(coalesce\(CAST\(\"(\w+)\" AS VARCHAR\), ''\) AS JSON\)")
VIEW_JSON = re.compile(r"CASE WHEN json_valid\((\"\w+\")\) THEN CAST\(\1 AS JSON\) ELSE to_json\(\1\) END")


def rewrite_sets(sql: str, caps: dict[str, int]) -> str:
    def one(m: re.Match[str]) -> str:
        col = m.group(1)
        cap = caps.get(col, 0)
        distinct = f'list(DISTINCT "{col}") FILTER (WHERE "{col}" IS NOT NULL)'
        return f"to_json({distinct}[1:{cap}])" if cap else f"to_json({distinct})"

    return MAKE_SET.sub(one, sql)


def rewrite_has_any(sql: str) -> str:
    def one(m: re.Match[str]) -> str:
        terms = re.findall(r"regexp_escape\('([^']+)'\)", m.group(0))
        col = re.match(r"\(regexp_matches\(([^,]+),", m.group(0))
        assert col is not None
        alternation = "|".join(re.escape(t) for t in terms)
        return f"regexp_matches({col.group(1)}, '(?i)(?:^|[^\\pL\\pN])(?:{alternation})(?:$|[^\\pL\\pN])')"

    return HAS_CHAIN.sub(one, sql)


def rewrite_tostring(sql: str) -> str:
    sql = TOSTRING.sub(lambda m: f"coalesce(CAST(\"{m.group(1)}\" AS VARCHAR), '')", sql)
    return TODYNAMIC.sub(lambda m: f'TRY_CAST("{m.group(1)}" AS JSON)', sql)


def one_parse_views(source: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection with the same views, JSON columns cast with one parse instead of two."""
    con = duckdb_kql.connect()
    con.execute("SET TimeZone = 'UTC'")
    for _view, sql in source.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall():
        con.execute(VIEW_JSON.sub(r"coalesce(TRY_CAST(\1 AS JSON), to_json(\1))", sql))
    return con


def ablate(workspace: str, name: str, now: dt.datetime, rounds: int) -> None:
    """Time every variant of ``name`` interleaved for ``rounds`` rounds and print a markdown table."""
    from duckdb_kql.engine import schema

    from kitlib.backends.local import LocalBackend
    from kitlib.query.catalog import get_query

    params = {"start": now - dt.timedelta(days=30), "end": now}
    query = get_query(name)
    backend = LocalBackend(workspace, now=now)
    backend.run(query, params)  # creates the views
    con = backend._con
    lean = one_parse_views(con)
    gen = duckdb_kql.to_sql(query.text, schema=schema(con), parameters=query.coerce_values(params), query_now=now)
    bound = gen.parameters
    # The cap belongs to make_set's source column in the generated SQL; read it from the KQL text.
    caps = {m.group(1): int(m.group(2)) for m in re.finditer(r"= make_set\((\w+), (\d+)\)", query.text)}
    v_set = rewrite_sets(str(gen), caps)
    v_has = rewrite_has_any(v_set)
    v_str = rewrite_tostring(v_has)
    hand = (BENCH / "sql" / f"{name}.sql").read_text()
    variants: dict[str, Callable[[], Any]] = {
        "generated": lambda: con.execute(str(gen), bound).df(),
        "+set": lambda: con.execute(v_set, bound).df(),
        "+has_any": lambda: con.execute(v_has, bound).df(),
        "+tostring": lambda: con.execute(v_str, bound).df(),
        "hand": lambda: con.execute(hand, params).df(),
        "generated, 1-parse views": lambda: lean.execute(str(gen), bound).df(),
        "+tostring, 1-parse views": lambda: lean.execute(v_str, bound).df(),
        "hand, 1-parse views": lambda: lean.execute(hand, params).df(),
    }
    changed = {
        "make_set": len(MAKE_SET.findall(str(gen))),
        "has_any": len(HAS_CHAIN.findall(v_set)),
        "tostring": len(TOSTRING.findall(v_has)),
        "todynamic": len(
            TODYNAMIC.findall(TOSTRING.sub(lambda m: f"coalesce(CAST(\"{m.group(1)}\" AS VARCHAR), '')", v_has))
        ),
    }
    times: dict[str, list[float]] = {v: [] for v in variants}
    reference: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    order = list(variants)
    for r in range(rounds):
        for v in order[r % len(order) :] + order[: r % len(order)]:
            t = time.perf_counter()
            frame = variants[v]()
            times[v].append(time.perf_counter() - t)
            if r == 0:  # round 0 starts with "generated", the reference
                d = digest(frame, SPECS[name])
                reference = reference or d
                problems[v] = differences(reference, d)
    base = statistics.median(times["generated"])
    hand_t = statistics.median(times["hand"])
    print(f"\n{name} on {workspace} ({rounds} rounds, median; rewrites applied: {changed})\n")
    print("| variant | median | vs generated | vs hand | runs | same result |\n|---|---|---|---|---|---|")
    for v, ts in times.items():
        m = statistics.median(ts)
        same = "yes" if not problems.get(v) else "NO " + "; ".join(problems[v][:2])
        runs = ", ".join(f"{x:.2f}" for x in ts)
        print(f"| {v} | {m:.2f} s | {m / base:.2f}x | {m / hand_t:.2f}x | {runs} | {same} |")
    lean.close()
    backend.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace")
    parser.add_argument("queries", nargs="*", default=["arm_operations", "arm_writes_by_identity"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--now", default="2026-11-27T00:00:00Z")
    args = parser.parse_args()
    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    for name in args.queries:
        ablate(args.workspace, name, now, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
