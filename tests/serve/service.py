"""A real knobray service (``python -m serve``: local Ray, Ray Serve, the shipped models) on a free loopback
port, for the slow tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from serve._process import REPO, ServiceProcess

__all__ = ["REPO", "Service"]


class Service(ServiceProcess):
    """The service, with a token file when ``token`` is given, and a JSON request helper."""

    def __init__(self, *args: str, token: str | None = None, token_dir: Path | None = None) -> None:
        self.token = token
        if token is not None:
            assert token_dir is not None
            (token_dir / "token").write_text(token + "\n")
            args = (*args, "--token-file", str(token_dir / "token"))
        super().__init__(*args)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        raw: bytes | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body); ``token=""`` sends the service's own token, None sends none."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        bearer = self.token if token == "" else token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, dict(reply.headers), _decode(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), _decode(exc.read())


def _decode(body: bytes) -> Any:
    """JSON, or the text itself (Serve's proxy answers its own 503 in plain text)."""
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode(errors="replace")
