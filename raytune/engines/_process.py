"""A server process in the foreground of its own session, stopped by signal, its output in a log file; it dies
with the process that started it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from raytune.engines._sysuser import ServiceUser
from raytune.lifetime import die_with_owner
from raytune.priority import normal_priority

logger = logging.getLogger(__name__)


def run_as(
    user: ServiceUser, cmd: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 300
) -> str:
    """Runs a short command as ``user``; returns its combined output.

    Raises:
        subprocess.CalledProcessError: On a non-zero exit (output attached).
    """
    kwargs = {} if user.is_current else {"user": user.uid, "group": user.gid, "extra_groups": []}
    proc = subprocess.run(
        list(cmd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=timeout,
        cwd="/",
        **kwargs,
    )
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(cmd), output=proc.stdout)
    return proc.stdout


class ServerProcess:
    """One running server: started as the service user, in its own session, output appended to ``log_path``."""

    def __init__(
        self, cmd: Sequence[str], user: ServiceUser, log_path: Path, env: dict[str, str] | None = None
    ):
        self.cmd = list(cmd)
        self.user = user
        self.log_path = log_path
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        kwargs = (
            {}
            if self.user.is_current
            else {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}
        )
        with open(self.log_path, "ab") as log, normal_priority():
            self._proc = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                cwd="/",
                start_new_session=True,
                preexec_fn=die_with_owner,  # noqa: PLW1509 - one prctl call, async-signal-safe
                **kwargs,
            )
        logger.debug("started pid %s: %s", self._proc.pid, " ".join(self.cmd))

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Sends ``sig``, waits up to ``timeout`` s, then kills the whole process group."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            try:
                self._proc.send_signal(sig)
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "server pid %s ignored signal %s for %.0fs; killing it", self._proc.pid, sig, timeout
                )
            except ProcessLookupError:
                pass
        self._kill_group()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL to the server's process group (what a crash looks like)."""
        if self._proc is not None:
            self._kill_group()

    def _kill_group(self) -> None:
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + 10
        while self._proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
