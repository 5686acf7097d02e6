"""Crafted inputs: what an attacker or a broken exporter hands the importer, and the safe outcome.

Oversized records are rejected while streaming (memory stays bounded; the memory figure for a
1 GiB line is a row of ``bench/bench_import.py``), deep nesting is a reject, not a traceback,
placeholder dates are rejects, and nothing is passed over without a word: skipped zip members,
hidden files and folder links, repeated header columns, rows repeated inside one file.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kitlib.backends.local import LocalBackend
from kitlib.errors import UnreadableInputError
from kitlib.ingest.importer import ImportReport, import_paths, part_files

LIMIT = 1 << 20  # 1 MiB for the tests: the default is 16 MiB


def signin(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "TimeGenerated": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "UserPrincipalName": f"user{i}@contoso.example",
        "AppId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "ResultType": "0",
        "ResourceIdentity": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "Type": "SigninLogs",
        **extra,
    }


def rows_in(workspace: Path) -> int:
    with LocalBackend(workspace) as backend:
        return backend.row_counts().get("SigninLogs", 0)


def reasons(report: ImportReport) -> list[str]:
    found = []
    for file in report.files:
        if file.rejects_file:
            found += [json.loads(line)["reason"] for line in file.rejects_file.read_text(encoding="utf-8").splitlines()]
    return found


# -- 2. records too large to hold ----------------------------------------------------------------


def test_an_oversized_json_line_in_a_zip_is_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    lines = [json.dumps(signin(i)) for i in range(3)]
    huge = json.dumps(signin(3, UserAgent="x" * (3 * LIMIT)))
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("signins.jsonl", "\n".join([lines[0], huge, lines[1], lines[2]]) + "\n")
    assert archive.stat().st_size < 100_000  # small on disk, large when unpacked
    report = import_paths([archive], tmp_path / "ws", max_record_bytes=LIMIT)
    (file,) = report.files
    assert file.tables["SigninLogs"].written == 3
    (reason,) = reasons(report)
    assert "larger than the 1,048,576-byte limit" in reason and "--max-record-size" in reason
    assert rows_in(tmp_path / "ws") == 3


def test_an_oversized_csv_line_is_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    frame = pd.DataFrame([signin(i) for i in range(4)])
    frame.loc[2, "AppId"] = "y" * (2 * LIMIT)
    source = tmp_path / "signins.csv"
    frame.to_csv(source, index=False)
    report = import_paths([source], tmp_path / "ws", max_record_bytes=LIMIT)
    assert report.files[0].tables["SigninLogs"].written == 3
    assert any("larger than" in r for r in reasons(report))


def test_an_oversized_record_in_a_json_document_keeps_what_came_before(tmp_path: Path) -> None:
    records = [signin(0), signin(1), signin(2, UserAgent="z" * (3 * LIMIT)), signin(3)]
    source = tmp_path / "signins.json"
    source.write_text(json.dumps({"value": records}), encoding="utf-8")
    report = import_paths([source], tmp_path / "ws", max_record_bytes=LIMIT)
    (file,) = report.files
    assert file.status == "partial" and file.tables["SigninLogs"].written == 2
    (reason,) = reasons(report)
    assert "cannot be read past it" in reason and "2 record(s) before it were kept" in reason


def test_a_large_single_line_query_api_document_still_imports(tmp_path: Path) -> None:
    columns = list(signin(0))
    rows = [[signin(i)[c] for c in columns] for i in range(40_000)]
    source = tmp_path / "query.json"
    source.write_text(
        json.dumps({"tables": [{"name": "PrimaryResult", "columns": [{"name": c} for c in columns], "rows": rows}]}),
        encoding="utf-8",
    )
    assert source.stat().st_size > 4 * LIMIT and source.read_text(encoding="utf-8").count("\n") == 0
    report = import_paths([source], tmp_path / "ws", max_record_bytes=LIMIT)
    assert report.ok and report.files[0].tables["SigninLogs"].written == 40_000


# -- 4. errors, not tracebacks --------------------------------------------------------------------


def test_deeply_nested_json_is_a_reject_and_keep_going_goes_on(tmp_path: Path) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    good = json.dumps(signin(1))
    nested = tmp_path / "a-nested.jsonl"
    nested.write_text(f'{json.dumps(signin(0))[:-1]}, "DeviceDetail": {deep}}}\n{good}\n', encoding="utf-8")
    document = tmp_path / "b-document.json"
    document.write_text(f'[{json.dumps(signin(2))[:-1]}, "DeviceDetail": {deep}}}, {json.dumps(signin(3))}]')
    fine = tmp_path / "c-fine.jsonl"
    fine.write_text(json.dumps(signin(4)) + "\n", encoding="utf-8")
    report = import_paths([nested, document, fine], tmp_path / "ws", keep_going=True)
    written = {f.source.rsplit("/", 1)[-1]: f.tables.get("SigninLogs") for f in report.files}
    assert written["c-fine.jsonl"] is not None and written["c-fine.jsonl"].written == 1
    assert written["a-nested.jsonl"] is not None and written["a-nested.jsonl"].written == 1
    assert any("nested too deeply" in r for r in reasons(report))
    assert not (tmp_path / "ws" / "_staging").exists()


def test_a_windows_null_date_is_rejected_with_its_reason(tmp_path: Path) -> None:
    source = tmp_path / "signins.jsonl"
    rows = [
        signin(0),
        {**signin(1), "TimeGenerated": "1601-01-01T00:00:00Z"},
        {**signin(2), "CreatedDateTime": "1601-01-01T00:00:00Z"},
    ]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = import_paths([source], tmp_path / "ws")
    assert report.files[0].tables["SigninLogs"].written == 1
    assert sum("Windows' 'no date'" in r for r in reasons(report)) == 2
    with LocalBackend(tmp_path / "ws") as backend:  # what doctor reads: no out-of-range time got in
        assert backend.row_counts() == {"SigninLogs": 1}


def test_the_staging_folder_goes_even_when_an_import_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(UnreadableInputError):
        import_paths([bad], tmp_path / "ws")
    assert not (tmp_path / "ws" / "_staging").exists()


# -- 5. nothing passed over without a word ---------------------------------------------------------


def test_zip_members_that_are_not_read_are_each_reported(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    line = json.dumps(signin(0)) + "\n"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("signins.jsonl", line)
        zf.writestr("../escape.jsonl", line)
        zf.writestr("/etc/absolute.jsonl", line)
        zf.writestr(".hidden.jsonl", line)
        zf.writestr("__MACOSX/._signins.jsonl", line)
    report = import_paths([archive], tmp_path / "ws")
    assert [f.tables["SigninLogs"].written for f in report.files] == [1]
    skipped = {s.source.split("!", 1)[1]: s.reason for s in report.skipped_inputs}
    assert skipped == {
        "../escape.jsonl": "a path that leaves its archive (..)",
        "/etc/absolute.jsonl": "an absolute path inside an archive",
        ".hidden.jsonl": "a hidden file or folder",
        "__MACOSX/._signins.jsonl": "macOS resource data (__MACOSX), not logs",
    }
    text = report.to_text()
    assert all(name in text for name in skipped)


def test_hidden_files_and_folder_links_are_reported(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    (inputs / ".cache").mkdir(parents=True)
    (inputs / ".cache" / "old.jsonl").write_text(json.dumps(signin(0)) + "\n")
    (inputs / "signins.jsonl").write_text(json.dumps(signin(1)) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "more.jsonl").write_text(json.dumps(signin(2)) + "\n")
    (inputs / "link").symlink_to(elsewhere, target_is_directory=True)
    report = import_paths([inputs], tmp_path / "ws")
    assert report.written == 1
    reasons_by_name = {Path(s.source).name: s.reason for s in report.skipped_inputs}
    assert reasons_by_name == {
        ".cache": "a hidden file or folder",
        "link": "a link to a folder, not followed (name the folder itself)",
    }


def test_a_column_named_twice_in_a_csv_header_loses_no_value(tmp_path: Path) -> None:
    source = tmp_path / "signins.csv"
    header = "TimeGenerated,UserPrincipalName,AppId,ResultType,ResourceIdentity,Type,UserPrincipalName"
    source.write_text(
        header
        + "\n2026-11-20T10:00:00Z,first@contoso.example,x,0,r,SigninLogs,\n"  # only the first copy filled
        + "2026-11-20T10:00:01Z,,x,0,r,SigninLogs,second@contoso.example\n"  # only the second
        + "2026-11-20T10:00:02Z,same@contoso.example,x,0,r,SigninLogs,same@contoso.example\n"
        + "2026-11-20T10:00:03Z,one@contoso.example,x,0,r,SigninLogs,other@contoso.example\n",
        encoding="utf-8",
    )
    report = import_paths([source], tmp_path / "ws")
    (file,) = report.files
    assert file.tables["SigninLogs"].written == 3
    assert any("appears 2 times in the header (columns 2, 7)" in n for n in file.notes)
    assert reasons(report) == ["column 'UserPrincipalName' holds different values in columns 2 and 7"]
    written = pd.concat(pd.read_parquet(p) for p in part_files(tmp_path / "ws", "SigninLogs"))
    assert sorted(written["UserPrincipalName"]) == [
        "first@contoso.example",
        "same@contoso.example",
        "second@contoso.example",
    ]


def test_rows_repeated_inside_one_file_are_counted_and_kept(tmp_path: Path) -> None:
    source = tmp_path / "signins.jsonl"
    lines = [json.dumps(signin(0)), json.dumps(signin(1)), json.dumps(signin(0)), json.dumps(signin(0))]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_paths([source], tmp_path / "ws", chunk_rows=2)  # repeats across chunks too
    counts = report.files[0].tables["SigninLogs"]
    assert (counts.written, counts.repeated, counts.duplicates) == (4, 2, 0)
    assert "2 row(s) repeat an earlier row of this file exactly (kept)" in report.to_text()


def test_file_names_with_glob_characters_count_their_rows_once(tmp_path: Path) -> None:
    folder = tmp_path / "ws" / "SigninLogs"
    folder.mkdir(parents=True)
    one = pd.DataFrame([signin(i) for i in range(5)]).drop(columns="Type")
    one.assign(TimeGenerated=pd.to_datetime(one["TimeGenerated"])).to_parquet(folder / "part1.parquet")
    one.head(2).assign(TimeGenerated=pd.to_datetime(one["TimeGenerated"].head(2))).to_parquet(
        folder / "part[1].parquet"
    )
    one.head(1).assign(TimeGenerated=pd.to_datetime(one["TimeGenerated"].head(1))).to_parquet(folder / "p*.parquet")
    assert rows_in(tmp_path / "ws") == 5 + 2 + 1
    source = tmp_path / "sign[ins]*.jsonl"
    source.write_text(json.dumps(signin(9)) + "\n", encoding="utf-8")
    report = import_paths([source], tmp_path / "ws2")
    assert report.written == 1 and rows_in(tmp_path / "ws2") == 1


def test_the_cli_rejects_a_size_it_cannot_read(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kitlib.cli import main

    source = tmp_path / "s.jsonl"
    source.write_text(json.dumps(signin(0)) + "\n")
    bad = CliRunner().invoke(
        main, ["import", str(source), "--workspace", str(tmp_path / "w"), "--max-record-size", "lots"]
    )
    assert bad.exit_code == 2 and "not a size" in bad.output
    good = CliRunner().invoke(
        main, ["import", str(source), "--workspace", str(tmp_path / "w"), "--max-record-size", "2MiB", "--no-progress"]
    )
    assert good.exit_code == 0, good.output
    assert io.StringIO(good.output).read().count("written") >= 1


def test_doctor_and_queries_survive_a_placeholder_date_written_by_another_tool(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from kitlib.doctor import doctor

    rows = [signin(i) for i in range(3)]
    times = [
        dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        dt.datetime(1601, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 21, tzinfo=dt.UTC),
    ]
    table = pa.Table.from_pylist([{**r, "TimeGenerated": t} for r, t in zip(rows, times, strict=True)])
    (tmp_path / "ws").mkdir()
    pq.write_table(table.drop(["Type"]), tmp_path / "ws" / "SigninLogs.parquet")
    report = doctor(str(tmp_path / "ws"), now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    assert "SigninLogs" in report.text
