"""A local stand-in for a Kusto service (Log Analytics ADX proxy or ADX) and its identity provider.

It listens on 127.0.0.1 only and answers queries *for real*: the KQL it receives runs on the
kit's local engine (duckdb-kql over a workspace folder), so notebooks and queries can run
against it unchanged through the real ``azure-kusto-data`` client.

Two listeners:

- **http://127.0.0.1:PORT** — the Kusto endpoint: ``POST <cluster path>/v2/rest/query``
  answered with v2 frames as the service sends them (``DataSetHeader``, ``DataTable`` frames
  for ``@ExtendedProperties``, ``PrimaryResult`` and ``QueryCompletionInformation``, or
  ``TableHeader``/``TableFragment``/``TableCompletion`` when the request asks for progressive
  results, then ``DataSetCompletion`` with ``HasErrors``/``OneApiErrors``);
  ``GET /v1/rest/auth/metadata`` naming the stand-in identity provider; and an App Service
  style managed-identity endpoint (``GET /msi/token``).
- **https://127.0.0.1:PORT2** — a small OAuth2/OIDC identity provider (discovery, device code,
  authorization code, refresh token, client credentials) with a throwaway CA written to
  ``ca_file``, so MSAL (which insists on https) runs its real flows. Point ``REQUESTS_CA_BUNDLE``
  at ``ca_file``.

Scriptable failure modes: :meth:`StandinKusto.queue` takes actions consumed one per query
(``throttle`` -> 429 with Retry-After, ``unauthorized`` -> 401, ``unavailable`` -> 503,
``timeout`` -> 504 after the request's servertimeout, ``drop`` -> connection closed), and
attributes set persistent behaviour (``truncate_rows``, ``delay_seconds``, ``deny_all``,
``accept_parameters``, ``schema_overrides``, ``token_lifetime``).

Answers shaped as the service sends them (written by hand from the shapes in azure-kusto-data's
recorded responses and the Kusto / Log Analytics docs; see :data:`ANSWER_ACTIONS`):

- ``error_style`` picks the body of a refused query: ``"adx"`` (the OneApi ``@message`` plus an
  ``innererror`` with ``@errorCode``/``@errorMessage``), ``"adx_inner_only"`` (the reason only in
  ``innererror``) or ``"la"`` (the Log Analytics query API: ``BadArgumentError`` > ``SemanticError``
  > ``SEM0100`` nested ``innererror``);
- queue actions ``expire_inband`` ("Query is expired", 0x80DA0006, inside a 200 answer after
  ``inband_rows`` rows), ``expire_completion`` (the same, reported only as a
  QueryCompletionInformation Error row and in ``DataSetCompletion``), ``runaway_inband``,
  ``completion_error`` (an error only in ``DataSetCompletion``), ``completion_flag``
  (``HasErrors`` with no error object), ``cancelled``, ``qci_warning`` (a Level 3 Warning row
  on a complete answer), ``text_400``, ``html_502``, ``empty_200``, ``json_500_no_error`` and
  ``la_partial_200`` (the query API's ``{"tables": ..., "error": {"code": "PartialError"}}``);
- :meth:`StandinKusto.reply_with` answers the next query with hand-written columns and rows
  (v2 JSON values: timespans as ``"-1.02:03:04.5670000"``, longs as JSON numbers, ...).

The server stops when the context manager exits, when :meth:`stop` is called, or by itself
after ``max_lifetime`` seconds. Run it by hand with::

    python tests/standin_kusto.py --workspace build/demo-tenant --lifetime 900
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import decimal
import ipaddress
import json
import math
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import duckdb
import duckdb_kql

from kitlib.backends.local import LocalBackend
from kitlib.query.binding import parse_datetime
from kitlib.query.catalog import _parse_declaration

LA_PATH = (
    "/subscriptions/00000000-0000-0000-0000-00000000f00d/resourcegroups/rg-standin"
    "/providers/microsoft.operationalinsights/workspaces/{db}"
)
KUSTO_RESOURCE = "https://kusto.standin.example"
CLIENT_APP_ID = "db662dc1-0cfe-4e1c-a843-19a68e65be58"
USER = "analyst@contoso.example"

_DUCK_TO_KUSTO = {
    "VARCHAR": "string",
    "BIGINT": "long",
    "HUGEINT": "long",
    "UBIGINT": "long",
    "INTEGER": "int",
    "SMALLINT": "int",
    "TINYINT": "int",
    "UINTEGER": "long",
    "DOUBLE": "real",
    "FLOAT": "real",
    "BOOLEAN": "bool",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "TIMESTAMP": "datetime",
    "DATE": "datetime",
    "JSON": "dynamic",
    "INTERVAL": "timespan",
    "UUID": "guid",
}
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")
#: Queue actions that shape a whole answer (besides the transport failures).
ANSWER_ACTIONS = frozenset(
    {
        "expire_inband",
        "expire_completion",
        "runaway_inband",
        "completion_error",
        "completion_flag",
        "cancelled",
        "qci_warning",
        "text_400",
        "html_502",
        "empty_200",
        "json_500_no_error",
        "la_partial_200",
        "canned",
    }
)
ERROR_STYLES = ("adx", "adx_inner_only", "la")
#: The service's words for an expired query (E_QUERY_CANCELLED after its timeout) and a runaway one.
EXPIRED_TEXT = "Query execution has resulted in error (0x80DA0006): Query is expired."
LOW_MEMORY_TEXT = "Partial query failure: Low memory condition (E_LOW_MEMORY_CONDITION). (message: 'bad allocation')"
RUNAWAY_TEXT = "Query execution has exceeded the allowed limits (80DA0001): the query used too many resources."


@dataclass
class Received:
    """One query request as the stand-in saw it (the token only as a fingerprint)."""

    path: str
    database: str
    csl: str
    options: dict[str, Any]
    parameters: dict[str, str]
    token_id: str
    status: int = 0
    client_request_id: str = ""
    application: str = ""
    seconds: float = 0.0  # time from receiving the request to answering it


@dataclass
class _Issued:
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> client id
    codes: dict[str, str] = field(default_factory=dict)  # device/auth code -> client id
    nonces: dict[str, str] = field(default_factory=dict)  # auth code -> nonce of its request
    everything: list[str] = field(default_factory=list)  # every token handed out, for leak checks
    spent_codes: list[str] = field(default_factory=list)  # device/auth codes: single use, redeemed at once


class StandinKusto:
    """The stand-in service; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        workspace: Path,
        *,
        database: str = "ws-standin",
        flavour: str = "log_analytics",
        now: dt.datetime | None = None,
        tenant_id: str = "00000000-0000-0000-0000-0000000000aa",
        client_secret: str = "standin-client-secret",
        max_lifetime: float = 600.0,
    ) -> None:
        if flavour not in ("log_analytics", "adx"):
            raise ValueError("flavour is log_analytics or adx")
        self.workspace = Path(workspace)
        self.database = database
        self.flavour = flavour
        self.now = now
        self.tenant_id = tenant_id
        self.client_secret = client_secret
        self.identity_header = secrets.token_hex(8)
        #: SHA-1 thumbprints (hex) of certificates a service principal may sign assertions with.
        self.certificate_thumbprints: set[str] = set()
        self.max_lifetime = max_lifetime
        self.base_path = LA_PATH.format(db=database) if flavour == "log_analytics" else ""
        # behaviour knobs
        self.truncate_rows: int | None = None
        self.delay_seconds = 0.0
        self.deny_all = False
        self.accept_parameters = True
        self.honour_defer = True
        self.schema_overrides: dict[str, dict[str, str]] = {}
        self.token_lifetime = 3600
        self.retry_after_seconds = 0
        self.error_style = "adx"
        self.inband_rows = 2  # rows sent before an in-band error
        self._canned: collections.deque[tuple[list[dict[str, str]], list[list[Any]]]] = collections.deque()
        # records
        self.received: list[Received] = []
        self.grants: list[str] = []
        self._issued = _Issued()
        self._script: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._engine_lock = threading.Lock()
        self._backend = LocalBackend(self.workspace, now=now)
        for table in sorted(self._backend.sources):
            self._backend._ensure_view(table, optional=False)
        self._tmp = tempfile.TemporaryDirectory(prefix="standin-kusto-")
        self.ca_file, cert_file, key_file = _make_tls(Path(self._tmp.name))
        self._http = _fresh_server(_KustoHandler, self)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._https = _Server(("127.0.0.1", 0), _IdpHandler, self)
        self._https.socket = context.wrap_socket(self._https.socket, server_side=True)
        self._threads: list[threading.Thread] = []
        self._timer: threading.Timer | None = None
        self.stopped = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def url(self) -> str:
        """The "cluster" URL a client is given: the workspace resource path on LA, the root on ADX."""
        return self.root + self.base_path

    @property
    def idp(self) -> str:
        return f"https://127.0.0.1:{self._https.server_address[1]}"

    @property
    def msi_endpoint(self) -> str:
        return f"{self.root}/msi/token"

    def start(self) -> StandinKusto:
        for server in (self._http, self._https):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        for server in (self._http, self._https):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        with self._engine_lock:
            self._backend.close()
        self._tmp.cleanup()

    def __enter__(self) -> StandinKusto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ----------------------------------------------------------------------------

    def queue(self, *actions: str) -> None:
        """Failure modes for the next query requests, one action per request, in order."""
        allowed = {"ok", "throttle", "unauthorized", "unavailable", "timeout", "drop"} | ANSWER_ACTIONS
        for action in actions:
            if action not in allowed:
                raise ValueError(f"unknown action {action!r}; use {sorted(allowed)}")
        with self._lock:
            self._script.extend(actions)

    def reply_with(self, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
        """Answer the next query with these (name, Kusto type) columns and v2 JSON rows, as written."""
        with self._lock:
            self._canned.append(([{"ColumnName": n, "ColumnType": t} for n, t in columns], rows))
            self._script.append("canned")

    def revoke_tokens(self) -> None:
        """Reject every access token issued so far (as after a password reset); refresh still works."""
        with self._lock:
            self._issued.access.clear()

    def add_token(self, token: str, lifetime: float = 3600) -> None:
        """Accept a token minted outside the stand-in identity provider (for simple clients)."""
        with self._lock:
            self._issued.access[token] = time.time() + lifetime
            self._issued.everything.append(token)

    @property
    def issued_secrets(self) -> list[str]:
        """Every access, refresh and id token handed out so far (to assert none leaked).

        Device and authorization codes are not in it: they are single-use and already redeemed
        when MSAL logs its token-cache event at DEBUG (which shows them).
        """
        with self._lock:
            return list(self._issued.everything)

    def queries(self) -> list[Received]:
        """Query requests that reached the engine stage or failed on purpose, in order."""
        with self._lock:
            return list(self.received)

    # -- tokens -------------------------------------------------------------------------------

    def _mint(self, client_id: str, *, user: bool, scope: str = "", nonce: str = "") -> dict[str, Any]:
        access = "standin-at." + secrets.token_urlsafe(32)
        now = time.time()
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "scope": scope or f"{KUSTO_RESOURCE}/.default",
        }
        with self._lock:
            self._issued.access[access] = now + self.token_lifetime
            self._issued.everything.append(access)
        if user:
            oid = str(uuid.uuid5(uuid.NAMESPACE_DNS, USER))
            claims = {
                "aud": client_id,
                "iss": f"{self.idp}/{self.tenant_id}/v2.0",
                "iat": int(now),
                "nbf": int(now),
                "exp": int(now) + 3600,
                "oid": oid,
                "sub": oid,
                "tid": self.tenant_id,
                "preferred_username": USER,
                "name": "Stand-in Analyst",
            }
            if nonce:
                claims["nonce"] = nonce
            refresh = "standin-rt." + secrets.token_urlsafe(32)
            body["refresh_token"] = refresh
            body["id_token"] = ".".join(
                (_b64(json.dumps({"alg": "none", "typ": "JWT"})), _b64(json.dumps(claims)), _b64("unsigned"))
            )
            body["client_info"] = _b64(json.dumps({"uid": oid, "utid": self.tenant_id}))
            with self._lock:
                self._issued.refresh[refresh] = client_id
                self._issued.everything.extend([refresh, body["id_token"]])
        return body

    def _token_ok(self, token: str) -> bool:
        with self._lock:
            expiry = self._issued.access.get(token)
        return expiry is not None and expiry > time.time() and not self.deny_all

    # -- queries ------------------------------------------------------------------------------

    def run_kql(self, csl: str, parameters: dict[str, str]) -> tuple[list[dict[str, str]], list[list[Any]]]:
        """Run ``csl`` on the local engine; returns (columns, rows) in v2 JSON form."""
        typed = _typed_parameters(csl, parameters)
        getschema = re.fullmatch(r"\s*(\w+)\s*\|\s*getschema\s*\|\s*project\s+ColumnName\s*,\s*ColumnType\s*", csl)
        with self._engine_lock:
            relation = duckdb_kql.kql(self._backend._con, csl, parameters=typed, query_now=self.now)
            names = list(relation.columns)
            kinds = [_kusto_type(str(t)) for t in relation.types]
            raw = relation.fetchall()
        rows = [[_json_value(v, k) for v, k in zip(row, kinds, strict=True)] for row in raw]
        if getschema and getschema.group(1) in self.schema_overrides:
            override = self.schema_overrides[getschema.group(1)]
            rows = [[name, override.get(name, kind)] for name, kind in rows if override.get(name) != "-"]
        return [{"ColumnName": n, "ColumnType": k} for n, k in zip(names, kinds, strict=True)], rows

    def refusal(self, detail: str, exception: str, reason: str | None = None) -> dict[str, Any]:
        """The 400 body for a query the service will not run, in the current ``error_style``.

        ``reason`` is the semantic part without the "Semantic error: SEMxxxx:" prefix (the
        inner error's ``@errorMessage``); it defaults to ``detail``.
        """
        code_match = re.search(r"\b((?:SEM|SYN)\d{4})\b", detail)
        code = code_match.group(1) if code_match else exception.replace("Exception", "")
        reason = reason or detail
        if self.error_style == "la":
            category = "SemanticError" if exception == "SemanticException" else "SyntaxError"
            middle = "A semantic error occurred." if category == "SemanticError" else "A recognition error occurred."
            return {
                "error": {
                    "message": "The request had some invalid properties",
                    "code": "BadArgumentError",
                    "correlationId": str(uuid.uuid4()),
                    "innererror": {
                        "code": category,
                        "message": middle,
                        "innererror": {"code": code, "message": reason},
                    },
                }
            }
        inner = {
            "code": code,
            "message": reason,
            "@type": f"Kusto.Data.Exceptions.{exception}",
            "@message": detail,
            "@context": {"timestamp": _kusto_time(dt.datetime.now(dt.UTC)), "activityId": str(uuid.uuid4())},
            "@permanent": True,
            "@errorCode": code,
            "@errorMessage": reason,
        }
        body = _bad_request(f"Request is invalid and cannot be processed: {detail}", exception)
        body["error"]["innererror"] = inner
        if self.error_style == "adx_inner_only":
            for key in ("@message", "@type", "@context", "@permanent"):
                body["error"].pop(key)
        return body


#: Ports this process has served Kusto on. azure-kusto-data caches the auth metadata per
#: scheme://host:port for the life of the process, so a reused port would hand a new stand-in
#: the previous one's identity provider.
_USED_PORTS: set[int] = set()


def _fresh_server(handler: type, standin: StandinKusto) -> _Server:
    held = []
    try:
        while True:
            server = _Server(("127.0.0.1", 0), handler, standin)
            port = server.server_address[1]
            if port not in _USED_PORTS:
                _USED_PORTS.add(port)
                return server
            held.append(server)  # keep it bound so the next bind gets another port
    finally:
        for server in held:
            server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, standin: StandinKusto) -> None:
        super().__init__(address, handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output clean; requests are recorded in StandinKusto.received

    @property
    def standin(self) -> StandinKusto:
        return self.server.standin

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> None:
        data = (
            body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.send_response(status)
        self.send_header(
            "Content-Type",
            content_type + ("; charset=utf-8" if "json" in content_type or "html" in content_type else ""),
        )
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class _KustoHandler(_Handler):
    _record: Received | None = None
    _started = 0.0

    def _send(
        self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> None:
        if self._record is not None:
            self._record.status = status  # recorded before the client can see the answer
            self._record.seconds = time.perf_counter() - self._started
        super()._send(status, body, headers, content_type)

    def do_GET(self) -> None:
        parsed = urlparse(self.path)
        if parsed.path == "/v1/rest/auth/metadata":
            self._send(
                200,
                {
                    "AzureAD": {
                        "LoginEndpoint": self.standin.idp,
                        "LoginMfaRequired": False,
                        "KustoClientAppId": CLIENT_APP_ID,
                        "KustoClientRedirectUri": "http://localhost",
                        "KustoServiceResourceId": KUSTO_RESOURCE,
                        "FirstPartyAuthorityUrl": f"{self.standin.idp}/{self.standin.tenant_id}",
                    },
                    "dSTS": {},
                },
            )
            return
        if parsed.path == "/msi/token":
            self._managed_identity(parse_qs(parsed.query))
            return
        self._send(404, {"error": {"code": "NotFound", "message": f"no such endpoint {parsed.path}"}})

    def _managed_identity(self, query: dict[str, list[str]]) -> None:
        if self.headers.get("X-IDENTITY-HEADER") != self.standin.identity_header:
            self._send(401, {"statusCode": 401, "message": "missing or wrong X-IDENTITY-HEADER"})
            return
        resource = (query.get("resource") or [""])[0]
        minted = self.standin._mint("managed-identity", user=False)
        self.standin.grants.append("managed_identity")
        self._send(
            200,
            {
                "access_token": minted["access_token"],
                "expires_on": str(int(time.time()) + self.standin.token_lifetime),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": (query.get("client_id") or ["system-assigned"])[0],
            },
        )

    def do_POST(self) -> None:
        standin = self.standin
        self._started = time.perf_counter()
        parsed = urlparse(self.path)
        body = self._body()
        if parsed.path != standin.base_path + "/v2/rest/query":
            self._send(
                404,
                {"error": {"code": "NotFound", "message": f"The requested endpoint '{parsed.path}' does not exist."}},
            )
            return
        try:
            request = json.loads(body or b"{}")
            properties = request.get("properties") or {}
            if isinstance(properties, str):
                properties = json.loads(properties)
        except json.JSONDecodeError:
            self._send(400, _one_api("BadRequest_InvalidJson", "Request body is not valid JSON"))
            return
        options = dict(properties.get("Options") or {})
        parameters = {str(k): str(v) for k, v in (properties.get("Parameters") or {}).items()}
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        record = Received(
            parsed.path,
            str(request.get("db", "")),
            str(request.get("csl", "")),
            options,
            parameters,
            token_id=_fingerprint(token) if token else "",
            client_request_id=self.headers.get("x-ms-client-request-id", ""),
            application=self.headers.get("x-ms-app", ""),
        )
        with standin._lock:
            standin.received.append(record)
            action = standin._script.popleft() if standin._script else "ok"
        self._record = record
        self._answer(record, token, action)

    def _answer(self, record: Received, token: str, action: str) -> int:
        standin = self.standin
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return 0
        if action == "unauthorized" or not standin._token_ok(token):
            self._send(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'}, content_type="text/plain")
            return 401
        if action == "throttle":
            self._send(
                429,
                _one_api("TooManyRequests", "The request was denied due to high request rate (throttled)."),
                {"Retry-After": str(standin.retry_after_seconds)},
            )
            return 429
        if action == "unavailable":
            self._send(503, _one_api("ServiceUnavailable", "The service is temporarily unavailable."))
            return 503
        if action in ("text_400", "html_502", "empty_200", "json_500_no_error"):
            return self._odd_body(action, record)
        if record.database != standin.database:
            self._send(
                400,
                standin.refusal(
                    f"Entity ID '{record.database}' of kind 'Database' was not found.", "EntityNotFoundException"
                ),
            )
            return 400
        timeout = _timespan_seconds(record.options.get("servertimeout")) or 240.0
        delay = standin.delay_seconds + (3600.0 if action == "timeout" else 0.0)
        if delay > timeout:
            time.sleep(timeout)
            self._send(
                504,
                _one_api("GatewayTimeout", "Gateway timeout", "Query is expired: it ran longer than servertimeout."),
            )
            return 504
        if delay:
            time.sleep(delay)
        if record.parameters and not standin.accept_parameters:
            self._send(
                400,
                _one_api(
                    "BadArgumentError", "The request had some invalid properties", "Query parameters are not supported."
                ),
            )
            return 400
        if action == "canned":
            with standin._lock:
                columns, rows = standin._canned.popleft()
            self._send(200, _frames(record, columns, rows, standin, "ok"))
            return 200
        try:
            columns, rows = standin.run_kql(record.csl, record.parameters)
        except _ParameterProblem as exc:
            self._send(400, standin.refusal(str(exc), "SyntaxException"))
            return 400
        except duckdb.CatalogException as exc:
            missing = _MISSING_TABLE.search(str(exc))
            if missing:
                reason = f"'table' operator: Failed to resolve table or column expression named '{missing.group(1)}'"
                self._send(400, standin.refusal(f"Semantic error: SEM0100: {reason}", "SemanticException", reason))
            else:
                message = f"Semantic error: {str(exc).splitlines()[0]}"
                self._send(400, standin.refusal(message, "SemanticException"))
            return 400
        except (duckdb_kql.KqlError, duckdb.Error, AssertionError) as exc:
            message = f"Syntax error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            self._send(400, standin.refusal(message, "SyntaxException"))
            return 400
        if action == "la_partial_200":
            self._send(200, _query_api_partial(columns, rows[: standin.inband_rows]))
            return 200
        self._send(200, _frames(record, columns, rows, standin, action))
        return 200

    def _odd_body(self, action: str, record: Received) -> int:
        """Bodies that are not a OneApi error: plain text, a gateway's HTML, nothing, JSON without "error"."""
        if action == "text_400":
            stamp = _kusto_time(dt.datetime.now(dt.UTC))
            text = (
                "Bad request: 'where' operator: Failed to resolve scalar expression named 'Nope'\r\n"
                f"Error details:\r\nClientRequestId='{record.client_request_id}', "
                f"ActivityId='{uuid.uuid4()}', Timestamp='{stamp}'."
            )
            self._send(400, text, content_type="text/plain")
            return 400
        if action == "html_502":
            page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            self._send(502, page, content_type="text/html")
            return 502
        if action == "empty_200":
            self._send(200, b"")
            return 200
        self._send(500, {"message": "An unexpected error occurred.", "correlationId": str(uuid.uuid4())})
        return 500


class _IdpHandler(_Handler):
    """Just enough of an OAuth2/OIDC provider for MSAL's real flows."""

    def do_GET(self) -> None:
        standin = self.standin
        parsed = urlparse(self.path)
        parts = parsed.path.strip("/").split("/")
        tenant = parts[0] if parts else ""
        if parsed.path.endswith("/v2.0/.well-known/openid-configuration"):
            base = f"{standin.idp}/{tenant}"
            self._send(
                200,
                {
                    "issuer": f"{standin.idp}/{standin.tenant_id}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "response_modes_supported": ["query", "fragment", "form_post"],
                },
            )
            return
        if parsed.path.endswith("/oauth2/v2.0/authorize"):
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            code = "standin-code." + secrets.token_urlsafe(16)
            with standin._lock:
                standin._issued.codes[code] = query.get("client_id", "")
                standin._issued.nonces[code] = query.get("nonce", "")
                standin._issued.spent_codes.append(code)
            answer = {"code": code, "state": query.get("state", "")}
            redirect = query.get("redirect_uri", "http://localhost")
            if query.get("response_mode") == "form_post":
                inputs = "".join(f'<input type="hidden" name="{k}" value="{v}"/>' for k, v in answer.items())
                page = f'<html><body><form method="post" action="{redirect}">{inputs}</form></body></html>'
                self._send(200, page, content_type="text/html")
            else:
                self._send(302, b"", {"Location": f"{redirect}?{urlencode(answer)}"}, content_type="text/plain")
            return
        self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        standin = self.standin
        parsed = urlparse(self.path)
        form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
        if parsed.path.endswith("/oauth2/v2.0/devicecode"):
            code = "standin-device." + secrets.token_urlsafe(16)
            with standin._lock:
                standin._issued.codes[code] = form.get("client_id", "")
                standin._issued.spent_codes.append(code)
            self._send(
                200,
                {
                    "device_code": code,
                    "user_code": "STANDIN1",
                    "verification_uri": f"{standin.idp}/devicelogin",
                    "expires_in": 900,
                    "interval": 1,
                    "message": f"To sign in, open {standin.idp}/devicelogin and enter the code STANDIN1.",
                },
            )
            return
        if not parsed.path.endswith("/oauth2/v2.0/token"):
            self._send(404, {"error": "not_found"})
            return
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        scope = form.get("scope", "")
        standin.grants.append(grant)
        if grant in ("urn:ietf:params:oauth:grant-type:device_code", "authorization_code"):
            code = form.get("device_code") or form.get("code") or ""
            with standin._lock:
                known = standin._issued.codes.pop(code, None)
                nonce = standin._issued.nonces.pop(code, "")
            if known is None:
                self._send(
                    400, {"error": "invalid_grant", "error_description": "AADSTS70000: the code is unknown or used."}
                )
                return
            self._send(200, standin._mint(client_id, user=True, scope=scope, nonce=nonce))
            return
        if grant == "refresh_token":
            with standin._lock:
                known = standin._issued.refresh.pop(form.get("refresh_token", ""), None)
            if known is None:
                self._send(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "AADSTS700082: the refresh token has expired or was revoked.",
                    },
                )
                return
            self._send(200, standin._mint(client_id, user=True, scope=scope))
            return
        if grant == "client_credentials":
            assertion = form.get("client_assertion")
            if assertion is not None:
                if _assertion_thumbprint(assertion) not in standin.certificate_thumbprints:
                    self._send(
                        401,
                        {
                            "error": "invalid_client",
                            "error_description": "AADSTS700027: the certificate is not registered for this app.",
                        },
                    )
                    return
            elif form.get("client_secret") != standin.client_secret:
                self._send(
                    401,
                    {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."},
                )
                return
            self._send(200, standin._mint(client_id, user=False, scope=scope))
            return
        self._send(400, {"error": "unsupported_grant_type", "error_description": grant})


# -- the v2 response ---------------------------------------------------------------------------


def _frames(
    record: Received, columns: list[dict[str, str]], rows: list[list[Any]], standin: StandinKusto, action: str = "ok"
) -> list[dict[str, Any]]:
    """The v2 frame list for one answer, truncated, failed and flagged the way the service does it.

    Truncation honours ``deferpartialqueryfailures`` (a QueryCompletionInformation Error row and
    the kept rows; without it, the error object in place of the next row, the dataset's
    completion repeating it, and no completion table, as in the recorded answer). An expired or
    runaway query ("DataStream" errors, raised after the 200 status line) always arrives inside
    the rows: the first ``inband_rows`` rows, then the error object.
    """
    defer = bool(record.options.get("deferpartialqueryfailures")) and standin.honour_defer
    progressive = bool(record.options.get("results_progressive_enabled"))
    limit = standin.truncate_rows
    truncated = limit is not None and len(rows) > limit
    stream_failure = action in ("expire_inband", "runaway_inband")
    # Whether the service moves an expiry into a completion row when asked to defer partial
    # failures is not documented; this action sends that form (E_QUERY_CANCELLED's status code).
    expired_in_completion = action == "expire_completion"
    kept = rows[:limit] if truncated and limit is not None else rows
    if stream_failure or expired_in_completion:
        kept = rows[: standin.inband_rows]
    crid = record.client_request_id or f"unspecified;{uuid.uuid4()}"
    activity = str(uuid.uuid4())
    context = {"timestamp": _kusto_time(dt.datetime.now(dt.UTC)), "clientRequestId": crid, "activityId": activity}
    error = {
        "code": "LimitsExceeded",
        "message": "Request is invalid and cannot be executed.",
        "@type": "Kusto.Data.Exceptions.KustoServicePartialQueryFailureLimitsExceededException",
        "@message": (
            f"Query execution has exceeded the allowed limits (80DA0003): "
            f"the results of this query exceed the set limit of {limit} records."
        ),
        "@context": context,
        "@permanent": False,
    }
    if stream_failure or expired_in_completion:
        error = {
            "code": "Internal service error",
            "message": "Request aborted due to an internal service error.",
            "@type": "Kusto.Data.Exceptions.KustoDataStreamException",
            "@message": RUNAWAY_TEXT if action == "runaway_inband" else EXPIRED_TEXT,
            "@context": context,
            "@permanent": False,
        }
    elif action == "completion_error":
        error = {
            "code": "Internal service error",
            "message": "Request aborted due to an internal service error.",
            "@type": "Kusto.Data.Exceptions.KustoDataStreamException",
            "@message": LOW_MEMORY_TEXT,
            "@context": context,
            "@permanent": False,
        }
    inband = stream_failure or (truncated and not defer)
    frames: list[dict[str, Any]] = [
        {
            "FrameType": "DataSetHeader",
            "IsProgressive": progressive,
            "Version": "v2.0",
            "IsFragmented": progressive,
            "ErrorReportingPlacement": "InData",
        },
        _data_table(
            0,
            "QueryProperties",
            "@ExtendedProperties",
            _columns(("TableId", "int"), ("Key", "string"), ("Value", "dynamic")),
            [
                [
                    1,
                    "Visualization",
                    json.dumps(
                        {
                            "Visualization": None,
                            "Title": None,
                            "Accumulate": False,
                            "IsQuerySorted": False,
                            "Kind": None,
                        }
                    ),
                ]
            ],
        ),
    ]
    primary_rows: list[Any] = list(kept)
    if inband:
        primary_rows.append({"OneApiErrors": [{"error": error}]})
    if progressive:
        frames.append(
            {
                "FrameType": "TableHeader",
                "TableId": 1,
                "TableKind": "PrimaryResult",
                "TableName": "PrimaryResult",
                "Columns": columns,
            }
        )
        for start in range(0, len(primary_rows), 1000):
            frames.append(
                {
                    "FrameType": "TableFragment",
                    "TableFragmentType": "DataAppend",
                    "TableId": 1,
                    "Rows": primary_rows[start : start + 1000],
                }
            )
        frames.append({"FrameType": "TableCompletion", "TableId": 1, "RowCount": len(kept)})
    else:
        frames.append(_data_table(1, "PrimaryResult", "PrimaryResult", columns, primary_rows))
    stamp = _kusto_time(dt.datetime.now(dt.UTC))

    def status_row(level: tuple[int, str], status: tuple[int, str], event: tuple[int, str], payload: Any) -> list[Any]:
        """One QueryCompletionInformation row of this request (ids, level, status, event, JSON payload)."""
        return [stamp, crid, activity, activity, activity, *level, *status, *event, json.dumps(payload)]

    status_rows: list[list[Any]] = []
    if truncated and defer:
        text = (
            f"Query result set has exceeded the internal record count limit {limit} "
            f"(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)"
        )
        status_rows.append(
            status_row(
                (2, "Error"),
                (-2133196797, "Query result set too large (E_QUERY_RESULT_SET_TOO_LARGE). (-2133196797)"),
                (1, "QueryLimitsExceeded"),
                {"Count": 1, "Text": text},
            )
        )
    elif expired_in_completion:
        status_rows.append(
            status_row(
                (2, "Error"),
                (-2133196794, "Query was cancelled (E_QUERY_CANCELLED). (-2133196794)"),
                (1, "QueryLimitsExceeded"),
                {"Count": 1, "Text": EXPIRED_TEXT},
            )
        )
    elif not inband:
        status_rows.append(
            status_row(
                (4, "Info"), (0, "S_OK (0)"), (4, "QueryInfo"), {"Count": 1, "Text": "Query completed successfully"}
            )
        )
    if action == "qci_warning":
        status_rows.insert(
            0,
            status_row(
                (3, "Warning"),
                (0, "S_OK (0)"),
                (5, "QueryWarning"),
                {"Count": 1, "Text": "The query used a deprecated function; it still ran in full"},
            ),
        )
    status_rows.append(
        status_row(
            (6, "Stats"),
            (0, "S_OK (0)"),
            (0, "QueryResourceConsumption"),
            {
                "ExecutionTime": 0.0,
                "dataset_statistics": [{"table_row_count": len(kept), "table_size": len(json.dumps(kept))}],
            },
        )
    )
    if inband and not stream_failure:
        # The recorded answer without deferpartialqueryfailures has no completion table.
        status_rows = []
    if status_rows:
        frames.append(
            _data_table(
                2,
                "QueryCompletionInformation",
                "QueryCompletionInformation",
                _columns(
                    ("Timestamp", "datetime"),
                    ("ClientRequestId", "string"),
                    ("ActivityId", "guid"),
                    ("SubActivityId", "guid"),
                    ("ParentActivityId", "guid"),
                    ("Level", "int"),
                    ("LevelName", "string"),
                    ("StatusCode", "int"),
                    ("StatusCodeName", "string"),
                    ("EventType", "int"),
                    ("EventTypeName", "string"),
                    ("Payload", "string"),
                ),
                status_rows,
            )
        )
    failed = truncated or stream_failure or action in ("completion_error", "completion_flag", "expire_completion")
    completion: dict[str, Any] = {
        "FrameType": "DataSetCompletion",
        "HasErrors": failed,
        "Cancelled": action == "cancelled",
    }
    if failed and action != "completion_flag":
        completion["OneApiErrors"] = [{"error": error}]
    frames.append(completion)
    return frames


def _query_api_partial(columns: list[dict[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    """The Log Analytics query API's partial answer: the tables that arrived and a ``PartialError``."""
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": c["ColumnName"], "type": c["ColumnType"]} for c in columns],
                "rows": rows,
            }
        ],
        "error": {
            "code": "PartialError",
            "message": "There were some errors when processing your query.",
            "details": [
                {
                    "code": "EngineError",
                    "message": "Something went wrong processing your query on the server.",
                    "innererror": {
                        "code": "-2133196797",
                        "message": "Query result set has exceeded the internal record count limit "
                        "(E_QUERY_RESULT_SET_TOO_LARGE)",
                    },
                }
            ],
        },
    }


def _data_table(table_id: int, kind: str, name: str, columns: list[dict[str, str]], rows: list[Any]) -> dict[str, Any]:
    """A whole (non-progressive) ``DataTable`` frame."""
    return {
        "FrameType": "DataTable",
        "TableId": table_id,
        "TableKind": kind,
        "TableName": name,
        "Columns": columns,
        "Rows": rows,
    }


def _columns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Frame column descriptors from (name, Kusto type) pairs."""
    return [{"ColumnName": name, "ColumnType": kind} for name, kind in pairs]


def _one_api(code: str, message: str, detail: str | None = None, kind: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "@type": kind or f"Kusto.Data.Exceptions.{code}Exception",
            "@message": detail or message,
            "@context": {"timestamp": _kusto_time(dt.datetime.now(dt.UTC)), "activityId": str(uuid.uuid4())},
            "@permanent": code not in ("TooManyRequests", "ServiceUnavailable", "GatewayTimeout"),
        }
    }


def _bad_request(detail: str, exception: str) -> dict[str, Any]:
    """The service's 400 body for a query it will not run; ``exception`` names the Kusto.Data class."""
    return _one_api(
        "General_BadRequest", "Request is invalid and cannot be executed.", detail, f"Kusto.Data.Exceptions.{exception}"
    )


def _kusto_type(duck_type: str) -> str:
    if duck_type.startswith("DECIMAL"):
        return "real"
    if duck_type.endswith("]") or duck_type.startswith(("STRUCT", "MAP", "UNION")):
        return "dynamic"  # make_list / make_set / bags: Kusto returns them as dynamic
    return _DUCK_TO_KUSTO.get(duck_type, "string")


def _kusto_time(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}0"
    return text + "Z"


def _json_value(value: Any, kind: str) -> Any:
    """One cell as the v2 JSON protocol carries it."""
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, dt.datetime):
            return _kusto_time(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
        if isinstance(value, dt.date):
            return f"{value.isoformat()}T00:00:00Z"
    if kind == "dynamic":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return _plain(value)
    if kind == "timespan" and isinstance(value, dt.timedelta):
        ticks = (value.days * 86_400 + value.seconds) * 10_000_000 + value.microseconds * 10
        sign = "-" if ticks < 0 else ""
        ticks = abs(ticks)
        days, rest = divmod(ticks, 864_000_000_000)
        hours, rest = divmod(rest, 36_000_000_000)
        minutes, rest = divmod(rest, 600_000_000)
        seconds, fraction = divmod(rest, 10_000_000)
        return (
            f"{sign}{days}.{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:07d}"
            if days
            else f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:07d}"
        )
    if kind == "real":
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _plain(value: Any) -> Any:
    """A nested value (list, struct) as JSON: datetimes inside a dynamic travel as ISO strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return _kusto_time(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    if isinstance(value, dt.timedelta):
        return _json_value(value, "timespan")
    if isinstance(value, float):
        return _json_value(value, "real")
    if isinstance(value, (decimal.Decimal, uuid.UUID, dt.date)):
        return str(value)
    return value


# -- request parameters, parsed the way the service parses them ---------------------------------


class _ParameterProblem(Exception):
    pass


def _typed_parameters(csl: str, values: dict[str, str]) -> dict[str, Any]:
    """Request parameters as typed values: strings verbatim, everything else parsed as a literal."""
    if not values:
        return {}
    params, _ = _parse_declaration("<request>", csl)
    declared = {p.name: p.kql_type for p in params}
    typed: dict[str, Any] = {}
    for name, text in values.items():
        if name not in declared:
            raise _ParameterProblem(f"Query parameter '{name}' was provided but the query does not declare it")
        typed[name] = _parse_literal(name, declared[name], text)
    return typed


def _parse_literal(name: str, kql_type: str, text: str) -> Any:
    if kql_type == "string":
        return text
    body = text.strip()
    wrapped = re.fullmatch(rf"{kql_type}\((.*)\)", body, re.DOTALL)
    inner = wrapped.group(1).strip() if wrapped else body
    try:
        if kql_type == "datetime":
            return parse_datetime(inner)
        if kql_type in ("long", "int"):
            if not re.fullmatch(r"-?\d+", inner):
                raise ValueError(inner)
            return int(inner)
        if kql_type == "real":
            return float(inner)
        if kql_type == "bool":
            if inner.lower() not in ("true", "false"):
                raise ValueError(inner)
            return inner.lower() == "true"
        if kql_type == "timespan":
            match = re.fullmatch(r"(\d+)(microseconds|ms|s|m|h|d)", inner)
            if not match:
                raise ValueError(inner)
            unit = {
                "microseconds": "microseconds",
                "ms": "milliseconds",
                "s": "seconds",
                "m": "minutes",
                "h": "hours",
                "d": "days",
            }[match.group(2)]
            return dt.timedelta(**{unit: int(match.group(1))})
        if kql_type == "dynamic":
            return json.loads(inner)
        if kql_type == "guid":
            return str(uuid.UUID(inner))
    except (ValueError, KeyError) as exc:
        raise _ParameterProblem(
            f"Query parameter '{name}' of type {kql_type} could not be parsed from {text!r}"
        ) from exc
    raise _ParameterProblem(f"Query parameter '{name}': unsupported type {kql_type}")


def _timespan_seconds(value: Any) -> float | None:
    """A servertimeout option as seconds (``0:10:00``, ``00:00:01.5``, ``1.00:00:00``)."""
    if value is None:
        return None
    match = re.fullmatch(r"(?:(\d+)[. ]?(?:days?,\s*)?)?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", str(value).strip())
    if not match:
        return None
    days = int(match.group(1) or 0)
    return days * 86_400 + int(match.group(2)) * 3600 + int(match.group(3)) * 60 + float(match.group(4))


# -- helpers ------------------------------------------------------------------------------------


def _assertion_thumbprint(assertion: str) -> str:
    """The certificate thumbprint a client assertion JWT names in its header (x5t), as hex."""
    try:
        header = assertion.split(".")[0]
        claims = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        x5t = str(claims.get("x5t", ""))
        return base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4)).hex().upper()
    except (ValueError, IndexError):
        return ""


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _fingerprint(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _make_tls(folder: Path) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kitlib stand-in CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(ca_file), str(cert_file), str(key_file)


def write_sample_workspace(folder: Path, now: dt.datetime, days: int = 10) -> Path:
    """A small, deterministic workspace folder: ARM activity and interactive sign-ins.

    Every two hours over ``days`` days: a write by alice (token with MFA), a write and a read by
    bob (no MFA), a write by a service principal. AADNonInteractiveUserSignInLogs is left out
    on purpose (an optional table that is missing).
    """
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    amr = "http://schemas.microsoft.com/claims/authnmethodsreferences"
    activity, signins = [], []
    start = now - dt.timedelta(days=days)
    slot = 0
    stamp = start + dt.timedelta(minutes=7)
    while stamp < now:
        for caller, kind, op, claims in (
            ("alice@contoso.example", "User", "Microsoft.Resources/deployments/write", "pwd,mfa"),
            ("Bob@Contoso.example", "User", "Microsoft.Storage/storageAccounts/write", "pwd"),
            ("Bob@Contoso.example", "User", "Microsoft.Storage/storageAccounts/read", "pwd"),
            ("3f1c0b8e-0000-4000-8000-000000000001", "ServicePrincipal", "Microsoft.Compute/virtualMachines/write", ""),
        ):
            slot += 1
            activity.append(
                {
                    "TenantId": "00000000-0000-0000-0000-0000000000aa",
                    "TimeGenerated": stamp + dt.timedelta(seconds=slot % 60),
                    "CategoryValue": "Administrative",
                    "OperationNameValue": op,
                    "Caller": caller,
                    "CorrelationId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"corr-{slot}")),
                    "Authorization_d": json.dumps({"evidence": {"principalType": kind}}),
                    "Claims_d": json.dumps({amr: claims} if claims else {}),
                    "ActivityStatusValue": "Success",
                    "Type": "AzureActivity",
                }
            )
        signins.append(
            {
                "TimeGenerated": stamp,
                "UserPrincipalName": "alice@contoso.example",
                "AppDisplayName": "Microsoft Azure CLI",
                "AppId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "ResultType": "0",
                "IsInteractive": True,
                "IPAddress": "203.0.113.10",
                "DeviceDetail": json.dumps({"operatingSystem": "Windows 10", "browser": "Edge"}),
                "Status": json.dumps({"errorCode": 0}),
                "Type": "SigninLogs",
            }
        )
        stamp += dt.timedelta(hours=2)
    pd.DataFrame(activity).to_parquet(folder / "AzureActivity.parquet", index=False)
    pd.DataFrame(signins).to_parquet(folder / "SigninLogs.parquet", index=False)
    return folder


def browse(url: str, ca_file: str) -> None:
    """Play the user's browser for an interactive sign-in: open the page, follow the answer home.

    Used as ``BROWSER`` in tests, so MSAL's real ``acquire_token_interactive`` completes.
    """
    import html.parser

    import requests

    answer = requests.get(url, verify=ca_file, allow_redirects=False, timeout=10)
    if answer.status_code in (301, 302, 303, 307):
        requests.get(answer.headers["Location"], timeout=10)
        return

    class _Form(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.action = ""
            self.fields: dict[str, str] = {}

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "form":
                self.action = values.get("action") or ""
            if tag == "input" and values.get("name"):
                self.fields[str(values["name"])] = values.get("value") or ""

    form = _Form()
    form.feed(answer.text)
    requests.post(form.action, data=form.fields, timeout=10)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Serve a workspace folder as a stand-in Kusto service on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the stand-in")
    serve.add_argument("--workspace", required=True, type=Path)
    serve.add_argument("--database", default="ws-standin")
    serve.add_argument("--flavour", default="log_analytics", choices=["log_analytics", "adx"])
    serve.add_argument("--lifetime", type=float, default=900.0, help="stop by itself after this many seconds")
    browser = sub.add_parser("browse", help="act as the browser for an interactive sign-in")
    browser.add_argument("url")
    args = parser.parse_args(argv)
    if args.command == "browse":
        import os

        browse(args.url, os.environ["REQUESTS_CA_BUNDLE"])
        return 0
    if args.command != "serve":
        parser.print_help()
        return 2
    standin = StandinKusto(args.workspace, database=args.database, flavour=args.flavour, max_lifetime=args.lifetime)
    standin.start()
    print(
        json.dumps(
            {
                "url": standin.url,
                "database": standin.database,
                "idp": standin.idp,
                "ca_file": standin.ca_file,
                "tenant_id": standin.tenant_id,
            }
        ),
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: standin.stop())
    try:
        standin.stopped.wait()
    except KeyboardInterrupt:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
