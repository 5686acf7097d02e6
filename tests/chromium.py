"""Debian's headless Chromium driven over the DevTools protocol, with websocket-client only.

Tools that download a browser of their own cannot work here (no network but PyPI/npm/Debian), and
Playwright or Selenium would add a large dependency for two tests. The protocol needs little:
start Chromium with a free debugging port, open the page's websocket, navigate, poll a condition
in the page, screenshot. Every request the page makes is recorded, so a test can assert that none
left the machine; a dead proxy and a resolver that knows no name make sure none could.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import websocket

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",  # needed as root, harmless otherwise
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--password-store=basic",
    # Every non-loopback request goes to a dead proxy and no name resolves. Loopback bypasses the
    # proxy implicitly; the resolver rule must exclude 127.0.0.1 or it blocks the lab too.
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def find_chromium() -> str:
    """The Chromium executable; skipped with the reason outside CI, a failure under ``CI=true``."""
    found = next((shutil.which(c) for c in CANDIDATES if shutil.which(c)), None)
    if found:
        return found
    reason = "no Chromium on this machine (apt install chromium): the browser check did not run"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser checks: {reason}")
    pytest.skip(reason)


class Chromium:
    """One headless browser with one page, closed by ``with``."""

    def __init__(self, executable: str, *, width: int = 1400, height: int = 1000, timeout: float = 30) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="kitlib-chromium-"))
        self._log = (self.profile / "chromium.log").open("w")
        self.process = subprocess.Popen(
            [
                executable,
                *OFFLINE_FLAGS,
                f"--user-data-dir={self.profile / 'profile'}",
                f"--window-size={width},{height}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        port_file = self.profile / "profile" / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"Chromium did not start: {(self.profile / 'chromium.log').read_text()[-1500:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = json.load(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        # Chromium refuses DevTools websockets that send an Origin header.
        self._socket = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True, http_no_proxy=["127.0.0.1"]
        )
        self._ids = itertools.count(1)
        self.requests: list[str] = []
        self.errors: list[str] = []
        for method in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.send(method)
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method", "")
        if method == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            details = message["params"]["exceptionDetails"]
            self.errors.append(str(details.get("exception", {}).get("description", details.get("text", "")))[:300])

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"the page could not evaluate {expression!r}: {details.get('exception', details)}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float = 90) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"still false after {timeout:.0f} s: {expression}")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            try:
                self.send("Browser.close")
            except (OSError, RuntimeError, websocket.WebSocketException):
                pass
            socket.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
