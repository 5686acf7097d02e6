"""Bad input: every file either imports, or says clearly what is wrong, and loses nothing silently."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kitlib.backends.local import LocalBackend
from kitlib.errors import (
    ColumnMismatchError,
    ImportConflictError,
    ImportInputError,
    InputEncodingError,
    InputNotFoundError,
    UnknownFormatError,
    UnreadableInputError,
)
from kitlib.ingest.importer import import_paths, part_files

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
UNION_CSV = FIXTURES / "portal-csv" / "SigninLogs-union.csv"
DIAG_LINE = (FIXTURES / "diagnostic" / "signins.PT1H.json").read_text(encoding="utf-8").splitlines()[0]


def rejects_of(report: Any) -> list[dict[str, Any]]:
    path = report.files[0].rejects_file
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path else []


def table_counts(workspace: Path) -> dict[str, int]:
    backend = LocalBackend(workspace)
    try:
        return backend.row_counts()
    finally:
        backend.close()


def diag_record(i: int) -> str:
    """The fixture's sign-in record with its own id and second, so every line is a distinct row."""
    record = json.loads(DIAG_LINE)
    record["properties"]["id"] = f"00000000-0000-4000-8000-{i:012d}"
    record["time"] = f"2026-11-20T{9 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.0000000Z"
    return json.dumps(record)


# ---------------------------------------------------------------------------- truncated and malformed


def test_truncated_json_document_keeps_complete_records_and_rejects_the_tail(tmp_path: Path) -> None:
    text = (FIXTURES / "activity-rest" / "activity-log.json").read_text()
    cut = tmp_path / "activity-log.json"
    cut.write_text(
        text[: text.index('"caller": "bob@contoso.example",\n      "claims": {\n        "http')]
    )  # inside event 2
    report = import_paths([cut], tmp_path / "ws")
    (file,) = report.files
    assert file.status == "partial" and not report.ok
    assert (file.tables["AzureActivity"].written, file.tables["(unparsed)"].rejected) == (1, 1)
    (reject,) = rejects_of(report)
    assert reject["reason"] == "the input ends inside a JSON value after 1 complete record(s) (truncated file?)"
    assert reject["raw"].endswith('/virtualMachines/vm-lab-01"\n      },\n      ')  # the tail: where it broke
    assert "1 input(s) not fully imported" in report.to_text()
    assert table_counts(tmp_path / "ws") == {"AzureActivity": 1}


def test_invalid_json_inside_a_document_is_reported_with_what_was_lost(tmp_path: Path) -> None:
    text = (FIXTURES / "graph" / "signins-v1.json").read_text()
    broken = tmp_path / "signins.json"
    broken.write_text(text.replace('"id": "7b000000-0000-4000-8000-000000000002",', '"id": "7b000000" oops,'))
    report = import_paths([broken], tmp_path / "ws")
    assert report.files[0].status == "partial"
    (reject,) = rejects_of(report)
    # file, line and column of the break (yajl names none: the document is parsed again for them)
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if "oops" in text)
    column = broken.read_text().splitlines()[line - 1].index("oops") + 1
    assert reject["reason"] == (
        f"{broken}: invalid JSON at line {line}, column {column}: Expecting ',' delimiter "
        "(after 1 complete record(s)); the rest of the file could not be read"
    )
    assert reject["reason"] in report.files[0].notes


def test_invalid_json_in_a_large_document_is_placed_by_bytes_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the size that is parsed again whole, the place is a byte range and the line it starts on."""
    import kitlib.ingest.sources as sources

    records = [json.loads(diag_record(i)) for i in range(3000)]
    text = json.dumps({"records": records}, indent=1)
    cut = text.index('"time"', len(text) * 3 // 4)
    broken = tmp_path / "big.json"
    broken.write_text(text[:cut] + "oops " + text[cut:])
    monkeypatch.setattr(sources, "LOCATE_LIMIT", 1024)
    report = import_paths([broken], tmp_path / "ws")
    assert report.files[0].status == "partial"
    (reject,) = rejects_of(report)
    match = re.search(
        r"invalid JSON after (\d+) complete record\(s\), between bytes ([\d,]+) and ([\d,]+) "
        r"\(from about line ([\d,]+)\): (parse|lexical) error",
        reject["reason"],
    )
    assert match is not None, reject["reason"]
    start, end = (int(match.group(i).replace(",", "")) for i in (2, 3))
    assert start <= len(text[:cut].encode()) < end  # the break lies in the range named
    assert int(match.group(4).replace(",", "")) == text[:start].count("\n") + 1


def test_invalid_json_lines_name_the_file_line_and_column(tmp_path: Path) -> None:
    good = diag_record(1)
    bad = good.replace('"category"', '"category" "oops"', 1)
    path = tmp_path / "signins.jsonl"
    path.write_text(f"{good}\n{diag_record(2)}\n{bad}\n{diag_record(3)}\n")
    report = import_paths([path], tmp_path / "ws")
    (reject,) = rejects_of(report)
    column = bad.index('"oops"') + 1
    assert reject["position"] == "line 3"
    assert reject["reason"] == f"invalid JSON at line 3, column {column}: Expecting ':' delimiter"
    assert f"{path}: invalid JSON at line 3, column {column}: Expecting ':' delimiter" in report.to_text()
    assert report.files[0].tables["SigninLogs"].written == 3


def test_ten_thousand_lines_with_three_malformed_keep_the_rest(tmp_path: Path) -> None:
    lines = [diag_record(i) for i in range(10_000)]
    lines[17] = lines[17][:-40]  # cut short
    lines[5000] = "{" + lines[5000]  # stray brace
    lines[9999] = "not json at all"
    source = tmp_path / "PT1H.json"
    source.write_text("\n".join(lines) + "\n")
    report = import_paths([source], tmp_path / "ws", chunk_rows=3000)
    (file,) = report.files
    assert file.status == "imported" and report.ok
    assert (file.tables["SigninLogs"].read, file.tables["SigninLogs"].written) == (9_997, 9_997)
    assert file.tables["(unparsed)"].rejected == 3
    rejects = rejects_of(report)
    assert [r["position"] for r in rejects] == ["line 18", "line 5001", "line 10000"]
    assert [r["reason"].split(", column")[0] for r in rejects] == [
        f"invalid JSON at line {n}" for n in (18, 5001, 10000)
    ]
    assert rejects[2]["reason"] == "invalid JSON at line 10000, column 1: Expecting value"
    assert rejects[2]["raw"] == "not json at all"
    assert len(part_files(tmp_path / "ws", "SigninLogs")) == 4  # 3000-row chunks
    assert table_counts(tmp_path / "ws") == {"SigninLogs": 9_997}


def test_csv_rows_that_do_not_parse_are_rejected_with_the_column_and_value(tmp_path: Path) -> None:
    text = UNION_CSV.read_bytes().decode("utf-8-sig")
    header, body = text.split("\r\n", 1)
    rows = body.rstrip("\r\n").split("\r\n8d2e4f60")
    first = rows[0]
    bad_date = first.replace('"11/26/2026, 9:05:01.123 AM"', '"13/45/2026, 9:05 XM"', 1)
    bad_bool = first.replace(",TRUE,", ",MAYBE,", 1)
    short = "8d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e5f,Azure AD,too,few,fields"
    source = tmp_path / "SigninLogs.csv"
    source.write_text(
        "\r\n".join([header, first, bad_date, bad_bool, short, "8d2e4f60" + rows[1]]) + "\r\n", encoding="utf-8"
    )
    report = import_paths([source], tmp_path / "ws")
    assert report.files[0].tables["SigninLogs"].written == 2
    reasons = [r["reason"] for r in rejects_of(report)]
    assert reasons == [
        "TimeGenerated: '13/45/2026, 9:05 XM' is not a datetime (expected ISO-8601 or M/D/YYYY, h:mm:ss.fff AM/PM)",
        "IsInteractive: 'MAYBE' is not a bool (expected true/false)",
        "row has 5 fields, the header has 50",
    ]
    assert rejects_of(report)[1]["raw"]["UserPrincipalName"] == "alice@contoso.example"


def test_malformed_lines_before_the_first_good_record_are_rejected_too(tmp_path: Path) -> None:
    source = tmp_path / "signins.jsonl"
    source.write_text("{broken\n[1, 2\n" + diag_record(1) + "\n")
    report = import_paths([source], tmp_path / "ws")
    assert report.files[0].shape == "diagnostic"
    assert [r["position"] for r in rejects_of(report)] == ["line 1", "line 2"]
    assert report.files[0].tables["SigninLogs"].written == 1


def test_a_truncated_last_json_line_is_one_reject(tmp_path: Path) -> None:
    source = tmp_path / "signins.jsonl"
    source.write_text(diag_record(1) + "\n" + diag_record(2)[:120])
    report = import_paths([source], tmp_path / "ws")
    assert report.files[0].tables["SigninLogs"].written == 1
    assert [r["position"] for r in rejects_of(report)] == ["line 2"]


# ---------------------------------------------------------------------------- encodings


def test_utf16_files_are_decoded_not_garbled(tmp_path: Path) -> None:
    text = UNION_CSV.read_bytes().decode("utf-8-sig")
    with_bom = tmp_path / "SigninLogs-utf16.csv"
    with_bom.write_bytes(text.encode("utf-16"))  # BOM + little endian, as Excel's "Unicode text"
    no_bom = tmp_path / "signins-utf16be.jsonl"
    no_bom.write_bytes((diag_record(1) + "\n").encode("utf-16-be"))
    report = import_paths([with_bom, no_bom], tmp_path / "ws")
    assert [f.encoding for f in report.files] == ["utf-16-le", "utf-16-be"]
    assert report.totals()["SigninLogs"].written == 4 and report.rejected == 0
    backend = LocalBackend(tmp_path / "ws")
    try:
        assert backend.row_counts() == {"SigninLogs": 4}
    finally:
        backend.close()


def test_latin1_bytes_fail_clearly_unless_the_encoding_is_given(tmp_path: Path) -> None:
    text = UNION_CSV.read_bytes().decode("utf-8-sig").replace("Alice Admin", "Renée Admin")
    source = tmp_path / "SigninLogs.csv"
    source.write_bytes(text.encode("cp1252"))
    with pytest.raises(InputEncodingError) as caught:
        import_paths([source], tmp_path / "ws")
    message = str(caught.value)
    assert "not UTF-8: byte 0xE9" in message and "Latin-1/Windows-1252" in message and "--encoding" in message
    assert not (tmp_path / "ws" / "SigninLogs").exists()
    report = import_paths([source], tmp_path / "ws", encoding="cp1252")
    assert report.files[0].encoding == "cp1252"
    backend = LocalBackend(tmp_path / "ws")
    try:
        names = set(
            backend._con.execute(
                'SELECT "UserDisplayName" FROM read_parquet(?)', [str(part_files(tmp_path / "ws", "SigninLogs")[0])]
            ).fetchall()
        )
    finally:
        backend.close()
    assert ("Renée Admin",) in names


def test_undecodable_bytes_deep_in_a_large_file_reject_only_their_line(tmp_path: Path) -> None:
    lines = [diag_record(i).encode() for i in range(600)]  # about 2 MB: past the 1 MB sniff window
    lines[550] = lines[550].replace(b"Build Agent", b"Build Ag\xe9nt")
    source = tmp_path / "PT1H.json"
    source.write_bytes(b"\n".join(lines) + b"\n")
    report = import_paths([source], tmp_path / "ws")
    assert report.files[0].tables["SigninLogs"].written == 599
    (reject,) = rejects_of(report)
    assert reject["position"] == "line 551" and reject["reason"].startswith("line is not valid UTF-8 (byte 0xE9")
    assert "Build Ag\\xe9nt" in reject["raw"]


# ---------------------------------------------------------------------------- wrong columns, wrong format


def test_csv_missing_a_required_column_names_it_and_writes_nothing(tmp_path: Path) -> None:
    text = UNION_CSV.read_bytes().decode("utf-8-sig")
    source = tmp_path / "SigninLogs.csv"
    source.write_text(
        text.replace(",UserId,", ",UserIdentifier,").replace(",UserPrincipalName,", ",Upn,"), encoding="utf-8"
    )
    with pytest.raises(ColumnMismatchError) as caught:
        import_paths([source], tmp_path / "ws")
    assert caught.value.table == "SigninLogs"
    assert caught.value.missing == ["UserPrincipalName or UserId"]
    assert "SigninLogs rows need column(s) UserPrincipalName or UserId" in str(caught.value)
    assert not (tmp_path / "ws" / "SigninLogs").exists()
    assert not list((tmp_path / "ws").glob("_staging/*/*"))


def test_a_table_with_the_wrong_columns_for_the_table_asked(tmp_path: Path) -> None:
    text = UNION_CSV.read_bytes().decode("utf-8-sig").replace(",Type,", ",Kind,").replace(",Category,", ",Kategorie,")
    source = tmp_path / "export.csv"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(ColumnMismatchError) as caught:
        import_paths([source], tmp_path / "ws", table="AzureActivity")
    # (the sign-in export's OperationName, "Sign-in activity", stands in for the operation group)
    assert caught.value.missing == ["Caller or Claims or Claims_d"]
    assert "AzureActivity rows need column(s) Caller or Claims or Claims_d" in str(caught.value)
    # rows that name their table are not moved by --table: they are rejected with the reason
    report = import_paths([UNION_CSV], tmp_path / "ws2", table="AzureActivity")
    assert report.totals()["SigninLogs"].rejected == 3


def test_unknown_shapes_list_the_shapes_the_importer_knows(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("these are not logs\njust notes\n")
    with pytest.raises(UnknownFormatError) as caught:
        import_paths([text_file], tmp_path / "ws")
    assert "first line is not a CSV header" in str(caught.value)
    assert "la-csv: Log Analytics portal 'Export to CSV'" in str(caught.value)
    other_json = tmp_path / "weather.json"
    other_json.write_text(json.dumps([{"city": "Utrecht", "temperature": 11}]))
    with pytest.raises(UnknownFormatError) as caught:
        import_paths([other_json], tmp_path / "ws")
    message = str(caught.value)
    assert "first record's fields: city, temperature" in message
    for shape in ("la-csv:", "la-json:", "diagnostic:", "activity-rest:", "graph:"):
        assert shape in message
    summary = tmp_path / "summary.csv"
    summary.write_text("UserPrincipalName,Attempts\r\nalice@contoso.example,4\r\n")
    with pytest.raises((UnknownFormatError, ColumnMismatchError)):
        import_paths([summary], tmp_path / "ws", table="SigninLogs")


def test_local_time_headers_are_refused_rather_than_guessed(tmp_path: Path) -> None:
    text = UNION_CSV.read_bytes().decode("utf-8-sig").replace("TimeGenerated [UTC]", "TimeGenerated [Local Time]")
    source = tmp_path / "SigninLogs.csv"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(ImportInputError, match="no fixed UTC offset; re-export with the display time zone set to UTC"):
        import_paths([source], tmp_path / "ws")


# ---------------------------------------------------------------------------- empty, unreadable


@pytest.mark.parametrize(
    "content", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf"], ids=["zero-bytes", "whitespace", "bom-only"]
)
def test_empty_files_are_reported_as_empty_and_write_nothing(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "SigninLogs.csv"
    source.write_bytes(content)
    report = import_paths([source], tmp_path / "ws")
    (file,) = report.files
    assert file.status == "empty" and report.ok and report.totals() == {}
    assert "the file is empty: nothing to import" in file.notes
    assert not (tmp_path / "ws" / "SigninLogs").exists()


def test_a_header_only_csv_imports_zero_rows(tmp_path: Path) -> None:
    header = UNION_CSV.read_bytes().decode("utf-8-sig").split("\r\n", 1)[0]
    source = tmp_path / "SigninLogs.csv"
    source.write_text(header + "\r\n", encoding="utf-8-sig")
    report = import_paths([source], tmp_path / "ws")
    assert report.files[0].status == "imported" and report.totals() == {}


def test_missing_and_corrupt_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError) as caught:
        import_paths([tmp_path / "nope.json"], tmp_path / "ws")
    assert caught.value.exit_code == 2 and "no such file or folder" in str(caught.value)
    corrupt = tmp_path / "signins.json.gz"
    corrupt.write_bytes(gzip.compress(DIAG_LINE.encode())[:-12])
    with pytest.raises(UnreadableInputError, match="corrupt or truncated"):
        import_paths([corrupt], tmp_path / "ws")
    not_a_zip = tmp_path / "logs.zip"
    not_a_zip.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(UnreadableInputError, match="not a readable zip archive"):
        import_paths([not_a_zip], tmp_path / "ws")


def test_keep_going_imports_the_good_files_and_reports_the_bad(tmp_path: Path) -> None:
    bad = tmp_path / "weather.json"
    bad.write_text('[{"city": "Utrecht"}]')
    report = import_paths([bad, FIXTURES / "graph" / "signins-v1.json"], tmp_path / "ws", keep_going=True)
    assert [f.status for f in report.files] == ["failed", "imported"]
    assert "fit no known shape" in (report.files[0].error or "")
    assert not report.ok and report.written == 2


def test_a_workspace_holding_a_table_as_one_file_is_not_written_beside(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "SigninLogs.csv").write_text("TimeGenerated,UserPrincipalName\n")
    with pytest.raises(ImportConflictError, match=r"already holds SigninLogs as SigninLogs\.csv"):
        import_paths([UNION_CSV], workspace)
    assert not (workspace / "SigninLogs").exists()
