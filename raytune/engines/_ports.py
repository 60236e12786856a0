"""Free loopback ports for new instances.

A server keeps its port across restarts, and between its stop and its start the port is free for anyone. Ray
workers (and every client connection) take ports from the kernel's ephemeral range, so a server port from that
range can be taken by a Ray worker while the server restarts, after which the server never starts again
("Address already in use"; seen in a benchmark where 16 of 20 trials of one instance failed). Ports are
therefore drawn from below the ephemeral range, where the kernel never hands out a port by itself.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Above the well-known and registered ports most services use (Ray's own: 6379, 8265, 10001).
LOWEST_PORT = 20000
_TRIES = 200
_RANDOM = random.SystemRandom()  # not the seeded global generator: two processes must not draw the same ports


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux's default where it cannot be read)."""
    try:
        low, high = (int(v) for v in path.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def server_port_range(ephemeral: tuple[int, int] | None = None) -> range:
    """Ports to draw server ports from: below the ephemeral range, else above it, else empty."""
    low, high = ephemeral or ephemeral_range()
    if low - LOWEST_PORT >= 1000:
        return range(LOWEST_PORT, low)
    if 65535 - high >= 1000:
        return range(high + 1, 65536)
    return range(0)


def _bind(port: int, *, reuse_addr: bool = False) -> int | None:
    """The port bound on 127.0.0.1 (0: the kernel picks), or None where it is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if reuse_addr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
        return int(sock.getsockname()[1])


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that is free now and outside the kernel's ephemeral range."""
    candidates = server_port_range()
    for _ in range(_TRIES if len(candidates) else 0):
        port = _bind(_RANDOM.choice(candidates))
        if port is not None:
            return port
    # No room outside the ephemeral range (an unusual kernel setting): let the kernel pick.
    port = _bind(0)
    if port is None:
        raise OSError("no free TCP port on 127.0.0.1")
    return port


def port_is_taken(port: int) -> bool:
    """Whether a server could not bind ``port`` on 127.0.0.1 now because another socket holds it.

    Binds as PostgreSQL and MariaDB do (``SO_REUSEADDR``), so connections of a stopped server that linger in
    TIME_WAIT do not count: only a listener or another process's bound socket does.
    """
    return _bind(port, reuse_addr=True) is None
