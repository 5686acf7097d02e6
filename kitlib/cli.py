"""The ``kitlib`` command line: thin wrappers over library calls.

Exit codes: 0 success, 1 the work failed, 2 usage or configuration error.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from kitlib import __version__
from kitlib.binding import BindError, parse_datetime, parse_timespan
from kitlib.errors import KitError

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
    if not value:
        return dt.datetime.now(dt.timezone.utc)
    try:
        return parse_datetime(value)
    except BindError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None


def parse_lookback(value: str) -> dt.timedelta:
    try:
        span = parse_timespan(value)
    except BindError as exc:
        raise click.BadParameter(str(exc), param_hint="--lookback") from None
    if span <= dt.timedelta(0):
        raise click.BadParameter("must be positive", param_hint="--lookback")
    return span


now_option = click.option("--now", "now_text", metavar="ISO", help="Pretend it is this instant (UTC); default: now.")
lookback_option = click.option(
    "--lookback", default="30d", show_default=True, metavar="SPAN", help="Analysis window ending at --now (e.g. 30d, 12h)."
)
workspace_option = click.option(
    "--workspace",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder: one file or folder per table (Parquet, CSV, JSON, JSONL).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kitlib")
@click.option("--log-level", default="WARNING", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def main(log_level: str) -> None:
    """Phase 2 MFA readiness kit: who breaks when Azure Resource Manager requires MFA for writes."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")


@main.command("query")
@click.argument("name")
@workspace_option
@click.option("-p", "--param", "params", multiple=True, nargs=2, metavar="NAME VALUE", help="Query parameter (repeatable).")
@now_option
@lookback_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the result (.csv, .parquet, .json).")
@handle_errors
def query_command(
    name: str, workspace: Path, params: tuple[tuple[str, str], ...], now_text: str | None, lookback: str, out: Path | None
) -> None:
    """Run catalog query NAME on a workspace folder and print or write the result."""
    from kitlib.local import LocalBackend
    from kitlib.run import run_query

    backend = LocalBackend(workspace, now=parse_now(now_text))
    result = run_query(backend, name, now=backend.now, lookback=parse_lookback(lookback), **dict(params))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if out is None:
        import pandas as pd

        with pd.option_context("display.max_rows", 60, "display.width", 200, "display.max_colwidth", 60):
            click.echo(result.frame.to_string(index=False) if len(result.frame) else "(no rows)")
        click.echo(f"{result.rows} rows in {result.elapsed_seconds:.2f}s", err=True)
        return
    write_frame(result.frame, out)
    click.echo(f"wrote {result.rows} rows to {out}", err=True)


def write_frame(frame: Any, out: Path) -> None:
    """Write a frame by file extension; dynamic values are kept as JSON text in CSV."""
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".json":
        frame.to_json(out, orient="records", date_format="iso", indent=1)
    else:
        raise click.BadParameter("use a .csv, .parquet or .json file name", param_hint="--out")


if __name__ == "__main__":  # pragma: no cover
    main()
