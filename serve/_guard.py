"""ASGI middleware in front of every endpoint: the bearer token (all but ``/healthz``), the body size limit and a
deadline for the body to arrive (a slow upload cannot hold a slot), each answered before any parsing, with a
JSON ``{"detail": ...}`` body."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
OPEN_PATHS = frozenset({"/healthz"})
BODY_TIMEOUT_S = 10.0


async def send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Rejects a request without the token (401) or with a body over ``max_body_bytes`` (413)."""

    def __init__(self, app: Any, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.expected is not None and scope.get("path") not in OPEN_PATHS:
            if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                await send_json(
                    send, 401, "missing or wrong bearer token; send the header Authorization: Bearer <token>",
                    {"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
                return
        if scope.get("method") in ("GET", "HEAD") or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)  # no body of interest: never buffered
            return
        too_big = f"request body over {self.max_body_bytes} bytes; send a smaller workload or fewer configs"
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await send_json(send, 413, too_big)
            return
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                size, more = 0, True
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        await self.app(scope, _replay([message]), send)
                        return
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                    more = message.get("more_body", False)
                    if size > self.max_body_bytes:
                        await send_json(send, 413, too_big)
                        return
        except TimeoutError:
            await send_json(
                send, 408, f"the request body took over {BODY_TIMEOUT_S:.0f} s to arrive; send it at once"
            )
            return
        body = b"".join(chunks)
        await self.app(
            scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send
        )


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that hands out ``messages``, then defers to ``then`` (e.g. for the disconnect)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
