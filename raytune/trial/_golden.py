"""Golden data directories: each (engine build, workload data) is loaded once, then cloned to instances."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import time
from pathlib import Path

from raytune.engines import create_instance, engine_class
from raytune.workloads import Workload

logger = logging.getLogger(__name__)


class GoldenStore:
    """Loaded, cleanly stopped data directories under ``root``, one per (engine build, workload data key)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, engine: str, workload: Workload, bin_dir: Path | None = None) -> Path:
        cls = engine_class(engine)
        version = cls.binary_version(bin_dir)
        build = hashlib.sha256(f"{cls._resolve_bin_dir(bin_dir).resolve()}|{version}".encode()).hexdigest()[
            :10
        ]
        match = re.search(r"\d+(?:\.\d+)+", version)
        version_slug = match.group(0) if match else "unknown"
        return (
            self.root / f"{engine}-{version_slug}-{build}" / f"{workload.data_key()}-db-{workload.database}"
        )

    def ensure(self, engine: str, workload: Workload, bin_dir: Path | None = None) -> Path:
        """The golden data dir for ``workload`` on ``engine``, building it (once, under a lock) if missing."""
        home = self.path_for(engine, workload, bin_dir)
        data, marker = home / "data", home / ".complete"
        if marker.exists():
            return data
        home.mkdir(parents=True, exist_ok=True)
        for parent in [home, *home.parents]:
            if parent == self.root.parent:
                break
            os.chmod(parent, 0o755)
        with open(home / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not marker.exists():
                self._build(engine, workload, bin_dir, home)
        return data

    def _build(self, engine: str, workload: Workload, bin_dir: Path | None, home: Path) -> None:
        t0 = time.perf_counter()
        build_root = home / "build"
        shutil.rmtree(build_root, ignore_errors=True)
        instance = create_instance(engine, build_root, bin_dir=bin_dir)
        try:
            instance.start()
            workload.load(instance)
        finally:
            instance.stop()
        shutil.rmtree(home / "data", ignore_errors=True)
        os.replace(build_root / "data", home / "data")
        instance.destroy()
        (home / ".complete").write_text(f"built in {time.perf_counter() - t0:.1f}s\n")
        logger.info("golden %s for %s built in %.1fs", engine, workload.data_key(), time.perf_counter() - t0)
