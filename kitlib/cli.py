"""The ``kitlib`` command line: thin wrappers over library calls.

Exit codes: 0 success, 1 the work failed, 2 usage or configuration error.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd

from kitlib import timeparse
from kitlib.analysis.impact import run_analyze
from kitlib.backends.local import LocalBackend
from kitlib.demo import generate
from kitlib.doctor import doctor
from kitlib.errors import KitError, WindowError
from kitlib.ingest.importer import import_paths
from kitlib.query.catalog import get_query, load_catalog
from kitlib.query.run import run_query
from kitlib.safe_csv import write_csv
from kitlib.version import __version__

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("kitlib")


def handle_errors(func: F) -> F:
    """Turn KitErrors into one clear line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def parse_now(value: str | None) -> dt.datetime:
    """``--now``: an ISO instant (UTC if no zone), or the current time when omitted."""
    try:
        return timeparse.parse_now(value)
    except WindowError as exc:
        raise click.BadParameter(exc.reason, param_hint="--now") from None


def parse_lookback(value: str) -> dt.timedelta:
    """``--lookback``: the window's length (30d, 12h, 90m)."""
    try:
        return timeparse.parse_lookback(value)
    except WindowError as exc:
        raise click.BadParameter(exc.reason, param_hint="--lookback") from None


def _codec(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--encoding``: a codec Python knows, checked before any file is read."""
    if value is None:
        return None
    try:
        return codecs.lookup(value).name
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r} (e.g. latin-1, cp1252, utf-16)") from None


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}


def _byte_size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """``--max-record-size``: bytes, or a number with a unit (512KiB, 16MiB, 1GB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise click.BadParameter(f"{value!r} is not a size; use e.g. 16MiB, 512KiB or 1000000")
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if not 1024 <= size <= 1024**3:
        raise click.BadParameter("must be between 1KiB and 1GiB")
    return size


now_option = click.option("--now", "now_text", metavar="ISO", help="Pretend it is this instant (UTC); default: now.")
lookback_option = click.option(
    "--lookback",
    default="30d",
    show_default=True,
    metavar="SPAN",
    help="Analysis window ending at --now (e.g. 30d, 12h).",
)


def param_option(help_text: str) -> Callable[[F], F]:
    """``-p NAME VALUE`` (repeatable): query or notebook parameters given as text."""
    return click.option("-p", "--param", "params", multiple=True, nargs=2, metavar="NAME VALUE", help=help_text)


workspace_option = click.option(
    "--workspace",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder: one file or folder per table (Parquet, CSV, JSON, JSONL).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kitlib")
@click.option(
    "--log-level", default="WARNING", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"])
)
def main(log_level: str) -> None:
    """Phase 2 MFA readiness kit: who breaks when Azure Resource Manager requires MFA for writes."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")


@main.command("query")
@click.argument("name")
@workspace_option
@param_option("Query parameter (repeatable).")
@now_option
@lookback_option
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the result (.csv, .parquet, .json)."
)
@handle_errors
def query_command(
    name: str,
    workspace: Path,
    params: tuple[tuple[str, str], ...],
    now_text: str | None,
    lookback: str,
    out: Path | None,
) -> None:
    """Run catalog query NAME on a workspace folder and print or write the result."""

    backend = LocalBackend(workspace, now=parse_now(now_text))
    result = run_query(backend, name, now=backend.now, lookback=parse_lookback(lookback), **dict(params))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if out is None:
        with pd.option_context("display.max_rows", 60, "display.width", 200, "display.max_colwidth", 60):
            click.echo(result.frame.to_string(index=False) if len(result.frame) else "(no rows)")
        click.echo(f"{result.rows} rows in {result.elapsed_seconds:.2f}s", err=True)
        return
    write_frame(result.frame, out)
    click.echo(f"wrote {result.rows} rows to {out}", err=True)


@main.command("queries")
@click.argument("name", required=False)
@param_option("With NAME: bind values and print the query.")
@handle_errors
def queries_command(name: str | None, params: tuple[tuple[str, str], ...]) -> None:
    """List the query catalog, or show one query (its header, parameters and KQL).

    With -p values the declaration is replaced by typed `let` lines, ready to paste into the
    Log Analytics portal.
    """

    if name is None:
        catalog = load_catalog()
        width = max(len(q) for q in catalog)
        for query in catalog.values():
            click.echo(f"{query.name:<{width}}  {query.description}")
        return
    query = get_query(name)
    if params:
        click.echo(query.bind_as_lets(dict(params)))
        return
    click.echo(f"{query.name}: {query.description}")
    click.echo(
        f"tables: {', '.join(query.tables)}"
        + (f" (optional: {', '.join(query.optional_tables)})" if query.optional_tables else "")
    )
    for p in query.parameters:
        click.echo(f"parameter {p.name}: {p.kql_type}" + ("" if p.required else f" = {p.default}"))
    click.echo("")
    click.echo(query.text.rstrip())


@main.command("export")
@click.argument("executed", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--html", "html_out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="HTML file to write."
)
@handle_errors
def export_command(executed: Path, html_out: Path) -> None:
    """Export a notebook executed by papermill as one offline HTML file (code hidden, figures inline)."""
    from kitlib.reporting.export import export_html  # deferred: nbconvert takes seconds to import

    result = export_html(executed, html_out)
    click.echo(f"wrote {result.path} ({result.bytes:,} bytes, {result.figures} figure(s))")


@main.command("demo")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write the tenant into."
)
@click.option("--users", default=1500, show_default=True, type=click.IntRange(min=1), help="Number of user accounts.")
@click.option(
    "--days", default=30, show_default=True, type=click.IntRange(1, 366), help="Days of logs ending at --now."
)
@click.option("--seed", default=42, show_default=True, type=click.IntRange(min=0), help="Same seed, same bytes.")
@now_option
@handle_errors
def demo_command(out: Path, users: int, days: int, seed: int, now_text: str | None) -> None:
    """Generate the deterministic demo tenant (five tables + ground_truth.json) into --out."""

    summary = generate(out, users=users, days=days, seed=seed, now=parse_now(now_text))
    rows = ", ".join(f"{table} {count:,}" for table, count in summary.rows.items())
    click.echo(f"demo tenant in {summary.out}: {summary.identities} user identities, {rows} ({summary.seconds:.1f}s)")


@main.command("analyze")
@workspace_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for identities.csv and tools.csv.",
)
@now_option
@lookback_option
@click.option(
    "--breakglass",
    multiple=True,
    metavar="UPN",
    help="Break-glass account to exclude from the verdict counts (repeatable).",
)
@handle_errors
def analyze_command(
    workspace: Path, out: Path, now_text: str | None, lookback: str, breakglass: tuple[str, ...]
) -> None:
    """Analyse a workspace folder and write identities.csv and tools.csv."""

    analysis = run_analyze(workspace, out, parse_now(now_text), parse_lookback(lookback), list(breakglass))
    for warning in analysis.warnings:
        click.echo(f"warning: {warning}", err=True)
    verdicts = analysis.identities["verdict"].value_counts().to_dict() if len(analysis.identities) else {}
    summary = (
        ", ".join(f"{verdict} {count}" for verdict, count in sorted(verdicts.items()))
        or "no user identities touched ARM"
    )
    click.echo(
        f"{len(analysis.identities)} user identities ({summary}); "
        f"wrote {out / 'identities.csv'} and {out / 'tools.csv'}"
    )


@main.command("report")
@click.option("--workspace", required=True, help="Workspace folder, or a workspace name from the config file.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder to write.")
@now_option
@lookback_option
@click.option(
    "--pseudonymize", is_flag=True, help="Replace identities by keyed pseudonyms and refuse to publish on a leak."
)
@click.option(
    "--reidentify-map",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --pseudonymize: write the pseudonym map here (outside --out).",
)
@click.option(
    "--notebook",
    "notebooks",
    multiple=True,
    metavar="NAME",
    help="Run only these notebooks (repeatable); default: all.",
)
@param_option("Extra notebook parameter, e.g. -p identity alice@contoso.com.")
@click.option("--breakglass", multiple=True, metavar="UPN", help="Break-glass account to exclude (repeatable).")
@click.option("--jobs", type=click.IntRange(min=1), help="Notebooks run in parallel (default: up to the CPU count).")
@click.option(
    "--history",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of per-run snapshots for the trend (default: OUT/../history).",
)
@click.option("--no-history", is_flag=True, help="Neither read nor write trend snapshots.")
@click.option(
    "--owners",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV scope,owner,contact: route each finding to the owners of what it wrote to (default: per subscription).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file for a named workspace.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="One progress bar over the batch.")
@handle_errors
def report_command(
    workspace: str,
    out: Path,
    now_text: str | None,
    lookback: str,
    pseudonymize: bool,
    reidentify_map: Path | None,
    notebooks: tuple[str, ...],
    params: tuple[tuple[str, str], ...],
    breakglass: tuple[str, ...],
    jobs: int | None,
    history: Path | None,
    no_history: bool,
    owners: Path | None,
    config_path: Path | None,
    progress: bool,
) -> None:
    """Run the notebooks, publish offline HTML, index.html, manifest.json and the CSV exports."""

    from kitlib.reporting.batch import render_report  # deferred: papermill and nbconvert take seconds to import

    if config_path is not None:
        # The notebook kernels find the config the same way the CLI does: through the environment.
        os.environ["KITLIB_CONFIG"] = str(config_path.resolve())
    run = render_report(
        workspace,
        out,
        now=parse_now(now_text) if now_text else None,
        lookback=parse_lookback(lookback),
        notebooks=list(notebooks) or None,
        pseudonymize=pseudonymize,
        jobs=jobs,
        progress=progress,
        breakglass=breakglass,
        parameters=dict(params),
        reidentify_map=reidentify_map,
        history=history,
        keep_history=not no_history,
        owners=owners,
    )
    for warning in run.console_warnings():
        click.echo(f"warning: {warning}", err=True)
    for failed in run.failed:
        click.echo(f"error: notebook {failed.name} {failed.status}: {failed.error or ''}".rstrip(), err=True)
    if run.ok:
        if run.worklists:
            lists = run.worklists
            unit = "subscriptions" if lists.get("per_subscription") else "owners"
            click.echo(
                f"worklists: {lists['identities']} identities with a finding for {lists['owners']} {unit}, "
                f"{lists['unassigned']} unassigned (worklists.xlsx, summary.md)"
            )
        click.echo(f"report: {run.index.resolve()}")
    else:
        click.echo(f"report not published in full; see {run.manifest}", err=True)
    sys.exit(run.exit_code)


@main.command("params")
@click.argument("notebook")
@handle_errors
def params_command(notebook: str) -> None:
    """Show a notebook's parameters: name, type, default and help."""
    # deferred: papermill takes seconds to import
    from kitlib.reporting.params import format_parameters, notebook_parameters, resolve_notebook

    click.echo(format_parameters(notebook_parameters(resolve_notebook(notebook))))


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@workspace_option
@click.option(
    "--format",
    "fmt",
    metavar="SHAPE",
    help="Force the export shape (la-csv, la-json, diagnostic, activity-rest, graph).",
)
@click.option("--table", metavar="TABLE", help="Table for rows that do not name theirs.")
@click.option("--encoding", metavar="CODEC", callback=_codec, help="Text encoding for files that are not UTF-8/16/32.")
@click.option("--keep-going", is_flag=True, help="Report a file that cannot be imported and continue with the others.")
@click.option(
    "--max-record-size",
    "max_record",
    default="16MiB",
    show_default=True,
    metavar="SIZE",
    callback=_byte_size,
    help="Reject a record (a line, a row, one JSON record) larger than this, without reading it whole.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@handle_errors
def import_command(
    paths: tuple[Path, ...],
    workspace: Path,
    fmt: str | None,
    table: str | None,
    encoding: str | None,
    keep_going: bool,
    max_record: int,
    progress: bool,
) -> None:
    """Import exported sign-in and activity logs (files, folders, .gz, .zip) into a workspace folder."""

    report = import_paths(
        list(paths),
        workspace,
        fmt=fmt,
        table=table,
        encoding=encoding,
        keep_going=keep_going,
        progress=progress,
        max_record_bytes=max_record,
    )
    click.echo(report.to_text())
    if not report.ok:
        sys.exit(1)


@main.group("config")
def config_group() -> None:
    """Inspect the kit's configuration (named workspaces)."""


@config_group.command("check")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $KITLIB_CONFIG, ./kitlib.toml, user config folder).",
)
@handle_errors
def config_check_command(config_path: Path | None) -> None:
    """Print the resolved setup (never secrets); exit 2 when something needs fixing."""
    from kitlib.settings.check import check_config  # deferred: loads the live client (msal, azure)

    report = check_config(config_path)
    click.echo(report.text)
    if not report.ok:
        sys.exit(2)


@main.group("auth")
def auth_group() -> None:
    """Sign in to configured live workspaces."""


@auth_group.command("login")
@click.option("--workspace", "workspace", metavar="NAME", help="Configured workspace to sign in for (default: all).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Config file.")
@handle_errors
def auth_login_command(workspace: str | None, config_path: Path | None) -> None:
    """Sign in once so scheduled runs (papermill, kitlib report) never prompt."""
    from kitlib.settings.auth import login  # deferred: loads the live client (msal, azure)

    click.echo(login(workspace, config_path, prompt=lambda message: click.echo(message, err=True)))


@main.command("doctor")
@click.option("--workspace", required=True, help="Workspace folder, or a workspace name from the config file.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Config file.")
@now_option
@lookback_option
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON.")
@handle_errors
def doctor_command(
    workspace: str, config_path: Path | None, now_text: str | None, lookback: str, as_json: bool
) -> None:
    """Check that the workspace has the tables, column types and data the reports need."""

    report = doctor(workspace, now=parse_now(now_text), lookback=parse_lookback(lookback), config_path=config_path)
    click.echo(json.dumps(report.to_dict(), indent=1) if as_json else report.text)
    if not report.ok:
        sys.exit(1)


def write_frame(frame: Any, out: Path) -> None:
    """Write a frame by file extension; dynamic values are kept as JSON text in CSV."""
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        write_csv(frame, out)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".json":
        frame.to_json(out, orient="records", date_format="iso", indent=1)
    else:
        raise click.BadParameter("use a .csv, .parquet or .json file name", param_hint="--out")


if __name__ == "__main__":  # pragma: no cover
    main()
