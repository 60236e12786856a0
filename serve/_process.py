"""A service in a child process (``python -m serve`` or any command printing the same banner), for tests and
benchmarks: started on a free loopback port, ready when its banner line appears, stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from raytune.engines._ports import free_port

REPO = Path(__file__).resolve().parents[1]
BANNER = "knobray serve:"


class ServiceProcess:
    """``command`` (default ``python -m serve``) with ``--port`` appended, in its own process group.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        banner: The line the service printed when up (ready, or NOT READY with its problems).
        start_seconds: From launch to the banner, as the service measured it (launch to ready).
    """

    def __init__(self, *args: str, command: Sequence[str] | None = None, timeout_s: float = 180) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [*(command or [sys.executable, "-m", "serve"]), "--port", str(self.port), *args]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.lines: list[str] = []
        self.banner = self._wait_for_banner(timeout_s)
        self.wall_seconds = time.perf_counter() - t0
        found = re.search(r" in ([0-9.]+) s", self.banner)
        self.start_seconds = float(found.group(1)) if found else self.wall_seconds

    def _wait_for_banner(self, timeout_s: float) -> str:
        found = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if line.startswith(BANNER):
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not found.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the service did not start:\n" + "\n".join(self.lines[-30:]))
        return next(line for line in self.lines if line.startswith(BANNER))

    @property
    def ready(self) -> bool:
        return "NOT READY" not in self.banner

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole group (Ray's processes included) after 60 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
