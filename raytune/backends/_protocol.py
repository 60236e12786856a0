"""What every trial backend is: something that measures one configuration and returns its trial record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from raytune.records import TrialRecord


@runtime_checkable
class TrialBackend(Protocol):
    """Measures configurations for a search.

    ``measure`` returns the trial's record with its status (SUCCEEDED or the reason it failed) and objective;
    the search scores it, writes it to the store and tells the optimizer. ``name`` goes into the record's
    ``instance`` field so that a record says where its number came from.
    """

    name: str

    def measure(self, config: Mapping[str, Any], trial_id: str) -> TrialRecord:
        """Measures ``config`` (knob -> value, native units; ``{}`` is the default) as trial ``trial_id``."""
        ...

    def close(self) -> None:
        """Frees what the backend holds (servers, models)."""
        ...
