"""A small asyncio HTTP/1.1 load generator (keep-alive connections, no dependencies).

Python HTTP clients cost more per request than the servers measured here; this one writes
pre-built requests on raw sockets and reads ``Content-Length`` bodies, so the server stays the
bottleneck. Loopback only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Result:
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(p / 100 * len(data)))]


def build_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def closed_loop(port: int, requests: Sequence[bytes], *, connections: int) -> Result:
    """As fast as possible: each connection sends its next request when the last one is answered."""
    result = Result()
    queue = iter(requests)

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in queue:
            started = time.perf_counter()
            status = await _one(reader, writer, request)
            result.latencies.append(time.perf_counter() - started)
            if status < 300:
                result.ok += 1
            else:
                result.errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result


async def open_loop(port: int, requests: Sequence[bytes], *, rate: float, connections: int) -> Result:
    """A fixed arrival rate; latency counts from the scheduled send time (no coordinated omission)."""
    result = Result()
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    start = time.perf_counter()

    async def send(i: int, request: bytes) -> None:
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()
        try:
            status = await _one(*conn, request)
        finally:
            pool.put_nowait(conn)
        result.latencies.append(time.perf_counter() - scheduled)
        if status < 300:
            result.ok += 1
        else:
            result.errors += 1

    await asyncio.gather(*(send(i, r) for i, r in enumerate(requests)))
    result.elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait()[1].close()
    return result
