"""Enforcing a slot: CPU affinity always, cpuset and memory cgroups where the machine lets us create them.

The process that owns an instance (a Ray actor: it runs the trial's Python client and starts the server and the
benchmark clients) confines itself; every process it starts afterwards inherits the confinement, so the server,
its backends and pgbench/sysbench all stay on the slot's CPUs and inside its memory limit.

cgroup v1 (one hierarchy per controller) and v2 (one unified hierarchy) are both handled. Groups are created
below the cgroup this process already belongs to, under ``knobray/<name>``, so a sandbox's own limits still
apply. Where a controller is missing or read-only the record says so (``memory: "not enforced: ..."``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from raytune.slots._shape import Slot

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_PARENT = "knobray"
SWEEP_MIN_AGE_S = 60.0


@dataclass(frozen=True)
class Confinement:
    """What confining a process to a slot achieved.

    Attributes:
        cpu_set: The CPUs the process (and what it starts) may run on.
        cpu: How the CPU set is enforced: ``cgroup v1``, ``cgroup v2`` or ``affinity``.
        memory: ``cgroup v1``/``cgroup v2`` with the limit, or ``not enforced: <reason>``.
        groups: The cgroup directories the process was moved into.
    """

    cpu_set: tuple[int, ...]
    cpu: str
    memory: str
    groups: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"cpu_set": list(self.cpu_set), "cpu": self.cpu, "memory": self.memory}


def _cpu_list(cpus: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in cpus)


def _own_path(controller: str) -> str | None:
    """This process's cgroup path in ``controller``'s v1 hierarchy (``""`` key: the v2 one), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            # A process already in a slot's group is placed relative to the group it came from.
            parts = path.split("/")
            return "/".join(parts[: parts.index(GROUP_PARENT)]) if GROUP_PARENT in parts else path
    return None


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _join(directory: Path, pid: int) -> None:
    _write(directory / "cgroup.procs", str(pid))


def _v1_cpuset(name: str, cpus: tuple[int, ...], pid: int) -> Path:
    base = CGROUP_ROOT / "cpuset"
    own = _own_path("cpuset")
    if own is None or not (base / "cpuset.cpus").exists():
        raise OSError("no cgroup v1 cpuset hierarchy")
    parent = base / own.lstrip("/") / GROUP_PARENT
    group = parent / name
    for directory in (parent, group):
        directory.mkdir(exist_ok=True)
        # A new cpuset starts empty: it takes its CPUs and memory nodes before any task may join.
        mems = (directory.parent / "cpuset.mems").read_text().strip()
        if not (directory / "cpuset.mems").read_text().strip():
            _write(directory / "cpuset.mems", mems)
        if directory is parent and not (directory / "cpuset.cpus").read_text().strip():
            _write(directory / "cpuset.cpus", (directory.parent / "cpuset.cpus").read_text().strip())
    _write(group / "cpuset.cpus", _cpu_list(cpus))
    _join(group, pid)
    return group


def _v1_memory(name: str, limit: int, pid: int) -> Path:
    base = CGROUP_ROOT / "memory"
    own = _own_path("memory")
    if own is None or not (base / "memory.limit_in_bytes").exists():
        raise OSError("no cgroup v1 memory hierarchy")
    group = base / own.lstrip("/") / GROUP_PARENT / name
    group.mkdir(parents=True, exist_ok=True)
    _write(group / "memory.limit_in_bytes", str(limit))
    _join(group, pid)
    return group


def _v2_root() -> Path:
    """The unified (v2) hierarchy: the cgroup root itself on a pure v2 host, ``unified/`` on a hybrid one."""
    return CGROUP_ROOT if (CGROUP_ROOT / "cgroup.controllers").exists() else CGROUP_ROOT / "unified"


def _v2_group(name: str, cpus: tuple[int, ...], limit: int, pid: int) -> tuple[Path, bool, bool]:
    own = _own_path("")
    unified = _v2_root()
    if own is None or not (unified / "cgroup.controllers").exists():
        raise OSError("no cgroup v2 hierarchy")
    parent = unified / own.lstrip("/") / GROUP_PARENT
    parent.mkdir(exist_ok=True)
    available = set((parent / "cgroup.controllers").read_text().split())
    wanted = [c for c in ("cpuset", "memory") if c in available]
    if wanted:
        _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
    group = parent / name
    group.mkdir(exist_ok=True)
    has_cpuset = "cpuset" in wanted and (group / "cpuset.cpus").exists()
    has_memory = "memory" in wanted and (group / "memory.max").exists()
    if has_cpuset:
        _write(group / "cpuset.cpus", _cpu_list(cpus))
    if has_memory:
        _write(group / "memory.max", str(limit))
    if not (has_cpuset or has_memory):
        raise OSError("cgroup v2 offers neither cpuset nor memory here")
    _join(group, pid)
    return group, has_cpuset, has_memory


def pin_process(pid: int, cpus: tuple[int, ...]) -> None:
    """Sets the CPU affinity of every thread of ``pid`` (Linux affinity is per thread)."""
    tasks = Path(f"/proc/{pid}/task")
    tids = [int(t.name) for t in tasks.iterdir()] if tasks.exists() else [pid]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:
            continue  # a thread that ended meanwhile


def confine_process(slot: Slot, name: str, pid: int | None = None) -> Confinement:
    """Confines process ``pid`` (default: this one) and whatever it starts later to ``slot``.

    Affinity is always set; cgroups are used where they can be created, and what could not be enforced is named
    in the result rather than raised: a machine without writable cgroups still runs, with the shape stated.
    """
    pid = pid or os.getpid()
    cpus = slot.cpu_set
    groups: list[str] = []
    cpu_mode, memory_mode = "affinity", "not enforced: no writable memory cgroup"
    try:
        groups.append(str(_v1_cpuset(name, cpus, pid)))
        cpu_mode = "cgroup v1"
    except OSError as exc:
        logger.debug("no v1 cpuset for slot %s: %s", name, exc)
    try:
        groups.append(str(_v1_memory(name, slot.shape.memory_bytes, pid)))
        memory_mode = f"cgroup v1, limit {slot.shape.memory_bytes} bytes"
    except OSError as exc:
        logger.debug("no v1 memory cgroup for slot %s: %s", name, exc)
    if cpu_mode == "affinity" or memory_mode.startswith("not"):
        try:
            group, has_cpuset, has_memory = _v2_group(name, cpus, slot.shape.memory_bytes, pid)
            groups.append(str(group))
            cpu_mode = "cgroup v2" if has_cpuset and cpu_mode == "affinity" else cpu_mode
            if has_memory and memory_mode.startswith("not"):
                memory_mode = f"cgroup v2, limit {slot.shape.memory_bytes} bytes"
        except OSError as exc:
            logger.debug("no v2 cgroup for slot %s: %s", name, exc)
    # Affinity last: a process still in another slot's cpuset may not be given CPUs outside that set.
    pin_process(pid, cpus)
    logger.debug(
        "slot %s: pid %d on CPUs %s (%s), memory %s", name, pid, _cpu_list(cpus), cpu_mode, memory_mode
    )
    return Confinement(cpu_set=cpus, cpu=cpu_mode, memory=memory_mode, groups=tuple(groups))


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (as /proc lists them now)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:
                continue  # the task ended meanwhile
    return out


def confine_tree(slot: Slot, name: str, root_pid: int | None = None) -> Confinement:
    """Confines ``root_pid`` (default: this process) and all its descendants, e.g. a server started earlier in
    another slot, to ``slot``. Processes they start afterwards inherit it."""
    root_pid = root_pid or os.getpid()
    result = confine_process(slot, name, root_pid)
    for _ in range(2):  # a second pass catches a process forked while the first one ran
        for pid in process_tree(root_pid)[1:]:
            try:
                confine_process(slot, name, pid)
            except (ProcessLookupError, FileNotFoundError):
                continue  # it ended meanwhile
    return result


def sweep_empty_groups(min_age_s: float = SWEEP_MIN_AGE_S) -> int:
    """Removes empty ``knobray/*`` cgroups left by owners that died; returns how many went."""
    removed = 0
    for controller, key in (("cpuset", "cpuset"), ("memory", "memory"), ("unified", "")):
        own = _own_path(key)
        base = CGROUP_ROOT / controller if controller != "unified" else _v2_root()
        if own is None or not base.exists():
            continue
        parent = base / own.lstrip("/") / GROUP_PARENT
        if not parent.is_dir():
            continue
        # Deepest first, so that a group whose children went can go too. Another search may sweep or create
        # groups at the same time: vanished entries are skipped, and a group younger than a minute may be one an
        # actor has just made and not joined yet.
        for dirpath, _, _ in os.walk(parent, topdown=False):
            group = Path(dirpath)
            if group == parent:
                continue
            try:
                if time.time() - group.stat().st_ctime < min_age_s:
                    continue
                os.rmdir(group)
                removed += 1
            except OSError:
                pass  # it still has processes, or it went meanwhile
    return removed


def cpus_allowed(pid: int) -> tuple[int, ...]:
    """The CPUs process ``pid`` may run on, as the kernel reports them."""
    return tuple(sorted(os.sched_getaffinity(pid)))
