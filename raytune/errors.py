"""Errors that carry a one-line, user-facing message naming the problem and the fix."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
        crashed: Whether the server died or would not start under it (else it refused a value).
    """

    def __init__(self, message: str, log_tail: str = "", *, crashed: bool = False) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.crashed = crashed


class InfraError(KnobrayError):
    """knobray or the machine failed (a lost actor, a full disk, a server that will not start with its defaults):
    not the configuration's fault, so it is retried and never scored as a bad configuration."""


# What the machine or knobray's own set-up can raise around a trial, as opposed to a bug. A server error outside
# a configuration's application and measurement (it will not start with the defaults) counts too.
INFRA_ERRORS: tuple[type[BaseException], ...] = (InfraError, WorkloadError, EngineError, OSError)
