"""Running a db_perf mix: transaction threads, a sampler, and the steady-state stop (thesis section 6.3-6.4).

Transactions (thesis 7.1.4): non-cursor read, cursor read, non-cursor update, cursor update, in the proportions
``pct_cursors`` x ``pct_updates``; items per transaction ~ N(mean, 0.2 mean). Update transactions write each item
they read with probability ``pct_writes_upd`` (same size, so the layout stays), reading with ``DB_RMW`` when the
instance's ``db_rmw`` knob is on. A transaction chosen as a deadlock victim is aborted and retried (the same
transaction, until it commits or the run ends).
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from raytune.errors import EngineError
from raytune.measurement import OltpResult, detect_steady_state
from raytune.measurement._oltp import ClientFailedError
from raytune.measurement._stats import percentile
from raytune.workloads._dbperf import (
    B_SLOTS,
    C_SLOTS,
    LOCALITY_SHARE,
    DbPerfResult,
    DbPerfWorkload,
    ItemSpace,
    TxnCounters,
    leaves_spanned,
    locality_slots,
)

if TYPE_CHECKING:
    from raytune.engines import EngineInstance

logger = logging.getLogger(__name__)

SAMPLE_S = 2.0
WINDOW = 5
JOIN_TIMEOUT_S = 30.0  # for every thread together, after the run is told to stop
# The monitored variables of the thesis: throughput, misses/txn, faults/txn, dirty evictions/txn.
MONITORED = ("tps", "misses", "faults", "dirty_evicts")
ENV_SOURCES = ("mpool", "lock", "txn", "rusage")  # the prefixes of the environment's counters


class _Mix:
    """What a thread needs to draw keys and transactions (precomputed once)."""

    def __init__(self, workload: DbPerfWorkload, rmw: bool) -> None:
        m = workload.mix
        self.a_slots = workload.space.a_slots
        self.local = locality_slots(m)
        self.large_c = [c for c in range(C_SLOTS) if ItemSpace.is_large(c)]
        self.small_c = [c for c in range(C_SLOTS) if not ItemSpace.is_large(c)]
        self.p_cursor, self.p_update = m.pct_cursors / 100, m.pct_updates / 100
        self.p_write, self.p_large = m.pct_writes_upd / 100, m.size_loc / 100
        self.items_curs, self.items_non_curs = m.items_curs, m.items_non_curs
        self.rmw = rmw

    def key(self, r: random.Random) -> tuple[bytes, bool]:
        b = r.randrange(self.local) if r.random() < LOCALITY_SHARE else r.randrange(self.local, B_SLOTS)
        large = r.random() < self.p_large
        c = r.choice(self.large_c if large else self.small_c)
        return b"%02d%02d%02d" % (r.randrange(self.a_slots), b, c), large

    def items(self, r: random.Random, mean: float) -> int:
        return max(1, round(r.gauss(mean, 0.2 * mean)))


class _Driver:
    """The transaction threads of one run."""

    def __init__(self, workload: DbPerfWorkload, handle: Any, layout: dict[str, float]) -> None:
        from berkeleydb import db

        self.db_module = db
        self.env, self.db = handle.env, handle.db
        self.mix = _Mix(workload, handle.rmw)
        self.items_per_leaf = layout["items_per_leaf"]
        self.overflow_large, self.overflow_small = layout["overflow_large"], layout["overflow_small"]
        self.stop = threading.Event()
        self.counters = [TxnCounters() for _ in range(workload.mix.concurrency)]
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._loop, args=(i, workload.seed), daemon=True, name=f"dbperf-{i}")
            for i in range(workload.mix.concurrency)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> list[str]:
        """Stops the threads (one deadline for all); the names of any still running."""
        self.stop.set()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        return [t.name for t in self.threads if t.is_alive()]

    def _loop(self, index: int, seed: int) -> None:
        r, c, m = random.Random(seed * 100_003 + index), self.counters[index], self.mix
        try:
            while not self.stop.is_set():
                cursor, update = r.random() < m.p_cursor, r.random() < m.p_update
                n = m.items(r, m.items_curs if cursor else m.items_non_curs)
                t0 = time.perf_counter()
                done = None
                while done is None and not self.stop.is_set():  # a deadlock victim retries until the run ends
                    seed_state = r.getstate()
                    txn = self.env.txn_begin()
                    committed = False
                    try:
                        done = (
                            self._cursor_txn(txn, r, n, update)
                            if cursor
                            else self._get_txn(txn, r, n, update)
                        )
                        txn.commit()
                        committed = True
                    except self.db_module.DBLockDeadlockError:
                        done = None
                        c.retries += 1
                        r.setstate(seed_state)  # the retry repeats the same transaction
                    finally:
                        if not committed:
                            txn.abort()  # its locks go, whatever ended it
                if done is None:
                    break
                read, written, overflow, leaves = done
                c.commits += 1
                c.read += read
                c.written += written
                c.overflow += overflow
                c.leaves += leaves
                c.latency_ms.append(1000 * (time.perf_counter() - t0))
        except BaseException as exc:  # noqa: BLE001 - handed to the sampler, which ends the run with it
            self.errors.append(exc)
            self.stop.set()

    def _overflows(self, large: bool) -> bool:
        return self.overflow_small or (large and self.overflow_large)

    def _get_txn(self, txn: Any, r: random.Random, n: int, update: bool) -> tuple[int, int, int, float]:
        flags = self.db_module.DB_RMW if update and self.mix.rmw else 0
        written = overflow = 0
        for _ in range(n):
            key, large = self.mix.key(r)
            value = self.db.get(key, txn=txn, flags=flags)
            overflow += self._overflows(large)
            if update and r.random() < self.mix.p_write:
                self.db.put(key, b"w" * len(value), txn=txn)
                written += 1
        return n, written, overflow, float(n)

    def _cursor_txn(self, txn: Any, r: random.Random, n: int, update: bool) -> tuple[int, int, int, float]:
        db = self.db_module
        flags = db.DB_RMW if update and self.mix.rmw else 0
        written = overflow = 0
        start, _ = self.mix.key(r)
        cursor = self.db.cursor(txn=txn)
        try:
            row = cursor.set_range(start, flags=flags)
            for _ in range(n):
                if row is None:
                    row = cursor.first(flags=flags)
                key, value = row
                overflow += self._overflows(ItemSpace.is_large(ItemSpace.c_slot(key)))
                if update and r.random() < self.mix.p_write:
                    cursor.put(key, b"w" * len(value), db.DB_CURRENT)
                    written += 1
                row = cursor.next(flags=flags)
        finally:
            cursor.close()
        return n, written, overflow, leaves_spanned(n, self.items_per_leaf)

    def totals(self) -> dict[str, float]:
        return {
            "commits": sum(c.commits for c in self.counters),
            "retries": sum(c.retries for c in self.counters),
            "items_read": sum(c.read for c in self.counters),
            "items_written": sum(c.written for c in self.counters),
            "overflow_items": sum(c.overflow for c in self.counters),
            "leaves": sum(c.leaves for c in self.counters),
        }

    def latencies_between(self, start: list[int], end: list[int]) -> list[float]:
        return [x for c, a, b in zip(self.counters, start, end, strict=True) for x in c.latency_ms[a:b]]


def layout_facts(handle: Any, items: int, large_items: int) -> dict[str, float]:
    """From the database's statistics: items per leaf page and whether large / small items overflow (each
    overflowing item takes at least one overflow page)."""
    stat = handle.db.stat()
    over = int(stat["over_pg"])
    return {
        "page_size": float(stat["pagesize"]),
        "min_keys": float(stat["minkey"]),
        "leaf_pages": float(stat["leaf_pg"]),
        "overflow_pages": float(over),
        "levels": float(stat["levels"]),
        "items_per_leaf": items / max(1, int(stat["leaf_pg"])),
        "overflow_large": float(over >= large_items > 0),
        "overflow_small": float(over >= items),
    }


def _warm_up(handle: Any, workload: DbPerfWorkload, items_per_leaf: float) -> None:
    """Reads one item of every 8th leaf page, so that the run starts with a warm cache without the false steady
    state a sequential scan gives (thesis section 6.4)."""
    space = workload.space
    for i in range(0, space.items, _warm_stride(items_per_leaf)):
        a, rest = divmod(i, B_SLOTS * C_SLOTS)
        handle.db.get(space.key(a, *divmod(rest, C_SLOTS)))


def _warm_stride(items_per_leaf: float) -> int:
    return max(1, int(8 * items_per_leaf))


def _sample(prev: dict[str, float], now: dict[str, float], dt: float) -> dict[str, float]:
    """One sample from two snapshots of the cumulative counters: per-second throughput, per-transaction counters."""
    d = {k: now[k] - prev.get(k, 0.0) for k in now}
    commits = max(d["commits"], 1.0)
    return {
        "tps": d["commits"] / dt,
        "misses": d["mpool.cache_miss"] / commits,
        "faults": d["rusage.majflt"] / commits,
        "dirty_evicts": d["mpool.rw_evict"] / commits,
        "commits": d["commits"],
    }


def run_mix(
    workload: DbPerfWorkload,
    instance: EngineInstance,
    *,
    duration_s: float,
    on_sample: Callable[[float], None] | None = None,
) -> DbPerfResult:
    """Runs ``workload`` until steady state (or ``duration_s``) and reports the last window.

    Raises:
        ClientFailedError: A transaction thread failed (its error in the message).
    """
    from raytune.engines._berkeleydb import counters

    with instance.connect() as handle:
        layout = layout_facts(handle, workload.space.items, workload.space.large_items)
        _warm_up(handle, workload, layout["items_per_leaf"])
        driver = _Driver(workload, handle, layout)
        samples: list[dict[str, float]] = []
        prev = {**{k: float(v) for k, v in counters(handle.env).items()}, **driver.totals()}  # type: ignore[arg-type]
        snapshots = [prev]  # counters before each sample, and after the last
        marks = [[0] * len(driver.counters)]  # latencies recorded before each sample, and after the last
        t_start = last = time.perf_counter()
        driver.start()
        try:
            while True:
                time.sleep(max(0.0, last + SAMPLE_S - time.perf_counter()))
                if driver.errors:
                    _raise_failure(driver.errors[0])
                now_t = time.perf_counter()
                marks.append([len(c.latency_ms) for c in driver.counters])
                now = {**{k: float(v) for k, v in counters(handle.env).items()}, **driver.totals()}  # type: ignore[arg-type]
                sample, prev = _sample(prev, now, now_t - last), now
                last = now_t
                samples.append(sample)
                snapshots.append(prev)
                if on_sample:
                    on_sample(sample["tps"])
                if _all_stable(samples) or now_t - t_start >= duration_s:
                    break
        finally:
            stuck = driver.finish()
        if stuck:
            raise EngineError(
                f"{len(stuck)} dbperf threads did not stop within {JOIN_TIMEOUT_S:.0f}s of the run's end"
            )
    first = len(samples) - min(WINDOW, len(samples))
    latencies = driver.latencies_between(marks[first], marks[-1])
    tail = (percentile(latencies, 95), percentile(latencies, 99)) if latencies else (None, None)
    return _result(workload, samples, snapshots, tail, layout, time.perf_counter() - t_start)


def run_native(
    workload: DbPerfWorkload,
    instance: EngineInstance,
    *,
    duration_s: float,
    on_sample: Callable[[float], None] | None = None,
) -> DbPerfResult:
    """:func:`run_mix` with the native client: the same mix, samples and steady-state stop, with the
    transaction threads in a C process (``raytune.workloads._dbperf_native``).

    Raises:
        ClientFailedError: A transaction failed with a Berkeley DB error (its message).
    """
    from raytune.workloads._dbperf_native import running

    with instance.connect() as handle:
        layout = layout_facts(handle, workload.space.items, workload.space.large_items)
        rmw = handle.rmw
    with instance.released() as env, running({**env, **_native_settings(workload, layout, rmw)}) as client:
        snapshots = [client.next_sample()]
        snapshots[0].pop("latency_us")
        samples: list[dict[str, float]] = []
        histograms: list[list[list[float]]] = []
        while True:
            now = client.next_sample()
            histograms.append(now.pop("latency_us"))
            samples.append(_sample(snapshots[-1], now, now["elapsed"] - snapshots[-1]["elapsed"]))
            snapshots.append(now)
            if on_sample:
                on_sample(samples[-1]["tps"])
            if _all_stable(samples) or now["elapsed"] >= duration_s:
                break
        client.stop()
    window = histograms[len(histograms) - min(WINDOW, len(histograms)) :]
    tail = (histogram_percentile(window, 95), histogram_percentile(window, 99))
    result = _result(workload, samples, snapshots, tail, layout, snapshots[-1]["elapsed"])
    metrics = {k: v - snapshots[0][k] for k, v in snapshots[-1].items() if k.split(".")[0] in ENV_SOURCES}
    return replace(result, metrics=metrics)


def _native_settings(workload: DbPerfWorkload, layout: dict[str, float], rmw: bool) -> dict[str, object]:
    """What the native client needs to draw the mix's transactions (the environment's settings come apart)."""
    mix = _Mix(workload, rmw)  # the probabilities the Python threads draw with
    return {
        "sample_ms": round(1000 * SAMPLE_S),
        "threads": workload.mix.concurrency,
        "seed": workload.seed,
        "a_slots": mix.a_slots,
        "local": mix.local,
        "rmw": int(mix.rmw),
        "overflow_large": int(layout["overflow_large"]),
        "overflow_small": int(layout["overflow_small"]),
        "items_per_leaf": layout["items_per_leaf"],
        "warm_stride": _warm_stride(layout["items_per_leaf"]),
        "items": workload.space.items,
        "p_cursor": mix.p_cursor,
        "p_update": mix.p_update,
        "p_write": mix.p_write,
        "p_large": mix.p_large,
        "items_curs": mix.items_curs,
        "items_non_curs": mix.items_non_curs,
        "cpus": client_cpu_list(workload.client_cpus),
    }


def client_cpu_list(n: int | None) -> str:
    """The last ``n`` of the CPUs this process may use (a slot's, when it is confined), as the native client's
    ``cpus=`` setting; ``all`` for None or when ``n`` covers them all."""
    allowed = sorted(os.sched_getaffinity(0))
    return "all" if n is None or n >= len(allowed) else ",".join(str(c) for c in allowed[-n:])


def histogram_percentile(histograms: list[list[list[float]]], q: float) -> float | None:
    """The ``q``-th percentile in ms of latencies counted in 1% buckets (``[lower bound in us, count]`` pairs),
    each bucket taken at its middle."""
    counts: dict[float, float] = {}
    for histogram in histograms:
        for lower, n in histogram:
            counts[lower] = counts.get(lower, 0.0) + n
    total = sum(counts.values())
    if not total:
        return None
    seen = 0.0
    for lower in sorted(counts):
        seen += counts[lower]
        if seen >= total * q / 100:
            return lower * 1.005 / 1000
    return None


def _raise_failure(exc: BaseException) -> None:
    """A Berkeley DB error ends the run as the configuration's failure; anything else is a bug and propagates."""
    from berkeleydb import db

    if isinstance(exc, db.DBError):
        message = exc.args[-1] if exc.args else type(exc).__name__
        raise ClientFailedError(f"dbperf transaction failed: {type(exc).__name__}: {message}") from exc
    raise exc


def _all_stable(samples: list[dict[str, float]]) -> bool:
    if len(samples) < WINDOW:
        return False
    return all(detect_steady_state([s[v] for s in samples], WINDOW).stable for v in MONITORED)


def _result(
    workload: DbPerfWorkload,
    samples: list[dict[str, float]],
    snapshots: list[dict[str, float]],
    tail_ms: tuple[float | None, float | None],
    layout: dict[str, float],
    elapsed: float,
) -> DbPerfResult:
    window = min(WINDOW, len(samples))
    first = len(samples) - window
    d = {k: snapshots[-1][k] - snapshots[first][k] for k in snapshots[-1]}
    commits = max(d["commits"], 1.0)
    tps = [s["tps"] for s in samples]
    steady = detect_steady_state(tps, WINDOW)
    per_txn = {
        "leaves": d["leaves"] / commits,
        "overflows": d["overflow_items"] / commits,
        "items_read": d["items_read"] / commits,
        "items_written": d["items_written"] / commits,
        "page_gets": (d["mpool.cache_hit"] + d["mpool.cache_miss"]) / commits,
        "misses": d["mpool.cache_miss"] / commits,
        "dirty_evicts": d["mpool.rw_evict"] / commits,
        "faults": d["rusage.majflt"] / commits,
        "block_reads": d["rusage.inblock"] / commits,
        "waits": d["lock.lock_wait"] / commits,
        "deadlocks": d["lock.ndeadlocks"] / commits,
        "retries": d["retries"] / commits,
        "lock_requests": d["lock.nrequests"] / commits,
    }
    oltp = OltpResult(
        throughput_tps=statistics.fmean(tps[first:]),
        p95_ms=tail_ms[0],
        p99_ms=tail_ms[1],
        samples_tps=tuple(tps),
        steady=steady,
        duration_s=round(elapsed),
        warmup_s=0,
        clients=workload.mix.concurrency,
    )
    return DbPerfResult(oltp, {**per_txn, **{f"layout.{k}": v for k, v in layout.items()}})
