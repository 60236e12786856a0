"""The native db_perf client: ``native/dbperf.c`` built on first use and run as a child process.

The transaction threads of a run are C threads in their own process, which opens the instance's environment with
the instance's settings (the instance closes it for the run and reopens it after). The child prints the
cumulative counters every sample period as a JSON line and stops when told (or when its stdin closes, so it never
outlives its parent). The binary is compiled with ``gcc`` against Debian's libdb into knobray's home, named by a
hash of the source, so a changed source is rebuilt and concurrent builds do not collide.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from raytune.errors import EngineError
from raytune.home import ensure_home
from raytune.measurement._oltp import ClientFailedError

SOURCE = Path(__file__).resolve().parent / "native" / "dbperf.c"
COMPILE = ("gcc", "-O2", "-pthread", "-Wall")
LIBS = ("-ldb", "-lm")
STOP_TIMEOUT_S = 30.0  # for the threads to finish their transactions and the environment to close
SAMPLE_TIMEOUT_S = 60.0  # a sample later than this means the child hangs


def native_binary() -> Path:
    """The compiled client (built now when missing).

    Raises:
        EngineError: No compiler, or the build failed (its first error line in the message).
    """
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(COMPILE + LIBS).encode()).hexdigest()[:12]
    target = ensure_home() / "bin" / f"dbperf-{digest}"
    if target.exists():
        return target
    if shutil.which(COMPILE[0]) is None:
        raise EngineError(
            "the native dbperf client needs gcc; run make install (it installs build-essential)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dbperf-", dir=target.parent)
    os.close(fd)
    proc = subprocess.run([*COMPILE, "-o", tmp, str(SOURCE), *LIBS], capture_output=True, text=True)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:200])
        raise EngineError(f"could not build the native dbperf client: {first}; is libdb5.3-dev installed?")
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)  # atomic: a concurrent build of the same source wins or loses whole
    return target


class NativeClient:
    """One run of the native client: its samples (cumulative counters) in order, and its stop."""

    def __init__(self, settings: Mapping[str, object]) -> None:
        args = [f"{k}={v}" for k, v in settings.items()]
        self.proc = subprocess.Popen(
            [str(native_binary()), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def next_sample(self, timeout: float = SAMPLE_TIMEOUT_S) -> dict[str, Any]:
        """The next sample's cumulative counters.

        Raises:
            ClientFailedError: The client reported a Berkeley DB error.
            EngineError: It ended, or sent nothing for ``timeout`` seconds.
        """
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise EngineError(f"the native dbperf client sent no sample for {timeout:.0f}s") from None
        if line is None:
            self.proc.wait()
            raise EngineError(f"the native dbperf client ended early: {self._stderr_tail()}")
        data = json.loads(line)
        if "error" in data:
            self.proc.wait()
            raise ClientFailedError(f"dbperf transaction failed: {data['error']}")
        return data

    def stop(self) -> None:
        """Tells the client to stop, and waits for it to close the environment.

        Raises:
            ClientFailedError: It reported a Berkeley DB error while stopping.
            EngineError: It did not stop in time (then it is killed) or failed otherwise.
        """
        try:
            self.proc.stdin.write("stop\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise EngineError(
                    f"the native dbperf client did not stop within {STOP_TIMEOUT_S:.0f}s"
                ) from None
            if line is None:
                break
            data = json.loads(line)
            if "error" in data:
                self.proc.wait()
                raise ClientFailedError(f"dbperf transaction failed: {data['error']}")
        if self.proc.wait() != 0:
            raise EngineError(f"the native dbperf client failed: {self._stderr_tail()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def _stderr_tail(self) -> str:
        err = self.proc.stderr.read() if self.proc.stderr else ""  # type: ignore[union-attr]
        return err.strip().splitlines()[-1] if err.strip() else f"exit status {self.proc.returncode}"


@contextmanager
def running(settings: Mapping[str, object]) -> Iterator[NativeClient]:
    """A running client that is killed if the caller leaves early."""
    client = NativeClient(settings)
    try:
        yield client
    finally:
        client.kill()
