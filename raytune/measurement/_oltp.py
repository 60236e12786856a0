"""Measuring a transactional mix: a warm-up run, then a fixed-duration run sampled every second."""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from raytune.errors import EngineError, KnobrayError
from raytune.lifetime import die_with_owner
from raytune.measurement._stats import percentile
from raytune.measurement._steady import SteadyState, detect_steady_state
from raytune.priority import normal_priority

if TYPE_CHECKING:
    from raytune.engines import EngineInstance
    from raytune.workloads import OltpWorkload, ProgressSample

logger = logging.getLogger(__name__)


class ClientFailedError(KnobrayError):
    """The benchmark client exited with an error."""


class ClientTimeoutError(ClientFailedError):
    """The benchmark client ran past its deadline and was killed."""


@dataclass(frozen=True)
class OltpResult:
    """Throughput (the objective), tail latencies and the per-second samples with their steady-state check."""

    throughput_tps: float
    p95_ms: float | None
    p99_ms: float | None
    samples_tps: tuple[float, ...]
    steady: SteadyState
    duration_s: int
    warmup_s: int
    clients: int


def _run_client(
    cmd: list[str], workload: OltpWorkload, timeout: float, on_sample: Callable[[ProgressSample], None] | None
) -> tuple[str, list[ProgressSample]]:
    """Runs a client to its end, reading its output on a thread so that the deadline holds even when the client
    prints nothing (a hung connection).

    Raises:
        ClientTimeoutError: The client ran past ``timeout`` seconds; it was killed.
        ClientFailedError: It exited with an error.
    """
    samples: list[ProgressSample] = []
    lines: list[str] = []
    failures: list[BaseException] = []

    def read(stream: IO[str]) -> None:
        try:
            for line in stream:
                lines.append(line)
                sample = workload.parse_progress(line)
                if sample is not None:
                    samples.append(sample)
                    if on_sample:
                        on_sample(sample)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            failures.append(exc)

    with normal_priority():
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_owner,  # noqa: PLW1509 - one prctl call
        )
    name = cmd[0].rsplit("/", 1)[-1]
    with proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=read, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join(timeout=5)
            raise ClientTimeoutError(f"{name} ran past its {timeout:.0f}s limit and was killed") from None
        reader.join()  # the client exited, so its output ends: the reader finishes
    if failures:
        raise failures[0]  # a bug in parsing is knobray's, never the configuration's
    output = "".join(lines)
    if code != 0:
        tail = [ln for ln in output.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        raise ClientFailedError(f"{name} exited with {code}: {tail[0].strip()}")
    return output, samples


def run_oltp(
    instance: EngineInstance,
    workload: OltpWorkload,
    *,
    duration_s: int = 30,
    warmup_s: int = 5,
    clients: int = 4,
    steady_window: int = 5,
    on_sample: Callable[[ProgressSample], None] | None = None,
) -> OltpResult:
    """Runs ``workload`` for ``warmup_s`` (discarded), then ``duration_s`` seconds measured.

    Raises:
        ClientFailedError: The client failed (e.g. the server refused connections).
        EngineError: The server died during the run.
    """
    with tempfile.TemporaryDirectory(prefix="knobray-oltp-") as tmp:
        log_dir = Path(tmp)
        (log_dir / "w").mkdir()
        (log_dir / "m").mkdir()
        try:
            if warmup_s > 0:
                _run_client(
                    workload.run_command(instance, warmup_s, clients, log_dir / "w"),
                    workload,
                    warmup_s + 120,
                    None,
                )
            output, samples = _run_client(
                workload.run_command(instance, duration_s, clients, log_dir / "m"),
                workload,
                duration_s + 120,
                on_sample,
            )
        except ClientTimeoutError:
            raise
        except ClientFailedError:
            if not instance.running:
                raise EngineError(f"{instance.engine} server died during the {workload.name} run") from None
            raise
        latencies = workload.latencies_ms(output, log_dir / "m")
    tps = [s.tps for s in samples]
    if not tps:
        raise ClientFailedError(f"{workload.name} printed no progress samples; check the client output")
    return OltpResult(
        throughput_tps=sum(tps) / len(tps),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        samples_tps=tuple(tps),
        steady=detect_steady_state(tps, window=steady_window),
        duration_s=duration_s,
        warmup_s=warmup_s,
        clients=clients,
    )
