"""Transactional workloads driven by external benchmark clients: pgbench (PostgreSQL) and sysbench (both).

A workload knows how to load its data, the command line of a run, and how to read the client's per-second
progress lines and per-transaction latencies. Running and measuring is ``raytune.measurement``'s job.
"""

from __future__ import annotations

import abc
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from raytune.errors import WorkloadError
from raytune.workloads._base import Workload, WorkloadKind

if TYPE_CHECKING:
    from raytune.engines import EngineInstance


@dataclass(frozen=True)
class ProgressSample:
    """One progress line of a benchmark client: time since start and transactions per second."""

    t_s: float
    tps: float
    latency_ms: float | None = None


class OltpWorkload(Workload):
    """A transaction mix run for a fixed time by a benchmark client; objective: throughput."""

    kind = WorkloadKind.OLTP
    writes = True

    @abc.abstractmethod
    def run_command(
        self, instance: EngineInstance, duration_s: int, clients: int, log_dir: Path
    ) -> list[str]:
        """The client command that runs the mix for ``duration_s`` seconds, printing progress every second."""

    @abc.abstractmethod
    def parse_progress(self, line: str) -> ProgressSample | None:
        """A progress sample from one output line, or ``None``."""

    @abc.abstractmethod
    def latencies_ms(self, output: str, log_dir: Path) -> list[float]:
        """Per-transaction latencies (or a histogram expanded to them) after a run."""


def _run_client(cmd: list[str], what: str, timeout: float = 3600) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise WorkloadError(f"{what} failed: {last[0]}")
    return proc.stdout


class PgbenchWorkload(OltpWorkload):
    """pgbench's TPC-B-like mix at scale ``scale`` (100,000 accounts per unit), from the server's bin dir."""

    name = "pgbench"

    def __init__(self, scale: float = 1) -> None:
        self.scale = max(1, int(round(scale)))

    def data_key(self) -> str:
        return f"pgbench-s{self.scale}"

    def check(self, engine: str) -> None:
        super().check(engine)
        if engine != "postgres":
            raise WorkloadError(f"pgbench runs on postgres only, not {engine}; use --workload sysbench-rw")

    def _base(self, instance: EngineInstance) -> list[str]:
        return [
            str(instance.bin_dir / "pgbench"),
            "-h",
            "127.0.0.1",
            "-p",
            str(instance.port),
            "-U",
            "knobray",
        ]

    def load(self, instance: EngineInstance) -> None:
        instance.create_database(self.database)
        _run_client([*self._base(instance), "-i", "-q", "-s", str(self.scale), self.database], "pgbench -i")

    def run_command(
        self, instance: EngineInstance, duration_s: int, clients: int, log_dir: Path
    ) -> list[str]:
        return [
            *self._base(instance),
            "-T",
            str(duration_s),
            "-c",
            str(clients),
            "-j",
            str(max(1, min(clients, 2))),
            "-P",
            "1",
            "-l",
            f"--log-prefix={log_dir / 'pgbench'}",
            "-n",
            self.database,
        ]

    _PROGRESS = re.compile(r"progress: ([\d.]+) s, ([\d.]+) tps, lat ([\d.]+) ms")

    def parse_progress(self, line: str) -> ProgressSample | None:
        m = self._PROGRESS.search(line)
        return ProgressSample(float(m.group(1)), float(m.group(2)), float(m.group(3))) if m else None

    def latencies_ms(self, output: str, log_dir: Path) -> list[float]:
        # Transaction log lines: client_id transaction_no time_us script_no time_epoch time_us
        out: list[float] = []
        for path in log_dir.glob("pgbench*"):
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    out.append(int(parts[2]) / 1000.0)
        return out


class SysbenchWorkload(OltpWorkload):
    """sysbench's ``oltp_read_write`` or ``oltp_read_only`` over 4 tables of ``100,000 * sf`` rows."""

    TESTS = {"sysbench-rw": "oltp_read_write", "sysbench-ro": "oltp_read_only"}

    def __init__(self, name: str = "sysbench-rw", sf: float = 1.0, tables: int = 4) -> None:
        if name not in self.TESTS:
            raise WorkloadError(f"unknown sysbench workload {name!r}; use {' or '.join(self.TESTS)}")
        if shutil.which("sysbench") is None:
            raise WorkloadError("sysbench is not installed; run make install (Debian package sysbench)")
        self.name = name
        self.test = self.TESTS[name]
        self.writes = name == "sysbench-rw"
        self.tables = tables
        self.table_size = max(1000, int(100_000 * sf))

    def data_key(self) -> str:
        return f"sysbench-{self.tables}x{self.table_size}"

    def _base(self, instance: EngineInstance) -> list[str]:
        conn = instance.sql.sysbench_connection(instance, self.database)
        return ["sysbench", self.test, *conn, f"--tables={self.tables}", f"--table-size={self.table_size}"]

    def load(self, instance: EngineInstance) -> None:
        instance.create_database(self.database)
        _run_client([*self._base(instance), "--threads=2", "prepare"], "sysbench prepare")

    def run_command(
        self, instance: EngineInstance, duration_s: int, clients: int, log_dir: Path
    ) -> list[str]:
        return [
            *self._base(instance),
            f"--time={duration_s}",
            f"--threads={clients}",
            "--report-interval=1",
            "--histogram=on",
            "--percentile=95",
            "run",
        ]

    _PROGRESS = re.compile(r"\[\s*(\d+)s \].*?tps: ([\d.]+).*?lat \(ms,95%\): ([\d.]+)")
    _HISTOGRAM = re.compile(r"^\s*([\d.]+)\s*\|[*\s]*(\d+)\s*$")

    def parse_progress(self, line: str) -> ProgressSample | None:
        m = self._PROGRESS.search(line)
        return ProgressSample(float(m.group(1)), float(m.group(2)), float(m.group(3))) if m else None

    def latencies_ms(self, output: str, log_dir: Path) -> list[float]:
        out: list[float] = []
        for line in output.splitlines():
            m = self._HISTOGRAM.match(line)
            if m:
                out.extend([float(m.group(1))] * int(m.group(2)))
        return out
