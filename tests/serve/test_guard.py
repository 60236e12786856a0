"""The token and body-size middleware in front of a plain ASGI app (pure logic: no Ray cluster, no server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from serve._guard import Guard


async def _echo(scope: dict, receive: Any, send: Any) -> None:
    message = await receive()
    body = json.dumps({"got": len(message.get("body", b""))}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _call(guard: Guard, path: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, dict]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "path": path, "headers": raw}
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_token_required_except_on_healthz() -> None:
    guard = Guard(_echo, token="t0k", max_body_bytes=100)
    assert _call(guard, "/v1/predict", {}, [b"{}"])[0] == 401
    assert _call(guard, "/v1/predict", {"Authorization": "Bearer nope"}, [b"{}"])[0] == 401
    assert _call(guard, "/v1/predict", {"Authorization": "Bearer t0k"}, [b"{}"]) == (200, {"got": 2})
    assert _call(guard, "/healthz", {}, [b""])[0] == 200
    assert _call(Guard(_echo, token=None, max_body_bytes=100), "/docs", {}, [b""])[0] == 200


def test_bodies_over_the_limit_get_413_whether_announced_or_streamed() -> None:
    guard = Guard(_echo, token=None, max_body_bytes=10)
    status, body = _call(guard, "/v1/predict", {"Content-Length": "11"}, [b"x" * 11])
    assert status == 413 and "over 10 bytes" in body["detail"]
    assert _call(guard, "/v1/predict", {}, [b"x" * 6, b"x" * 6])[0] == 413
    assert _call(guard, "/v1/predict", {}, [b"x" * 5, b"x" * 5]) == (200, {"got": 10})


def test_gets_and_open_paths_pass_unbuffered_and_slow_bodies_get_408(monkeypatch) -> None:
    import serve._guard as guard_module

    guard = Guard(_echo, token=None, max_body_bytes=10)
    assert (
        _call(guard, "/healthz", {"Content-Length": "999"}, [b"x" * 5])[0] == 200
    )  # open path: not read here
    monkeypatch.setattr(guard_module, "BODY_TIMEOUT_S", 0.05)
    scope = {"type": "http", "path": "/v1/predict", "method": "POST", "headers": []}
    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(1)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    assert sent[0]["status"] == 408 and "took over" in json.loads(sent[1]["body"])["detail"]
