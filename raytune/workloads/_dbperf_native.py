"""The native db_perf client: ``native/dbperf.c`` built on first use and run as a child process.

The transaction threads of a run are C threads in their own process, which opens the instance's environment with
the instance's settings (the instance closes it for the run and reopens it after). The child prints the
cumulative counters every sample period as a JSON line and stops when told (or when its stdin closes, so it never
outlives its parent). The binary is compiled with ``gcc`` against Debian's libdb into knobray's home, named by a
hash of the source, so a changed source is rebuilt and concurrent builds do not collide.
"""

from __future__ import annotations

import collections
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

from raytune.errors import InfraError
from raytune.home import ensure_home
from raytune.measurement._oltp import ClientFailedError
from raytune.priority import normal_priority

SOURCE = Path(__file__).resolve().parent / "native" / "dbperf.c"
COMPILE = ("gcc", "-O2", "-pthread", "-Wall")
LIBS = ("-ldb", "-lm")
STOP_TIMEOUT_S = 30.0  # for the threads to finish their transactions and the environment to close
SAMPLE_TIMEOUT_S = 60.0  # a sample later than this means the child hangs
FIRST_SAMPLE_TIMEOUT_S = 900.0  # the first comes after opening the environment and the warm-up
# Berkeley DB errors that mean the client itself is wrong (a missing item, a short buffer, a bad argument): bugs
DB_NOTFOUND, DB_BUFFER_SMALL, EINVAL = -30988, -30999, 22
BUG_CODES = (DB_NOTFOUND, DB_BUFFER_SMALL, EINVAL)


def native_binary() -> Path:
    """The compiled client (built now when missing).

    Raises:
        InfraError: No compiler, or the build failed (its first error line in the message).
    """
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(COMPILE + LIBS).encode()).hexdigest()[:12]
    target = ensure_home() / "bin" / f"dbperf-{digest}"
    if target.exists():
        return target
    if shutil.which(COMPILE[0]) is None:
        raise InfraError("the native dbperf client needs gcc; run make install (it installs gcc)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dbperf-", dir=target.parent)
    os.close(fd)
    proc = subprocess.run([*COMPILE, "-o", tmp, str(SOURCE), *LIBS], capture_output=True, text=True)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:200])
        raise InfraError(f"could not build the native dbperf client: {first}; is libdb5.3-dev installed?")
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)  # atomic: a concurrent build of the same source wins or loses whole
    return target


class NativeClient:
    """One run of the native client: its samples (cumulative counters) in order, and its stop.

    A Berkeley DB error in the run is the configuration's failure (:class:`ClientFailedError`); one that means
    the client is wrong (a missing item, a short buffer, an invalid argument) is a bug (``RuntimeError``); a
    client that crashes, hangs or ends early is knobray's failure (:class:`InfraError`).
    """

    def __init__(self, settings: Mapping[str, object]) -> None:
        args = [f"{k}={v}" for k, v in settings.items()]
        binary = native_binary()
        with normal_priority():  # the client is the engine too: not at a Ray worker's lowered priority
            self.proc = subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._started = False
        for target, stream in ((self._read, self.proc.stdout), (self._drain, self.proc.stderr)):
            threading.Thread(target=target, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def _drain(self, stream: IO[str]) -> None:
        """Keeps the last lines libdb or the client write to stderr, without letting the pipe fill."""
        for line in stream:
            self.stderr_tail.append(line.rstrip())

    def next_sample(self) -> dict[str, Any]:
        """The next sample's cumulative counters (the first comes after the warm-up: a longer wait).

        Raises:
            ClientFailedError: The client reported a Berkeley DB error.
            InfraError: It ended, or sent nothing in time.
        """
        timeout = SAMPLE_TIMEOUT_S if self._started else FIRST_SAMPLE_TIMEOUT_S
        self._started = True
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise InfraError(f"the native dbperf client sent no sample for {timeout:.0f}s") from None
        if line is None:
            self.proc.wait()
            raise InfraError(f"the native dbperf client ended early: {self._last_words()}")
        data = self._parse(line)
        if data.get("done"):
            self.proc.wait()
            raise InfraError("the native dbperf client stopped before it was told to (a signal)")
        return data

    def _parse(self, line: str) -> dict[str, Any]:
        data = json.loads(line)
        if "error" in data:
            self.proc.wait()
            message = f"dbperf transaction failed: {data['error']}"
            if data.get("code") in BUG_CODES:
                raise RuntimeError(f"the native dbperf client is wrong: {message}")
            raise ClientFailedError(message)
        return data

    def stop(self) -> None:
        """Tells the client to stop, and waits for it to close the environment.

        Raises:
            ClientFailedError: It reported a Berkeley DB error while stopping.
            InfraError: It did not stop in time (then it is killed) or failed otherwise.
        """
        self._tell_stop()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise InfraError(
                    f"the native dbperf client did not stop within {STOP_TIMEOUT_S:.0f}s"
                ) from None
            if line is None:
                break
            self._parse(line)
        if self.proc.wait() != 0:
            raise InfraError(f"the native dbperf client failed: {self._last_words()}")

    def _tell_stop(self) -> None:
        try:
            self.proc.stdin.write("stop\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError):  # it has gone, or was told already
            pass

    def close(self) -> None:
        """Ends a client still running: told to stop, so that it closes the environment cleanly, and killed if it
        has not within the stop timeout."""
        if self.proc.poll() is None:
            self._tell_stop()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def _last_words(self) -> str:
        time.sleep(0.1)  # the drain thread's last lines
        return self.stderr_tail[-1] if self.stderr_tail else f"exit status {self.proc.returncode}"


@contextmanager
def running(settings: Mapping[str, object]) -> Iterator[NativeClient]:
    """A running client, stopped (or killed) if the caller leaves early."""
    client = NativeClient(settings)
    try:
        yield client
    finally:
        client.close()
