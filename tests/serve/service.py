"""A real knobray service (``python -m serve``: local Ray, Ray Serve, the shipped models) on a free loopback
port, for the slow tests."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from serve._process import REPO, ServiceProcess

__all__ = ["REPO", "SPARK_PLANS", "Service"]

# Two TPC-DS-like queries as Spark EXPLAIN EXTENDED prints them (the layout LakeHelm's plans come in).
SPARK_PLANS = [
    """== Optimized Logical Plan ==
Project [ws_order_number#5968L, ws_sales_price#5972, rank#5951]
+- Window [rank(ws_sales_price#5972) windowspecdefinition(ws_ship_mode_sk#5965, ws_sales_price#5972 DESC NULLS LAST)], [ws_ship_mode_sk#5965]
   +- Project [ws_order_number#5968L, ws_sales_price#5972, ws_ship_mode_sk#5965]
      +- Filter (isnotnull(ws_sales_price#5972) AND (ws_sales_price#5972 > 150.00))
         +- RelationV2[ws_ship_mode_sk#5965, ws_order_number#5968L, ws_sales_price#5972] spark_catalog.tpcds.web_sales
""",
    """== Optimized Logical Plan ==
Aggregate [ss_store_sk#1], [ss_store_sk#1, sum(ss_net_paid#2) AS total#3]
+- Project [ss_store_sk#1, ss_net_paid#2]
   +- Join Inner, (ss_sold_date_sk#4 = d_date_sk#5)
      :- Filter isnotnull(ss_sold_date_sk#4)
      :  +- RelationV2[ss_store_sk#1, ss_net_paid#2, ss_sold_date_sk#4] spark_catalog.tpcds.store_sales
      +- Filter ((isnotnull(d_year#6) AND (d_year#6 = 2001)) AND isnotnull(d_date_sk#5))
         +- RelationV2[d_date_sk#5, d_year#6] spark_catalog.tpcds.date_dim
""",
]


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
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=self._headers(token)
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, dict(reply.headers), _decode(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), _decode(exc.read())

    def _headers(self, token: str | None = "") -> dict[str, str]:
        """The JSON content type and the bearer token (``""``: the service's own; None: none)."""
        bearer = self.token if token == "" else token
        return {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {bearer}"} if bearer else {}),
        }

    def announce_body(self, path: str, length: int, *, timeout: float = 60) -> tuple[int, Any]:
        """(status, JSON body) of a POST whose headers announce ``length`` bytes and whose body is never sent:
        a server that rejects a body by its declared size answers without reading it and closes the connection,
        so a client still sending a large body could see the connection reset before the answer."""
        url = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        try:
            conn.putrequest("POST", path)
            for name, value in {**self._headers(), "Content-Length": str(length)}.items():
                conn.putheader(name, value)
            conn.endheaders()
            reply = conn.getresponse()
            return reply.status, _decode(reply.read())
        finally:
            conn.close()


def _decode(body: bytes) -> Any:
    """JSON, or the text itself (Serve's proxy answers its own 503 in plain text)."""
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode(errors="replace")
