"""Benchmark the importer: peak memory stays flat while the input grows far past a chunk.

Generates sign-in exports much larger than one import chunk (32 MB of input by default) and
imports each in a fresh process, recording wall time, CPU time and peak RSS (``ru_maxrss`` of
the child). A small and a large file of the same shape are compared: bounded memory means the
large one needs about as much RAM as the small one, not eight times more.

Shapes:

- ``diagnostic-jsonl``: diagnostic-settings sign-in records, one per line (storage ``PT1H.json``);
- ``eventhub-json``: the same records in one ``{"records": [...]}`` document (streamed with ijson);
- ``portal-csv``: a Log Analytics portal CSV export (BOM, CRLF, US-locale dates, JSON cells).

A hostile input is measured too: a zip of about 1 MB that unpacks to one JSON Lines file whose
second line is 1 GiB (``--hostile-gib``), between ordinary lines. The importer must reject that
line while streaming and keep the others, with peak memory near the ordinary files'.

Run: ``.venv/bin/python bench/bench_import.py [--sizes 50 400] [--shapes diagnostic-jsonl] [--hostile-gib 1]``
(sizes in MB). Also prints the baseline RSS of a process that only imports kitlib.ingest.importer.
Exit code 1 when the large file's peak RSS exceeds ``--max-rss`` MB (default 1024).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from pathlib import Path
cpu0, wall0 = time.process_time(), time.perf_counter()
from kitlib.ingest.importer import import_paths
if sys.argv[1] == "--baseline":
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    raise SystemExit(0)
report = import_paths([Path(sys.argv[1])], Path(sys.argv[2]))
parts = sorted(Path(sys.argv[2]).glob("*/import-*.parquet"))
print(json.dumps({
    "seconds": time.perf_counter() - wall0,
    "cpu_seconds": time.process_time() - cpu0,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rows": report.written,
    "rejected": report.rejected,
    "status": [f.status for f in report.files],
    "parts": len(parts),
    "parquet_mb": sum(p.stat().st_size for p in parts) / 2**20,
}))
"""

ARM = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
APPS = (
    ("04b07795-8ddb-461a-bbee-02f9e1bf7b46", "Microsoft Azure CLI", "MSAL.Python 1.31.0"),
    ("1950a258-227b-4e31-a9cf-717495945fc2", "Microsoft Azure PowerShell", "MSAL.NetCore 4.61.3.0"),
    ("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal", ""),
)
CATEGORIES = (("SignInLogs", True), ("NonInteractiveUserSignInLogs", False))


def signin_records(seed: int = 1) -> Iterator[dict[str, object]]:
    """Endless distinct diagnostic-settings sign-in records (about 2.5 KB each)."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    i = 0
    while True:
        i += 1
        when = start + dt.timedelta(seconds=i * 7 + rng.randrange(7))
        app, app_name, library = APPS[rng.randrange(len(APPS))]
        category, interactive = CATEGORIES[rng.randrange(2)]
        user = f"user{rng.randrange(5000):04d}@contoso.example"
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
        body: dict[str, object] = {
            "id": f"{i:08x}-0000-4000-8000-{rng.getrandbits(48):012x}",
            "createdDateTime": stamp + "+00:00",
            "userDisplayName": user.split("@")[0],
            "userPrincipalName": user,
            "userId": f"{rng.getrandbits(32):08x}-0000-4000-8000-000000000000",
            "appId": app,
            "appDisplayName": app_name,
            "ipAddress": f"198.51.{rng.randrange(256)}.{rng.randrange(256)}",
            "status": {"errorCode": 0 if rng.random() > 0.05 else 50076},
            "clientAppUsed": "Mobile Apps and Desktop clients",
            "userAgent": "python-requests/2.32.3",
            "deviceDetail": {"deviceId": "", "operatingSystem": "Linux", "browser": "Python Requests 2.32"},
            "location": {"city": "Amsterdam", "state": "Noord-Holland", "countryOrRegion": "NL",
                         "geoCoordinates": {"latitude": 52.37, "longitude": 4.89}},
            "correlationId": f"{rng.getrandbits(128):032x}",
            "conditionalAccessStatus": "notApplied",
            "appliedConditionalAccessPolicies": [
                {"id": "ca000000-0000-4000-8000-000000000001", "displayName": "Require MFA for Azure management",
                 "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": [], "result": "notApplied"}
            ],
            "isInteractive": interactive,
            "authenticationProtocol": "none",
            "incomingTokenType": "refreshToken" if not interactive else "none",
            "authenticationProcessingDetails": [
                {"key": "Azure AD App Authentication Library",
                 "value": f"Family: MSAL Library: {library} Platform: Python"},
                {"key": "Is CAE Token", "value": "False"},
            ],
            "processingTimeInMilliseconds": rng.randrange(20, 400),
            "resourceDisplayName": "Windows Azure Service Management API",
            "resourceId": ARM,
            "authenticationDetails": [
                {"authenticationStepDateTime": stamp + "+00:00", "authenticationMethod": "Previously satisfied",
                 "succeeded": True,
                 "authenticationStepResultDetail": "First factor requirement satisfied by claim in the token",
                 "authenticationStepRequirement": "Primary authentication"}
            ],
            "authenticationRequirement": "singleFactorAuthentication",
            "uniqueTokenIdentifier": f"{rng.getrandbits(128):032x}",
            "userType": "Member",
            "autonomousSystemNumber": 64501,
        }  # fmt: skip
        yield {
            "time": stamp + "Z",
            "resourceId": "/tenants/3f6c0a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity",
            "category": category,
            "resultType": str(body["status"]["errorCode"]),  # type: ignore[index]
            "resultSignature": "None",
            "durationMs": 0,
            "correlationId": body["correlationId"],
            "identity": body["userDisplayName"],
            "Level": 4,
            "location": "NL",
            "properties": body,
        }


def write_jsonl(path: Path, megabytes: int) -> None:
    limit = megabytes * 2**20
    with open(path, "w", encoding="utf-8") as out:
        for record in signin_records():
            out.write(json.dumps(record) + "\n")
            if out.tell() >= limit:
                return


def write_eventhub(path: Path, megabytes: int) -> None:
    limit = megabytes * 2**20
    with open(path, "w", encoding="utf-8") as out:
        out.write('{"records": [\n')
        first = True
        for record in signin_records():
            out.write(("" if first else ",\n") + json.dumps(record))
            first = False
            if out.tell() >= limit:
                break
        out.write("\n]}\n")


CSV_COLUMNS = (
    "TenantId", "TimeGenerated [UTC]", "Category", "ResultType", "AppId", "AppDisplayName", "UserPrincipalName",
    "UserId", "IsInteractive", "ResourceIdentity", "ResourceDisplayName", "AuthenticationRequirement",
    "AuthenticationProcessingDetails", "AuthenticationDetails", "DeviceDetail", "LocationDetails", "Status",
    "ConditionalAccessPolicies", "IPAddress", "UserAgent", "Id", "CorrelationId", "CreatedDateTime [UTC]", "Type",
)  # fmt: skip


def _us(stamp: str) -> str:
    when = dt.datetime.fromisoformat(stamp[:26])
    clock = f"{when.hour % 12 or 12}:{when.minute:02d}:{when.second:02d}.{when.microsecond // 1000:03d}"
    return f"{when.month}/{when.day}/{when.year}, {clock} {'AM' if when.hour < 12 else 'PM'}"


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2).replace("\n", "\r\n")
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def write_portal_csv(path: Path, megabytes: int) -> None:
    limit = megabytes * 2**20
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        out.write(",".join(CSV_COLUMNS) + "\r\n")
        for record in signin_records():
            body = record["properties"]
            assert isinstance(body, dict)
            table = "SigninLogs" if record["category"] == "SignInLogs" else "AADNonInteractiveUserSignInLogs"
            row = (
                "8d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e5f", _us(str(record["time"])), record["category"],
                record["resultType"], body["appId"], body["appDisplayName"], body["userPrincipalName"], body["userId"],
                "TRUE" if body["isInteractive"] else "FALSE", ARM, body["resourceDisplayName"],
                body["authenticationRequirement"], body["authenticationProcessingDetails"],
                body["authenticationDetails"],
                json.dumps(body["deviceDetail"]), json.dumps(body["location"]), json.dumps(body["status"]),
                json.dumps(body["appliedConditionalAccessPolicies"]), body["ipAddress"], body["userAgent"], body["id"],
                body["correlationId"], _us(str(body["createdDateTime"])), table,
            )  # fmt: skip
            out.write(",".join(_cell(v) for v in row) + "\r\n")
            if out.tell() >= limit:
                return


WRITERS = {"diagnostic-jsonl": (write_jsonl, "PT1H.json"), "eventhub-json": (write_eventhub, "batch.json"),
           "portal-csv": (write_portal_csv, "export.csv")}  # fmt: skip


def write_hostile_zip(path: Path, gib: float) -> None:
    """A small zip holding ordinary JSON lines around one line of ``gib`` GiB (written in pieces)."""
    import zipfile

    records = signin_records(seed=7)
    piece = b"a" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("signins.PT1H.json", "w", force_zip64=True) as out:
            out.write((json.dumps(next(records)) + "\n").encode())
            out.write(b'{"time": "2026-11-20T10:00:00Z", "category": "SignInLogs", "padding": "')
            for _ in range(int(gib * 1024)):
                out.write(piece)
            out.write(b'"}\n')
            for _ in range(5):
                out.write((json.dumps(next(records)) + "\n").encode())


def child(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 400], help="input sizes in MB")
    parser.add_argument("--shapes", nargs="+", choices=sorted(WRITERS), default=["diagnostic-jsonl", "portal-csv"])
    parser.add_argument("--max-rss", type=float, default=1024.0, help="MB of peak RSS allowed for the largest file")
    parser.add_argument("--hostile-gib", type=float, default=1.0, help="GiB of the one huge line (0: skip)")
    parser.add_argument("--write", type=Path, help="also write the results as Markdown here (bench/import_results.md)")
    args = parser.parse_args(argv)
    lines: list[str] = []

    def say(text: str) -> None:
        print(text)
        lines.append(text)

    baseline = child("--baseline")
    say(f"baseline (python + kitlib.ingest.importer imported): peak RSS {baseline['peak_rss_mb']:.0f} MB")
    worst = 0.0
    for shape in args.shapes:
        write, name = WRITERS[shape]
        for size in args.sizes:
            with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
                source = Path(tmp) / name
                started = time.perf_counter()
                write(source, size)
                written = time.perf_counter() - started
                actual = source.stat().st_size / 2**20
                r = child(str(source), str(Path(tmp) / "ws"))
            rows = int(r["rows"])  # type: ignore[call-overload]
            seconds = float(r["seconds"])  # type: ignore[arg-type]
            say(
                f"{shape:<17} {actual:7.0f} MB input ({written:5.1f}s to generate): "
                f"{rows:>9,} rows in {seconds:6.1f}s wall, "
                f"{r['cpu_seconds']:6.1f}s CPU ({rows / seconds:7,.0f} rows/s, {actual / seconds:5.1f} MB/s), "
                f"peak RSS {r['peak_rss_mb']:5.0f} MB, {r['parts']} part files, {r['parquet_mb']:.0f} MB Parquet, "
                f"rejected {r['rejected']}, {r['status']}"
            )
            if size == max(args.sizes):
                worst = max(worst, float(r["peak_rss_mb"]))  # type: ignore[arg-type]
    if args.hostile_gib:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
            source = Path(tmp) / "hostile.zip"
            write_hostile_zip(source, args.hostile_gib)
            zipped = source.stat().st_size / 2**20
            r = child(str(source), str(Path(tmp) / "ws"))
        say(
            f"hostile zip       {zipped:7.1f} MB zip holding a {args.hostile_gib:g} GiB line: {r['rows']} rows kept, "
            f"{r['rejected']} rejected in {float(r['seconds']):6.1f}s wall, peak RSS {r['peak_rss_mb']:5.0f} MB, "
            f"{r['status']}"  # type: ignore[arg-type]
        )
        worst = max(worst, float(r["peak_rss_mb"]))  # type: ignore[arg-type]
    verdict = (
        f"peak RSS {worst:.0f} MB " + ("exceeds" if worst > args.max_rss else "within") + f" {args.max_rss:.0f} MB"
    )
    say(verdict)
    if args.write is not None:
        load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
        args.write.write_text(
            "# Import benchmark (`bench/bench_import.py`)\n\n"
            f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, load average {load} "
            "(1/5/15 min). Each input is imported in a fresh process; peak RSS is that process's `ru_maxrss`.\n\n"
            + "\n".join(f"- {line}" for line in lines)
            + "\n",
            encoding="utf-8",
        )
    return 1 if worst > args.max_rss else 0


if __name__ == "__main__":
    sys.exit(main())
