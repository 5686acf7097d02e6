"""Benchmark the demo tenant generator: wall time, CPU time, peak memory and rows per size.

The target (issue 2): 1,500 users x 30 days in well under a minute on a 2-core machine.
Run: ``.venv/bin/python bench/bench_demo.py [--sizes 300x30 1500x30] [--budget 60]``.
Each size runs in a fresh process so peak RSS belongs to that size alone. Exit code 1 when the
1,500 x 30 run (or the largest size given) exceeds the budget.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

_CHILD = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
from kitlib.demo import generate
users, days, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
cpu0 = time.process_time()
summary = generate(out, users=users, days=days, seed=seed, now=dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc))
size = sum(p.stat().st_size for p in summary.paths.values())
print(json.dumps({"users": users, "days": days, "seconds": summary.seconds, "cpu_seconds": time.process_time() - cpu0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": summary.rows,
                  "identities": summary.identities, "megabytes": size / 2**20}))
"""


def run(users: int, days: int, seed: int) -> dict[str, object]:
    """Generate one tenant in a child process and return its measurements."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(users), str(days), str(seed), tmp],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["300x30", "1500x30"], help="USERSxDAYS, e.g. 1500x30")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds allowed for the largest size")
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in s.lower().split("x")) for s in args.sizes]
    results = [run(users, days, args.seed) for users, days in sizes]
    for r in results:
        rows = r["rows"]
        assert isinstance(rows, dict)
        print(
            f"{r['users']:>6} users x {r['days']:>3} days: {r['seconds']:6.1f}s wall, {r['cpu_seconds']:6.1f}s CPU, "
            f"peak RSS {r['peak_rss_mb']:5.0f} MB, {sum(rows.values()):>9,} rows, {r['megabytes']:5.1f} MB on disk, "
            f"{r['identities']} identities"
        )
        for table, n in rows.items():
            print(f"{'':>8}{table:<34}{n:>9,}")
    largest = max(results, key=lambda r: int(str(r["users"])) * int(str(r["days"])))
    seconds = float(str(largest["seconds"]))
    verdict = "ok" if seconds <= args.budget else "OVER BUDGET"
    print(f"largest size: {seconds:.1f}s against a budget of {args.budget:.0f}s: {verdict}")
    return 0 if seconds <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
