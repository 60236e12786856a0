"""A real knobray service (``python -m serve``: local Ray, Ray Serve, the shipped models) on a free loopback
port, for the slow tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from raytune.engines._ports import free_port

REPO = Path(__file__).resolve().parents[2]


class Service:
    """``python -m serve`` in its own process group; ``stop()`` ends it with SIGTERM (then SIGKILL)."""

    def __init__(self, *args: str, token: str | None = None, token_dir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        command = [sys.executable, "-m", "serve", "--port", str(self.port), *args]
        if token is not None:
            assert token_dir is not None
            token_file = token_dir / "token"
            token_file.write_text(token + "\n")
            command += ["--token-file", str(token_file)]
        self.proc = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.lines: list[str] = []
        self.banner = self._wait_for_banner(timeout_s=180)

    def _wait_for_banner(self, timeout_s: float) -> str:
        found = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if line.startswith("knobray serve:"):
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not found.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the service did not start:\n" + "\n".join(self.lines[-30:]))
        return next(line for line in self.lines if line.startswith("knobray serve:"))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        raw: bytes | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body); ``token=""`` sends the service's own token, None sends none."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        bearer = self.token if token == "" else token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, dict(reply.headers), json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # Ray processes left in the group, if any
        except ProcessLookupError:
            pass
