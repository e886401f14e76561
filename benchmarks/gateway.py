#!/usr/bin/env python3
"""AI gateway benchmark: editors streaming over WebSockets from one daphne process.

    .venv/bin/python benchmarks/gateway.py                    # sweep 50, 200, 1000 editors
    .venv/bin/python benchmarks/gateway.py --sweep 50,200     # fewer points

It builds everything in a temporary folder, as benchmarks/reader.py does: a private
redis-server, a migrated SQLite database with the demo accounts, the site under
deploy/scripts/serve.py (one daphne process) and the Ollama simulator (tests/engine_simulator.py)
as its own process on loopback at 20 tokens per second. Then it measures:

- time to first token when calling the simulator directly, and through the site (p50, p99);
  the difference is what the site adds;
- the delay between chunks as the editor sees it, against the simulator's own pace (p50, p99),
  both when called directly and as the simulator kept it during the point (it notes when each
  token left it);
- the largest number of concurrent streams held with zero errors;
- memory per open stream (the daphne process's resident memory while streaming, over idle);
- upstream requests made for 100 editors asking the identical thing at once.

The WebSocket client is a small one over asyncio streams (text frames only), so that 1,000
clients fit beside the server on a 2-core machine. Every process it starts is stopped at the end.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reader  # the shared process helpers of the reader benchmark

TOKENS_PER_SECOND = 20
REPLY_WORDS = 40  # about 2 s of text at 20 tokens per second
STREAM_SECONDS = REPLY_WORDS / TOKENS_PER_SECOND
SWEEP = (50, 200, 1000)
BURST = (200,)
# Generations each editor runs back to back in a steady point.
ROUNDS = 2
# Editors opening their pages at once, and the pause between the last one and the first generation.
CONNECTS_AT_ONCE = 50
SETTLE_SECONDS = 1.0
RUN_LIMIT_SECONDS = 480
IDENTICAL_EDITORS = 100


@dataclass
class StreamResult:
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    error: str = ""


class WebSocket:
    """Just enough of RFC 6455 for JSON text messages from a client."""

    def __init__(self, reader_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader_
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str, *, cookie: str) -> "WebSocket":
        stream_reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            ).encode()
        )
        head = await stream_reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        return cls(stream_reader, writer)

    async def send_json(self, data: dict) -> None:
        payload = json.dumps(data).encode()
        mask = os.urandom(4)
        length = len(payload)
        header = bytes([0x81]) + (
            bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack("!H", length)
        )
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def receive_json(self) -> dict:
        while True:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError(f"closed by the server: {payload[:2].hex()}")
            if opcode == 0x1:
                return orjson.loads(payload)  # thousands of frames a second beside the server

    def close(self) -> None:
        self.writer.close()


async def generate(socket: WebSocket, *, text: str, request_id: str, action: str = "draft") -> StreamResult:
    """One generation on an open socket: its time to first token and the gaps between its chunks."""
    result = StreamResult()
    try:
        message = {
            "type": "generate",
            "request_id": request_id,
            "action": action,
            "text": text,
            "options": {"title": text},
        }
        started = time.monotonic()
        await socket.send_json(message)
        last = None
        while True:
            event = await asyncio.wait_for(socket.receive_json(), 30)
            if event.get("request_id") != request_id:
                continue
            now = time.monotonic()
            if event["type"] == "chunk":
                if last is None:
                    result.ttft = now - started
                else:
                    result.gaps.append(now - last)
                last = now
            elif event["type"] == "error":
                result.error = event["code"]
                return result
            elif event["type"] == "done":
                return result
    except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as error:
        result.error = type(error).__name__
        return result


async def editor(port: int, cookie: str, *, text: str, action: str = "draft") -> StreamResult:
    """An editor who opens the page and generates at once (warm-up, identical requests)."""
    try:
        socket = await WebSocket.connect(port, "/ws/aiwriter/", cookie=cookie)
    except (OSError, ConnectionError, asyncio.IncompleteReadError) as error:
        return StreamResult(error=f"connect: {error}")
    try:
        return await generate(socket, text=text, request_id="b1", action=action)
    finally:
        socket.close()


async def direct(port: int, *, text: str) -> StreamResult:
    """The same generation straight from the simulator (raw HTTP/1.1, like the site's pooled client)."""
    result = StreamResult()
    body = json.dumps({"model": "llama3.2:1b", "messages": [{"role": "user", "content": text}], "stream": True})
    stream_reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        started = time.monotonic()
        writer.write(
            f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        last = None
        while True:
            line = await stream_reader.readline()
            if not line:
                return result
            now = time.monotonic()
            if b'"content":"' in line and b'"content":""' not in line:
                if last is None:
                    result.ttft = now - started
                else:
                    result.gaps.append(now - last)
                last = now
            if b'"done":true' in line:
                return result
    finally:
        writer.close()


def pinned_cores() -> tuple[set[int] | None, set[int] | None]:
    """The site's cores and the load's: the last core for the load, as if it ran on another machine."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("--pin needs at least 2 cores; running unpinned", flush=True)
        return None, None
    return set(cores[:-1]), {cores[-1]}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def upstream_chat_requests(log: Path) -> int:
    return sum(1 for line in log.read_text(errors="replace").splitlines() if "POST /api/chat" in line)


def author_cookie(env: dict) -> str:
    script = (
        "from django.contrib.auth import get_user_model; from django.test import Client; c = Client();"
        "u = get_user_model().objects.filter(groups__name='Author').order_by('pk').first();"
        "c.force_login(u); print(c.cookies['sessionid'].value)"
    )
    result = reader.manage("shell", "-c", script, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"could not sign an author in:\n{result.stderr[-2000:]}")
    return f"sessionid={result.stdout.strip().splitlines()[-1]}"


def staggered(count: int, *, seed: int) -> list[float]:
    """When each of `count` editors starts its first generation: spread evenly over one stream's length,
    so that about `count` streams are open at any moment from the first second on."""
    rng = random.Random(seed)
    return [rng.uniform(0, STREAM_SECONDS) for _ in range(count)]


async def direct_editor(port: int, *, name: str, offset: float) -> list[StreamResult]:
    await asyncio.sleep(offset)
    return [await direct(port, text=f"{name} round {n}") for n in range(ROUNDS)]


async def site_editor(
    socket: WebSocket, *, name: str, offset: float, burst: asyncio.Event | None
) -> list[StreamResult]:
    if burst is not None:
        await burst.wait()
    else:
        await asyncio.sleep(offset)
    rounds = 1 if burst is not None else ROUNDS
    return [await generate(socket, text=f"{name} round {n}", request_id=f"r{n}") for n in range(rounds)]


async def connect_all(port: int, cookie: str, count: int) -> tuple[list[WebSocket], list[float], list[str]]:
    """Opens `count` editor sockets, at most CONNECTS_AT_ONCE at a time, as editors opening their pages."""
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def one() -> tuple[WebSocket | None, float, str]:
        async with gate:
            started = time.monotonic()
            try:
                socket = await asyncio.wait_for(WebSocket.connect(port, "/ws/aiwriter/", cookie=cookie), 30)
            except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as error:
                return None, 0.0, f"connect: {type(error).__name__}"
            return socket, time.monotonic() - started, ""

    opened = await asyncio.gather(*(one() for _ in range(count)))
    return [s for s, _, _ in opened if s is not None], [t for s, t, _ in opened if s], [e for _, _, e in opened if e]


def summary(results: list[StreamResult]) -> dict:
    ttfts = [r.ttft for r in results if r.ttft is not None]
    gaps = [gap for r in results for gap in r.gaps]
    errors = [r.error for r in results if r.error]
    return {
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "ttft_p50_ms": percentile(ttfts, 0.5) * 1000,
        "ttft_p99_ms": percentile(ttfts, 0.99) * 1000,
        "gap_p50_ms": percentile(gaps, 0.5) * 1000,
        "gap_p99_ms": percentile(gaps, 0.99) * 1000,
    }


async def sweep_point(port: int, cookie: str, count: int, server: reader.Server, *, burst: bool) -> dict:
    """`count` editors connect, then keep `count` streams open (or, with burst, all ask at the same instant)."""
    pids = server.pids()
    idle = sum(rss_kib(pid) for pid in pids)
    sockets, connect_times, connect_errors = await connect_all(port, cookie, count)
    await asyncio.sleep(SETTLE_SECONDS)
    peak = sum(rss_kib(pid) for pid in pids)
    start = asyncio.Event() if burst else None
    offsets = staggered(len(sockets), seed=count)
    tasks = [
        asyncio.create_task(site_editor(socket, name=f"Editor {count}-{n}", offset=offset, burst=start))
        for n, (socket, offset) in enumerate(zip(sockets, offsets, strict=True))
    ]
    cpu_before, streaming_since = server.cpu_seconds(), time.monotonic()
    if start is not None:
        start.set()
    while not all(task.done() for task in tasks):
        await asyncio.sleep(0.25)
        peak = max(peak, sum(rss_kib(pid) for pid in pids))
    cpu_after, streaming_for = server.cpu_seconds(), time.monotonic() - streaming_since
    for socket in sockets:
        socket.close()
    results = [result for task in tasks for result in task.result()]
    point = summary(results)
    point["streaming"] = (streaming_since, streaming_since + streaming_for)
    point["errors"] += len(connect_errors)
    point["error_kinds"] = sorted(set(point["error_kinds"]) | set(connect_errors))[:5]
    point["streams"] = count
    point["connect_p50_ms"] = percentile(connect_times, 0.5) * 1000
    point["connect_p99_ms"] = percentile(connect_times, 0.99) * 1000
    point["kib_per_stream"] = (peak - idle) / count
    cpu = cpu_after - cpu_before if None not in (cpu_before, cpu_after) else float("nan")
    point["cpu_percent"] = cpu / streaming_for * 100
    # Per generation, the CPU compares code even when the points' lengths differ (a faster start ends sooner).
    point["cpu_ms_per_generation"] = cpu * 1000 / max(len(results), 1)
    return point


async def direct_point(sim_port: int, count: int, *, burst: bool) -> dict:
    if burst:
        results = await asyncio.gather(*(direct(sim_port, text=f"Direct {count}-{n}") for n in range(count)))
    else:
        offsets = staggered(count, seed=count)
        rounds = await asyncio.gather(
            *(direct_editor(sim_port, name=f"Direct {count}-{n}", offset=offset) for n, offset in enumerate(offsets))
        )
        results = [result for editor_results in rounds for result in editor_results]
    return summary(results)


def simulator_pace(timings: Path, since: float, until: float) -> dict:
    """The simulator's own time to first token and gaps, for the responses it began in [since, until]."""
    ttfts, gaps = [], []
    for line in timings.read_text().splitlines():
        response = json.loads(line)
        if since <= response["received"] <= until:
            pieces = response["pieces"]
            ttfts.append(pieces[0] - response["received"])
            gaps += [later - earlier for earlier, later in zip(pieces, pieces[1:], strict=False)]
    return {
        "ttft_p50_ms": percentile(ttfts, 0.5) * 1000,
        "ttft_p99_ms": percentile(ttfts, 0.99) * 1000,
        "gap_p50_ms": percentile(gaps, 0.5) * 1000,
        "gap_p99_ms": percentile(gaps, 0.99) * 1000,
    }


async def measure(
    args: argparse.Namespace, *, port: int, sim_port: int, cookie: str, server: reader.Server, log: Path, timings: Path
):
    # Warm-up: the first generations pay for imports, connections and prompt lookups.
    await asyncio.gather(*(editor(port, cookie, text=f"Warm-up {n}") for n in range(10)))
    # First, while nothing else runs: the simulator logs a request when it ends, so stragglers would count.
    await asyncio.sleep(0.5)
    before = upstream_chat_requests(log)
    results = await asyncio.gather(
        *(
            editor(port, cookie, text="One identical body about tea.", action="summarize")
            for _ in range(IDENTICAL_EDITORS)
        )
    )
    await asyncio.sleep(0.5)
    errors = sum(1 for r in results if r.error)
    print(
        f"{IDENTICAL_EDITORS} identical concurrent requests: {upstream_chat_requests(log) - before} upstream "
        f"request(s), {errors} errors",
        flush=True,
    )
    held = 0
    print(
        "mode       streams  errors  connect p50/p99 ms  TTFT p50/p99 ms  added p50/p99 ms  gap p50/p99 ms"
        "  KiB/stream  server CPU %  CPU ms/gen",
        flush=True,
    )
    points = [(count, False) for count in args.sweep] + [(count, True) for count in args.burst]
    for count, burst in points:
        mode = "burst" if burst else "steady"
        base = await direct_point(sim_port, count, burst=burst)
        print(
            f"  simulator direct, {mode}, {count} streams: TTFT p50 {base['ttft_p50_ms']:.1f} ms, "
            f"p99 {base['ttft_p99_ms']:.1f} ms; gap between tokens p50 {base['gap_p50_ms']:.1f} ms, "
            f"p99 {base['gap_p99_ms']:.1f} ms",
            flush=True,
        )
        point = await sweep_point(port, cookie, count, server, burst=burst)
        added50 = point["ttft_p50_ms"] - base["ttft_p50_ms"]
        added99 = point["ttft_p99_ms"] - base["ttft_p99_ms"]
        print(
            f"{mode:8s} {count:7d}  {point['errors']:6d}  {point['connect_p50_ms']:7.1f}/{point['connect_p99_ms']:7.1f}"
            f"   {point['ttft_p50_ms']:6.1f}/{point['ttft_p99_ms']:6.1f}   {added50:6.1f}/{added99:6.1f}"
            f"     {point['gap_p50_ms']:6.1f}/{point['gap_p99_ms']:6.1f}  {point['kib_per_stream']:8.1f}"
            f"  {point['cpu_percent']:10.0f}  {point['cpu_ms_per_generation']:10.2f}"
            f"  {' '.join(point['error_kinds'])}",
            flush=True,
        )
        await asyncio.sleep(0.5)  # the simulator notes a response once it has ended
        own = simulator_pace(timings, *point["streaming"])
        print(
            f"  the simulator's own pace during it: request to first token p50 {own['ttft_p50_ms']:.1f} ms, "
            f"p99 {own['ttft_p99_ms']:.1f} ms; gap between tokens p50 {own['gap_p50_ms']:.1f} ms, "
            f"p99 {own['gap_p99_ms']:.1f} ms",
            flush=True,
        )
        if point["errors"] == 0 and not burst:
            held = max(held, count)
    print(f"largest number of concurrent streams held with zero errors: {held}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", default=",".join(map(str, SWEEP)), help="concurrent streams per steady point")
    parser.add_argument(
        "--burst", default=",".join(map(str, BURST)), help="editors asking at the same instant per burst point"
    )
    parser.add_argument("--workers", type=int, default=1, help="daphne processes serving the site")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the site on all cores but the last, and the editors, the simulator and Redis on the last",
    )
    parser.add_argument(
        "--harness-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the editors' client and the simulator (uvloop: they take less of the site's cores)",
    )
    args = parser.parse_args()
    args.sweep = [int(value) for value in args.sweep.split(",") if value.strip()]
    args.burst = [int(value) for value in args.burst.split(",") if value.strip()]
    signal.signal(signal.SIGALRM, reader._run_limit_reached)
    signal.alarm(RUN_LIMIT_SECONDS)
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as folder:
        workdir = Path(folder)
        processes = reader.Processes(workdir)
        try:
            server_cores, client_cores = pinned_cores() if args.pin else (None, None)
            if client_cores:
                os.sched_setaffinity(0, client_cores)  # this process and what it starts, but the site
            redis_url = reader.start_redis(processes, workdir)
            sim_port = reader.free_port()
            sim_url = f"http://127.0.0.1:{sim_port}"
            reply = " ".join(f"word{n}" for n in range(REPLY_WORDS))
            timings = workdir / "simulator-timings.jsonl"
            simulator = processes.start(
                [
                    reader.PYTHON,
                    "-m",
                    "tests.engine_simulator",
                    "--port",
                    str(sim_port),
                    "--tps",
                    str(TOKENS_PER_SECOND),
                    "--first-token-delay",
                    "0",
                    "--num-parallel",
                    "4000",
                    "--max-queue",
                    "8000",
                    "--reply",
                    reply,
                    "--timings",
                    str(timings),
                    "-v",
                    *(["--uvloop"] if args.harness_loop == "uvloop" else []),
                ],
                env=os.environ.copy(),
            )
            log = workdir / f"process-{processes.started.index(simulator)}.log"
            env = reader.site_env(workdir, redis_url)
            env.update(
                OLLAMA_URLS=sim_url,
                AIWRITER_MAX_CONCURRENT_PER_USER="100000",
                AIWRITER_RATE_LIMIT="100000000",
                AIWRITER_MAX_IN_FLIGHT="5000",
                AIWRITER_MAX_IN_FLIGHT_PER_HOST="5000",
                AIWRITER_QUEUE_SIZE="5000",
                METRICS_ALLOWED_IPS="127.0.0.1",
            )
            reader.prepare_database(env)
            cookie = author_cookie(env)
            if server_cores:
                os.sched_setaffinity(0, server_cores)
            server = reader.start_server(
                processes, app="blogsite.asgi:application", workers=args.workers, env=env, workdir=workdir
            )
            if client_cores:
                os.sched_setaffinity(0, client_cores)
            reader.wait_for(server.url + "/healthz", timeout=30)
            reader.wait_for(sim_url + "/api/version", timeout=10)
            port = int(server.url.rsplit(":", 1)[1])
            print(
                f"machine: {os.cpu_count()} cores; simulator at {TOKENS_PER_SECOND} tokens/s, "
                f"{REPLY_WORDS}-word replies; {args.workers} daphne process(es)",
                flush=True,
            )
            if server_cores:
                print(
                    f"pinned: the site on cores {sorted(server_cores)}; editors, simulator and Redis on "
                    f"{sorted(client_cores)}",
                    flush=True,
                )
            with asyncio.Runner(
                loop_factory=uvloop.new_event_loop if args.harness_loop == "uvloop" else None
            ) as runner:
                runner.run(
                    measure(args, port=port, sim_port=sim_port, cookie=cookie, server=server, log=log, timings=timings)
                )
        finally:
            processes.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
