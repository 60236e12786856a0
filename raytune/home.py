"""Where knobray keeps its state: generated data, golden data dirs, knob catalogs, instances."""

from __future__ import annotations

import os
from pathlib import Path


def knobray_home() -> Path:
    """``$KNOBRAY_HOME``, else ``/var/tmp/knobray`` as root (the server user must reach it), else
    ``~/.cache/knobray``."""
    env = os.environ.get("KNOBRAY_HOME")
    if env:
        return Path(env)
    return Path("/var/tmp/knobray") if os.getuid() == 0 else Path.home() / ".cache" / "knobray"


def ensure_home() -> Path:
    """Creates knobray's home (traversable by the server user when running as root) and returns it."""
    home = knobray_home()
    home.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        os.chmod(home, 0o755)
    return home
