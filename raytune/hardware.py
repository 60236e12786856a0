"""Detection of the hardware that knob bounds and rule-based configs are relative to."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hardware:
    """What a tuned server may use.

    Attributes:
        cores: Logical CPUs available to this process.
        ram_bytes: Physical memory in bytes.
        ssd: Whether the data disk is non-rotational.
    """

    cores: int
    ram_bytes: int
    ssd: bool = True

    @property
    def ram_mb(self) -> int:
        return self.ram_bytes // (1024 * 1024)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _detect_ram_bytes() -> int:
    pages = os.sysconf("SC_PHYS_PAGES")
    page_size = os.sysconf("SC_PAGE_SIZE")
    return int(pages * page_size)


def _detect_ssd() -> bool:
    # Any rotational block device makes us conservative; virtual disks report 0.
    flags = list(Path("/sys/block").glob("*/queue/rotational"))
    return not any(f.read_text().strip() == "1" for f in flags if not f.parent.parent.name.startswith("loop"))


def detect_hardware() -> Hardware:
    """Detects cores, RAM and disk type of this machine (overridable with KNOBRAY_CORES / KNOBRAY_RAM_MB)."""
    cores = int(os.environ.get("KNOBRAY_CORES", len(os.sched_getaffinity(0))))
    ram_mb = os.environ.get("KNOBRAY_RAM_MB")
    ram = int(ram_mb) * 1024 * 1024 if ram_mb else _detect_ram_bytes()
    return Hardware(cores=cores, ram_bytes=ram, ssd=_detect_ssd())
