"""Server ports come from outside the kernel's ephemeral range, where Ray workers and clients take theirs."""

from __future__ import annotations

import socket
from pathlib import Path

from raytune.engines._ports import ephemeral_range, free_port, server_port_range


def test_server_ports_avoid_the_ephemeral_range() -> None:
    assert server_port_range((32768, 60999)) == range(20000, 32768)
    assert server_port_range((10000, 50000)) == range(50001, 65536)
    assert len(server_port_range((1024, 65000))) == 0


def test_free_port_is_bindable_and_not_ephemeral() -> None:
    low, high = ephemeral_range()
    ports = {free_port() for _ in range(20)}
    assert len(ports) > 1  # drawn at random, so concurrent instances rarely race for one port
    for port in ports:
        assert not low <= port <= high
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_unreadable_range_falls_back_to_linux_default(tmp_path: Path) -> None:
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)
    bad = tmp_path / "range"
    bad.write_text("not numbers")
    assert ephemeral_range(bad) == (32768, 60999)
