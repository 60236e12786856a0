"""The native db_perf client: built from its C source, pinned to its CPUs, stopped by its parent, its Berkeley DB
errors a configuration's failure, DB_RMW's write locks visible in the environment's own lock statistics (real
libdb, real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from raytune.engines import BerkeleyDBInstance
from raytune.errors import InfraError
from raytune.measurement._oltp import ClientFailedError
from raytune.trial import MeasureSettings, TrialRunner
from raytune.workloads import DbPerfWorkload, ItemSpace, TxnMix
from raytune.workloads._dbperf_native import NativeClient, native_binary, running
from raytune.workloads._dbperf_run import (
    _native_settings,
    client_cpu_list,
    histogram_percentile,
    layout_facts,
)

SPACE = ItemSpace(sf=0.2)


def test_histogram_percentiles_take_each_bucket_at_its_middle() -> None:
    # 90 latencies in the bucket from 1000 us, 10 in the one from 2000 us, over two samples
    samples = [[[1000.0, 50], [2000.0, 4]], [[1000.0, 40], [2000.0, 6]]]
    assert histogram_percentile(samples, 50) == pytest.approx(1.005)
    assert histogram_percentile(samples, 95) == pytest.approx(2.01)
    assert histogram_percentile([[]], 95) is None


def test_client_cpus_are_the_last_of_this_process() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert client_cpu_list(None) == "all" == client_cpu_list(len(allowed))
    if len(allowed) > 1:
        assert client_cpu_list(1) == str(allowed[-1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client": "java"}, "unknown dbperf client 'java'"),
        ({"client_cpus": 0}, "client_cpus must be at least 1"),
    ],
)
def test_bad_client_settings_get_one_line_errors(kwargs: dict, message: str) -> None:
    from raytune.errors import WorkloadError

    with pytest.raises(WorkloadError, match=message):
        DbPerfWorkload(TxnMix(2, 0, 50, 10, 30, 50, 50, 3), sf=0.2, **kwargs)


def test_bad_arguments_exit_2_with_one_line() -> None:
    binary = str(native_binary())
    for args, fragment in (
        (["nonsense"], "unknown argument nonsense"),
        (["home=/tmp"], "missing file=VALUE"),
    ):
        proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and fragment in proc.stderr


@pytest.fixture
def instance(bdb_instance: BerkeleyDBInstance) -> BerkeleyDBInstance:
    return bdb_instance


def _settings(inst: BerkeleyDBInstance, workload: DbPerfWorkload) -> dict[str, object]:
    with inst.connect() as handle:
        layout = layout_facts(handle, SPACE.items, SPACE.large_items)
        return {**inst.env_settings(), **_native_settings(workload, layout, handle.rmw)}


def _started_from_a_lowered_thread(settings: dict[str, object]) -> NativeClient:
    """A client started by a thread at niceness 15, as a Ray worker's are (where this process may lower it)."""
    started: list[NativeClient] = []

    def start() -> None:
        if os.geteuid() == 0:
            os.setpriority(os.PRIO_PROCESS, 0, 15)  # Linux: this thread only
        started.append(NativeClient(settings))

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    return started[0]


@pytest.mark.slow
def test_the_client_runs_on_its_cpus_and_stops_when_its_parent_goes(instance: BerkeleyDBInstance) -> None:
    workload = DbPerfWorkload(TxnMix(4, 20, 50, 10, 30, 50, 50, 3), sf=0.2, client_cpus=1)
    settings = _settings(instance, workload)
    with instance.released():
        client = _started_from_a_lowered_thread(settings)
        try:
            if os.geteuid() == 0:  # raising priority needs root or CAP_SYS_NICE
                stat = Path(f"/proc/{client.proc.pid}/stat").read_text()
                assert int(stat.rpartition(")")[2].split()[16]) == 0  # field 19: niceness
            first, second = client.next_sample(), client.next_sample()
            assert first["latency_us"] == [] and second["elapsed"] > first["elapsed"]
            # every commit since the first sample has its latency counted (the two read a moment apart: 1% off)
            commits = second["commits"] - first["commits"]
            assert commits > 0 and abs(sum(n for _, n in second["latency_us"]) - commits) <= 0.01 * commits
            status = Path(f"/proc/{client.proc.pid}/status").read_text()
            allowed = next(ln.split()[1] for ln in status.splitlines() if ln.startswith("Cpus_allowed_list"))
            assert allowed == client_cpu_list(1)
            client.proc.stdin.close()  # the parent gone: end of file on stdin
            deadline = time.monotonic() + 30
            while client.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert client.proc.returncode == 0
        finally:
            client.kill()
    assert instance.answers()  # reopened after the client closed it


@pytest.mark.slow
def test_a_berkeley_db_error_is_the_configurations_failure(instance: BerkeleyDBInstance) -> None:
    workload = DbPerfWorkload(TxnMix(2, 0, 50, 10, 30, 50, 50, 3), sf=0.2)
    settings = {**_settings(instance, workload), "file": "missing.db"}
    with instance.released(), running(settings) as client:
        with pytest.raises(ClientFailedError, match="database open: No such file or directory"):
            client.next_sample()
    assert instance.answers()


@pytest.mark.slow
def test_a_client_stopped_by_a_signal_is_not_blamed_on_the_configuration(
    instance: BerkeleyDBInstance,
) -> None:
    workload = DbPerfWorkload(TxnMix(2, 0, 50, 10, 30, 50, 50, 3), sf=0.2)
    settings = _settings(instance, workload)
    with instance.released(), running(settings) as client:
        client.next_sample()
        client.proc.send_signal(signal.SIGTERM)
        with pytest.raises(InfraError, match="stopped before it was told to"):
            while True:
                client.next_sample()
    assert instance.answers()


@pytest.mark.slow
def test_running_out_of_locks_mid_run_fails_the_trial_and_keeps_the_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cursor transaction over ~2,000 items (some 45 leaf pages) needs more locks than a table of 40 holds."""
    monkeypatch.setattr("raytune.engines._berkeleydb.MAX_LOCKS", 40)
    mix = TxnMix(concurrency=4, pct_cursors=100, items_curs=2000, items_non_curs=10, pct_updates=100,
                 pct_writes_upd=100, def_page_loc=50, size_loc=3)  # fmt: skip
    with TrialRunner(
        "berkeleydb", DbPerfWorkload(mix, sf=0.2), settings=MeasureSettings(duration_s=12)
    ) as runner:
        failed = runner.run({"db_rmw": "on"})
        assert failed.status.name == "REJECTED" and "dbperf transaction failed" in failed.error, failed.error
        assert runner.instance.answers()


@pytest.mark.slow
@pytest.mark.parametrize("rmw", ["off", "on"])
def test_db_rmw_makes_readers_of_the_same_items_wait(rmw: str) -> None:
    """Update transactions that write nothing: their reads share locks without DB_RMW and queue with it."""
    mix = TxnMix(concurrency=4, pct_cursors=0, items_curs=50, items_non_curs=10, pct_updates=100,
                 pct_writes_upd=0, def_page_loc=1, size_loc=3)  # fmt: skip
    with TrialRunner(
        "berkeleydb", DbPerfWorkload(mix, sf=0.2), settings=MeasureSettings(duration_s=12)
    ) as runner:
        record = runner.run({"db_rmw": rmw})
    assert record.status.name == "SUCCEEDED", record.error
    per_txn = record.summary["per_txn"]
    assert per_txn["items_written"] == 0 and per_txn["items_read"] == pytest.approx(10, rel=0.1)
    assert (per_txn["waits"] > 0.01) if rmw == "on" else (per_txn["waits"] == 0)
    assert record.metrics["txn.ncommits"] > 0 and record.metrics["lock.nrequests"] > 0
