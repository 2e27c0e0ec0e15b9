#!/usr/bin/env python3
"""A latency-injecting, request-counting HTTP proxy in front of an S3 server (moto).

Every request waits --latency-ms before it is forwarded unchanged (method, raw path and query,
headers, body), so a store on loopback behaves like one a network away. Requests are counted by
operation, as the benchmark reports them:

  GET ?cors -> get, PUT ?cors -> put, DELETE ?cors -> delete, anything else -> other

`GET /__bench/stats` (not forwarded; no bucket can be named `__bench`) returns JSON:
  {"counts": {"get": n, ...}, "status": {"get 200": n, ...},
   "upstream_ms": {"get": {"n":..,"mean":..,"sum":..,"p50":..,"p90":..,"p99":..,"max":..}, ...},
   "total_ms": {...}, "latency_ms": L, "in_flight": n, "max_in_flight": n,
   "first_request": {"get": epoch seconds, ...}, "last_request": {...}}
upstream_ms is the time the upstream server took (without the injected latency); total_ms is
what the client saw (injected latency + upstream + proxy overhead).

Usage: s3proxy.py --listen 127.0.0.1:0 --upstream http://127.0.0.1:PORT --latency-ms 20
       [--port-file FILE]   (the bound port is written there once listening)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter, defaultdict

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from yarl import URL

# Headers that belong to one hop and must not be forwarded (RFC 9110 section 7.6.1), plus the
# ones aiohttp computes itself from the body it sends.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


def operation(method: str, query: str) -> str:
    """The benchmark's operation name of a request."""
    keys = {part.split("=", 1)[0] for part in query.split("&") if part}
    if "cors" in keys:
        return {"GET": "get", "PUT": "put", "DELETE": "delete"}.get(method, "other")
    return "other"


def summary(samples: list[float]) -> dict[str, float]:
    """n and nearest-rank percentiles of a list of milliseconds."""
    if not samples:
        return {"n": 0}
    s = sorted(samples)

    def pct(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))], 3)

    return {
        "n": len(s),
        "mean": round(sum(s) / len(s), 3),
        "sum": round(sum(s), 3),
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": round(s[-1], 3),
    }


class Proxy:
    def __init__(self, upstream: str, latency_ms: float) -> None:
        self.upstream = upstream.rstrip("/")
        self.latency = latency_ms / 1000.0
        self.latency_ms = latency_ms
        self.counts: Counter[str] = Counter()
        self.status: Counter[str] = Counter()
        self.upstream_ms: defaultdict[str, list[float]] = defaultdict(list)
        self.total_ms: defaultdict[str, list[float]] = defaultdict(list)
        self.in_flight = 0
        self.max_in_flight = 0
        # Wall-clock time (epoch seconds) of the first and the last request, by operation.
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.session: ClientSession | None = None

    async def start(self, _app: web.Application) -> None:
        # No pool limit: the proxy must not become the bottleneck it is measuring.
        self.session = ClientSession(
            connector=TCPConnector(limit=0, force_close=False),
            timeout=ClientTimeout(total=120),
            auto_decompress=False,
        )

    async def stop(self, _app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def stats(self, _request: web.Request) -> web.Response:
        body = {
            "counts": dict(self.counts),
            "status": dict(self.status),
            "upstream_ms": {op: summary(v) for op, v in self.upstream_ms.items()},
            "total_ms": {op: summary(v) for op, v in self.total_ms.items()},
            "latency_ms": self.latency_ms,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "first_request": self.first,
            "last_request": self.last,
        }
        return web.json_response(body)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        op = operation(request.method, request.query_string)
        now = time.time()
        self.first.setdefault(op, now)
        self.last[op] = now
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.read()
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            assert self.session is not None
            sent = time.monotonic()
            async with self.session.request(
                request.method,
                URL(self.upstream + request.raw_path, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                skip_auto_headers=("Content-Type", "User-Agent", "Accept", "Accept-Encoding"),
            ) as upstream:
                payload = await upstream.read()
                self.upstream_ms[op].append((time.monotonic() - sent) * 1000.0)
                out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                response = web.Response(status=upstream.status, headers=out_headers, body=payload)
            self.counts[op] += 1
            self.status[f"{op} {upstream.status}"] += 1
            return response
        except Exception as err:  # a proxy failure must show as one, not as an S3 answer
            self.counts[op] += 1
            self.status[f"{op} proxy-error"] += 1
            return web.Response(status=599, text=f"s3proxy: upstream failed: {type(err).__name__}: {err}")
        finally:
            self.in_flight -= 1
            self.total_ms[op].append((time.monotonic() - started) * 1000.0)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--port-file")
    args = ap.parse_args()

    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        print("s3proxy: listens on loopback only", file=sys.stderr)
        return 2
    proxy = Proxy(args.upstream, args.latency_ms)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.on_startup.append(proxy.start)
    app.on_cleanup.append(proxy.stop)
    app.router.add_get("/__bench/stats", proxy.stats)
    app.router.add_route("*", "/{tail:.*}", proxy.forward)

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(port), backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{bound}\n")
        os.replace(tmp, args.port_file)
    print(f"s3proxy: http://127.0.0.1:{bound} -> {args.upstream}, +{args.latency_ms} ms per request", flush=True)

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
