"""Driver-side Tune callbacks: every reported trial goes to the Parquet store; errored trials release leases."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.tune import Callback
from ray.tune.stopper import Stopper

from raytune.records import TrialRecord, TrialStatus
from raytune.storage import TrialStore
from raytune.tune._pool import POOL_NAMESPACE

logger = logging.getLogger(__name__)


def write_record(
    store: TrialStore,
    record: TrialRecord,
    *,
    score: float | None,
    optimizer: str,
    given: dict[str, Any] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Appends one trial's record to the store and tells ``on_record`` (the progress bar).

    ``given`` holds the labels of a given configuration: ``baseline`` (default, rules), ``confirms`` and
    ``round`` (confirmation runs).
    """
    given = given or {}
    store.append(
        record,
        score=score,
        optimizer=optimizer,
        baseline=given.get("baseline"),
        confirms=given.get("confirms"),
        round_=given.get("round"),
    )
    if on_record:
        on_record(
            {
                "trial_id": record.trial_id,
                "status": record.status.value,
                "objective": record.objective,
                "score": score,
                "baseline": given.get("baseline"),
                "confirms": given.get("confirms"),
            }
        )


class StopOnBug(Stopper):
    """Stops the whole experiment once a trial failed with anything but an infrastructure failure (a bug)."""

    def __init__(self) -> None:
        self.bug: str | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.bug is not None


class RecordWriter(Callback):
    """Appends each trial's record to ``trials.parquet`` and tells ``on_record`` (the progress bar)."""

    def __init__(
        self,
        results_dir: Path,
        pool_name: str,
        optimizer: str,
        engine: str,
        on_record: Callable[[dict[str, Any]], None] | None = None,
        stopper: StopOnBug | None = None,
    ) -> None:
        self.stopper = stopper
        self.engine = engine
        self.results_dir = Path(results_dir)
        self.pool_name = pool_name
        self.optimizer = optimizer
        self.on_record = on_record

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks into its experiment state; the progress hook belongs to this process only.
        return {**self.__dict__, "on_record": None}

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        if "record" not in result:
            return
        record = TrialRecord.from_dict(json.loads(result["record"]))
        write_record(
            TrialStore(self.results_dir),
            record,
            score=result.get("score"),
            optimizer=self.optimizer,
            given=result,
            on_record=self.on_record,
        )

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        try:
            pool = ray.get_actor(self.pool_name, namespace=POOL_NAMESPACE)
            ray.get(pool.release.remote(trial.trial_id), timeout=30)
        except Exception:  # noqa: BLE001 - the TTL reclaims the lease otherwise
            logger.warning("could not release the lease of errored trial %s", trial.trial_id)
        try:
            text = str(trial.get_error() or "")
        except Exception:  # noqa: BLE001 - the error file may be missing
            text = ""
        text = text or "the trial raised an error in Ray"
        error = ([ln.strip() for ln in text.splitlines() if ln.strip()] or ["unknown error"])[-1]
        if self.stopper is not None and "InfraError" not in text:
            self.stopper.bug = error  # a bug: no further trial starts
        # Never a config's fault: an infrastructure failure that persisted, or a bug (the search stops on it).
        record = TrialRecord(trial_id=trial.trial_id, engine=self.engine).fail(
            f"trial errored in Ray: {error}", status=TrialStatus.INFRA_ERROR
        )
        write_record(
            TrialStore(self.results_dir),
            record,
            score=None,
            optimizer=self.optimizer,
            on_record=self.on_record,
        )
