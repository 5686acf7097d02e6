"""One exception hierarchy for the kit: catch ``KitError`` to catch everything we raise on purpose.

Each subclass carries the facts a caller needs to act (which table, which parameter, which
construct), and ``exit_code`` tells the CLI whether it was the user's input (2) or the work (1).
"""

from __future__ import annotations

from typing import Any


class KitError(Exception):
    """Base of every error the kit raises deliberately."""

    exit_code: int = 1


class UsageError(KitError):
    """The caller asked for something that cannot be done as asked (bad flag, bad value)."""

    exit_code = 2


class ConfigError(UsageError):
    """Configuration is missing or inconsistent."""


class SchemaError(KitError):
    """A table or column does not match the schema registry."""


class QueryDefinitionError(KitError):
    """A ``.kql`` file in the catalog is malformed (header or parameter declaration)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class UnknownQueryError(UsageError):
    """No query in the catalog has this name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no query named {name!r}; known queries: {', '.join(sorted(known))}")
        self.name = name
        self.known = known


class ParameterError(UsageError):
    """A query parameter is unknown, missing, or has a value of the wrong type."""

    def __init__(self, query: str, parameter: str, message: str) -> None:
        super().__init__(f"query {query!r}, parameter {parameter!r}: {message}")
        self.query = query
        self.parameter = parameter


class WindowError(UsageError):
    """``now`` or ``lookback`` cannot be read as an analysis window."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        self.reason = reason
        super().__init__(f"parameter {parameter}: {reason}")


class WorkspaceError(UsageError):
    """A workspace folder is missing or unreadable."""


class MissingTableError(KitError):
    """A query needs a table the workspace does not have."""

    def __init__(self, table: str, where: str, looked_for: list[str]) -> None:
        super().__init__(
            f"table {table} is not in workspace {where} (looked for {', '.join(looked_for)}). "
            f"Without it the analysis cannot see what this table holds; export it or enable "
            f"its diagnostic setting."
        )
        self.table = table
        self.where = where
        self.looked_for = looked_for


class UnsupportedQueryError(KitError):
    """The local engine cannot run a KQL construct the query uses."""

    def __init__(self, query: str, construct: str) -> None:
        super().__init__(
            f"query {query!r} uses {construct}, which the local engine (duckdb-kql) does not "
            f"support; it still runs on Log Analytics."
        )
        self.query = query
        self.construct = construct


class QueryExecutionError(KitError):
    """The backend failed to run a query."""

    def __init__(self, query: str, message: str) -> None:
        super().__init__(f"query {query!r} failed: {message}")
        self.query = query


class PartialResultError(KitError):
    """The service returned only part of a result; ``partial`` holds the rows that did arrive."""

    def __init__(self, query: str, reason: str, partial: Any = None) -> None:
        super().__init__(f"query {query!r} returned a partial result: {reason}")
        self.query = query
        self.reason = reason
        self.partial = partial


class NotebookError(KitError):
    """A notebook failed to execute or export."""


class LeakError(KitError):
    """A pseudonymised output still contains an original identifier; nothing was published."""

    def __init__(self, path: str, hits: list[str]) -> None:
        super().__init__(f"{path} contains {len(hits)} original identifier(s); refusing to publish")
        self.path = path
        self.hits = hits


class AnalyzerError(KitError):
    """Microsoft's KQL language service (tools/kql-check) failed to run or returned nonsense."""


class AnalyzerUnavailableError(AnalyzerError):
    """Node or the pinned npm install of the KQL language service is missing; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VersionError(UsageError):
    """A version string (a tool release or a library version) cannot be read as a version."""

    def __init__(self, text: str, what: str = "version") -> None:
        super().__init__(f"cannot read {text!r} as a {what}")
        self.text = text


class AuthError(KitError):
    """No usable token: not signed in, sign-in refused, or the service refused the token.

    Exit code 2: the fix is on the caller's side (sign in, grant a role, set a secret).
    """

    exit_code = 2


class ThrottledError(QueryExecutionError):
    """The service kept throttling (HTTP 429) after the bounded retries."""

    def __init__(self, query: str, attempts: int) -> None:
        super().__init__(query, f"throttled by the service (HTTP 429) on all {attempts} attempts; try again later")
        self.attempts = attempts


class QueryTimeoutError(QueryExecutionError):
    """The query ran longer than the server timeout (or the client gave up waiting)."""

    def __init__(self, query: str, detail: str) -> None:
        super().__init__(query, f"timed out: {detail}")
        self.detail = detail


class ImportInputError(KitError):
    """An input file given to ``kitlib import`` cannot be imported as it is; ``source`` names it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class InputNotFoundError(ImportInputError):
    """An import path does not exist or is not a readable file (a usage error: exit code 2)."""

    exit_code = 2


class UnreadableInputError(ImportInputError):
    """An input file cannot be read: permissions, a corrupt gzip/zip container, an I/O failure."""


class UnknownFormatError(ImportInputError):
    """No known export shape matches the file; the message lists the shapes the importer knows."""

    def __init__(self, source: str, detail: str, known: list[str]) -> None:
        super().__init__(source, f"{detail}. Known shapes: {'; '.join(known)}")
        self.known = known


class InputEncodingError(ImportInputError):
    """The file's bytes are not in the expected text encoding; nothing was guessed."""


class ColumnMismatchError(ImportInputError):
    """A file's columns do not fit the table it holds; ``missing`` names what is absent."""

    def __init__(self, source: str, table: str, missing: list[str], detail: str = "") -> None:
        super().__init__(
            source,
            f"{table} rows need column(s) {', '.join(missing)}, which the file does not have"
            + (f"; {detail}" if detail else ""),
        )
        self.table = table
        self.missing = missing


class ImportConflictError(WorkspaceError):
    """The workspace holds a table in a form the importer must not write beside (e.g. ``SigninLogs.csv``)."""
