"""Errors that carry a one-line, user-facing message naming the problem and the fix."""

from __future__ import annotations


class KnobrayError(Exception):
    """Base class: ``str(err)`` is a single line meant for the user."""


class KnobError(KnobrayError):
    """A knob name, value or type is invalid for the knob space."""


class WorkloadError(KnobrayError):
    """A workload is unknown, malformed or cannot be prepared."""


class EngineError(KnobrayError):
    """A server cannot be installed, started, reached or configured."""


class ConfigRejectedError(EngineError):
    """The server rejected a configuration; the instance was restored to its last good one.

    Attributes:
        log_tail: The last lines of the server log when the configuration failed.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail
