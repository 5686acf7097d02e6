"""JupyterLab's server started headless on a free port, and notebooks run through its own API.

What an analyst does in the lab, without the clicks: the server starts kernels by kernelspec name
(the kit's ``kitlib`` kernel), a notebook is opened as a session, and its cells are executed over
the kernel websocket the lab front end uses. Nothing reaches outside the machine: news, update
checks, the extension manager's index and the announcements plugin are switched off.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import websocket

ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


class LabServer:
    """``jupyter lab`` on 127.0.0.1 and a port the OS picked, stopped by ``with``."""

    def __init__(self, root: Path, workdir: Path, *, env: dict[str, str] | None = None, timeout: float = 90) -> None:
        self.token = secrets.token_hex(24)
        runtime, config = workdir / "runtime", workdir / "config"
        for folder in (runtime, config / "labconfig", workdir / "settings", workdir / "workspaces"):
            folder.mkdir(parents=True, exist_ok=True)
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {ANNOUNCEMENTS: True}}), encoding="utf-8"
        )
        environment = {**os.environ, **(env or {})}
        environment.update(
            JUPYTER_RUNTIME_DIR=str(runtime),
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(workdir / "data"),
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            f"--LabApp.user_settings_dir={workdir / 'settings'}",
            f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
            "--KernelSpecManager.ensure_native_kernel=False",
        ]
        self.log = workdir / "lab.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        info = runtime / f"jpserver-{self.process.pid}.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}: {self.log_tail()}")
            try:
                self.url = json.loads(info.read_text(encoding="utf-8"))["url"].rstrip("/")
                self.api("GET", "/api/status", timeout=5)
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s: {self.log_tail()}")

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def log_tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]

    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, whatever the env says
        with opener.open(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.api("POST", "/api/shutdown", timeout=5)
            except OSError:
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def run_notebook(self, path: str, kernel: str, *, timeout: float = 600) -> dict[str, Any]:
        """Open ``path`` as a session on ``kernel``, run every code cell, save the outputs; the executed notebook.

        Stops at the first cell that fails, like "Run All" does, and says which and why.
        """
        notebook: dict[str, Any] = self.api("GET", f"/api/contents/{path}?content=1&type=notebook")["content"]
        session = self.api(
            "POST",
            "/api/sessions",
            {"path": path, "name": Path(path).name, "type": "notebook", "kernel": {"name": kernel}},
        )
        channels = f"{self.url.replace('http', 'ws', 1)}/api/kernels/{session['kernel']['id']}/channels"
        socket = websocket.create_connection(
            f"{channels}?session_id={uuid.uuid4().hex}",
            header=[f"Authorization: token {self.token}"],
            timeout=timeout,
            http_no_proxy=["127.0.0.1"],
        )
        client = uuid.uuid4().hex
        try:
            _request(socket, client, "kernel_info_request", {}, timeout)
            for number, cell in enumerate(c for c in notebook["cells"] if c["cell_type"] == "code"):
                source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                content = {"code": source, "silent": False, "store_history": True, "user_expressions": {}}
                outputs, reply = _execute(
                    socket, client, content | {"allow_stdin": False, "stop_on_error": True}, timeout
                )
                cell["outputs"], cell["execution_count"] = outputs, reply.get("execution_count")
                if reply.get("status") != "ok":
                    raise AssertionError(f"code cell {number + 1} failed: {reply.get('ename')}: {reply.get('evalue')}")
        finally:
            socket.close()
            self.api("PUT", f"/api/contents/{path}", {"type": "notebook", "format": "json", "content": notebook})
            self.api("DELETE", f"/api/sessions/{session['id']}")
        return notebook


def _message(client: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    header = {"msg_id": uuid.uuid4().hex, "msg_type": kind, "username": "test", "session": client, "version": "5.3"}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}


def _request(socket: websocket.WebSocket, client: str, kind: str, content: dict[str, Any], timeout: float) -> None:
    message = _message(client, kind, content)
    socket.send(json.dumps(message))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = json.loads(socket.recv())
        if (
            answer.get("parent_header", {}).get("msg_id") == message["header"]["msg_id"]
            and answer["channel"] == "shell"
        ):
            return
    raise TimeoutError(f"no answer to {kind}")


def _execute(
    socket: websocket.WebSocket, client: str, content: dict[str, Any], timeout: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The outputs of one execute_request: iopub messages until idle, and the shell reply."""
    message = _message(client, "execute_request", content)
    socket.send(json.dumps(message))
    outputs: list[dict[str, Any]] = []
    reply: dict[str, Any] | None = None
    idle = False
    deadline = time.monotonic() + timeout
    while not (idle and reply is not None):
        if time.monotonic() > deadline:
            raise TimeoutError("a cell did not finish")
        answer = json.loads(socket.recv())
        if answer.get("parent_header", {}).get("msg_id") != message["header"]["msg_id"]:
            continue
        kind, body = answer["header"]["msg_type"], answer["content"]
        if answer["channel"] == "shell" and kind == "execute_reply":
            reply = body
        elif kind == "status":
            idle = body.get("execution_state") == "idle"
        elif kind == "stream":
            outputs.append({"output_type": "stream", "name": body["name"], "text": body["text"]})
        elif kind in ("display_data", "execute_result"):
            output = {"output_type": kind, "data": body["data"], "metadata": body.get("metadata", {})}
            if kind == "execute_result":
                output["execution_count"] = body["execution_count"]
            outputs.append(output)
        elif kind == "error":
            outputs.append(
                {
                    "output_type": "error",
                    "ename": body["ename"],
                    "evalue": body["evalue"],
                    "traceback": body["traceback"],
                }
            )
        elif kind == "clear_output":
            outputs.clear()
    return outputs, reply
