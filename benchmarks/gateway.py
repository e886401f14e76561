#!/usr/bin/env python3
"""AI gateway benchmark: what the site adds to a generation's first token, and its CPU per generation.

    .venv/bin/python benchmarks/gateway.py                                   # this checkout only
    .venv/bin/python benchmarks/gateway.py --before /tmp/before \\
        --litellm /tmp/litellm-venv/bin/litellm                              # side by side, about 14 min
    .venv/bin/python benchmarks/gateway.py --points sse-burst-200 --rounds 1 # one point

Each target gets its own folder, its own engine simulator (Ollama's API at 20 tokens per second,
first token 50 ms after the request) and, for a site, its own redis-server and migrated SQLite
database with the demo accounts, served by one daphne process under deploy/scripts/serve.py:

- after: this checkout;
- before: another checkout of the project (`--before`, e.g. a `git worktree`), with its own
  simulator from that checkout;
- litellm: LiteLLM's proxy (`--litellm`, its command) configured by benchmarks/litellm_config.yaml,
  streamed through its OpenAI-compatible `/v1/chat/completions`;
- direct: the simulator itself (its NDJSON), for what the client and loopback add on their own.

One client streams from every target: aiohttp on uvloop, over WebSockets (`/ws/aiwriter/`) and over
Server-Sent Events (`POST /aiwriter/stream/`, or LiteLLM's endpoint). Rounds alternate the targets
point by point. "Added" time to first token is the target's p50 (p99) minus the simulator's own p50
(p99), from request received to first token sent, as the simulator noted them for the same point.
CPU per generation is the target's whole process tree (the launcher and daphne, or LiteLLM).
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reader  # the shared process helpers of the reader benchmark

BASE_DIR = reader.BASE_DIR
TOKENS_PER_SECOND = 20
REPLY_WORDS = 40  # about 2 s of text at 20 tokens per second
STREAM_SECONDS = REPLY_WORDS / TOKENS_PER_SECOND
MODEL = "llama3.2:1b"
POINTS = "ws-1,ws-50,ws-200,sse-1,sse-50,sse-200,sse-burst-200,ws-connect-200"  # the measurement points
ROUNDS = 3
GENERATIONS_PER_EDITOR = 2  # back to back in a steady point
GENERATIONS_ALONE = 8  # for the one-stream points, so that each round has more than two samples
CONNECTS_AT_ONCE = 50  # editors opening their pages before a steady point
IDLE_SECONDS = 4  # each target's CPU while nothing is asked of it, after its warm-up
RUN_LIMIT_SECONDS = 1500
LITELLM_CONFIG = BASE_DIR / "benchmarks" / "litellm_config.yaml"
# uvicorn's access log off, as daphne's is (`-v 0`): a line per request is not the gateway's work.
LITELLM_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"uvicorn": {"level": "WARNING"}, "uvicorn.access": {"level": "WARNING", "propagate": False}},
}


@dataclass
class StreamResult:
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    error: str = ""


@dataclass
class Target:
    name: str
    url: str
    root_pid: int
    timings: Path
    model: str = MODEL
    cookie: str = ""  # a signed-in author's session and a CSRF token (sites)
    csrf: str = ""
    redis_pid: int | None = None
    idle_cpu_ms_per_second: float = float("nan")

    @property
    def kind(self) -> str:
        return {"before": "site", "after": "site"}.get(self.name, self.name)

    def pids(self) -> list[int]:
        return process_tree(self.root_pid)

    def cpu_seconds(self) -> float:
        return sum(process_cpu(pid) for pid in self.pids())

    def redis_cpu_seconds(self) -> float:
        return process_cpu(self.redis_pid) if self.redis_pid else 0.0


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


_texts = itertools.count()


def fresh_text() -> str:
    """A prompt no earlier generation used: the sites' response cache must never answer."""
    return f"Benchmark draft {next(_texts)} {random.random():.12f}"


# The streaming client: one for every target.


def site_message(text: str, request_id: str) -> dict:
    return {"type": "generate", "request_id": request_id, "action": "draft", "text": text, "options": {"title": text}}


def _note_piece(result: StreamResult, started: float, last: float | None) -> float:
    now = time.monotonic()
    if last is None:
        result.ttft = now - started
    else:
        result.gaps.append(now - last)
    return now


async def ws_generate(socket: aiohttp.ClientWebSocketResponse, *, text: str, request_id: str) -> StreamResult:
    """One generation on an open AI writer socket: its first chunk and the gaps between chunks."""
    result = StreamResult()
    try:
        started = time.monotonic()
        await socket.send_str(json.dumps(site_message(text, request_id)))
        last = None
        while True:
            message = await socket.receive(timeout=30)
            if message.type != aiohttp.WSMsgType.TEXT:
                result.error = f"socket {message.type.name.lower()}"
                return result
            event = orjson.loads(message.data)
            if event.get("request_id") != request_id:
                continue
            if event["type"] == "chunk":
                last = _note_piece(result, started, last)
            elif event["type"] == "error":
                result.error = event["code"]
                return result
            elif event["type"] == "done":
                return result
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        result.error = type(error).__name__
        return result


def http_request(target: Target, text: str) -> tuple[str, bytes, dict]:
    """The URL, body and headers of one streamed generation from the target."""
    messages = [{"role": "user", "content": text}]
    if target.kind == "site":
        headers = {"Cookie": target.cookie, "X-CSRFToken": target.csrf, "Origin": target.url}
        return target.url + "/aiwriter/stream/", orjson.dumps(site_message(text, "s1")), headers
    if target.kind == "litellm":
        body = {"model": target.model, "messages": messages, "stream": True}
        return target.url + "/v1/chat/completions", orjson.dumps(body), {}
    return target.url + "/api/chat", orjson.dumps({"model": MODEL, "messages": messages, "stream": True}), {}


def line_kind(line: bytes, target_kind: str) -> str:
    """'piece' for a line with text, 'done' at the end, an error's code, or '' for anything else."""
    if target_kind == "direct":  # Ollama's NDJSON
        message = orjson.loads(line)
        return "done" if message.get("done") else "piece" if message["message"]["content"] else ""
    if not line.startswith(b"data: "):
        return ""
    data = line[6:]
    if target_kind == "site":
        event = orjson.loads(data)
        kind = event["type"]
        return "piece" if kind == "chunk" else "done" if kind == "done" else event["code"] if kind == "error" else ""
    if data.strip() == b"[DONE]":
        return "done"
    chunk = orjson.loads(data)
    if "error" in chunk:
        return "upstream"
    choices = chunk.get("choices") or [{}]
    return "piece" if (choices[0].get("delta") or {}).get("content") else ""


async def http_generate(session: aiohttp.ClientSession, target: Target, *, text: str) -> StreamResult:
    """One generation streamed over HTTP: the site's Server-Sent Events, LiteLLM's, or the simulator's NDJSON."""
    result = StreamResult()
    url, body, headers = http_request(target, text)
    try:
        started = time.monotonic()
        async with session.post(url, data=body, headers=headers) as response:
            if response.status != 200:
                result.error = f"HTTP {response.status}"
                return result
            last = None
            async for line in response.content:
                kind = line_kind(line, target.kind) if line.strip() else ""
                if kind == "piece":
                    last = _note_piece(result, started, last)
                elif kind == "done":
                    return result
                elif kind:
                    result.error = kind
                    return result
            result.error = "ended early"
            return result
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        result.error = type(error).__name__
        return result


def client_session(*, fresh_connections: bool = False) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, force_close=fresh_connections)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=30)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar())


async def ws_connect(session: aiohttp.ClientSession, target: Target) -> aiohttp.ClientWebSocketResponse:
    headers = {"Cookie": target.cookie, "Origin": target.url}
    return await session.ws_connect(target.url + "/ws/aiwriter/", headers=headers, max_msg_size=0)


async def ws_open_many(
    session: aiohttp.ClientSession, target: Target, count: int, *, at_once: int
) -> tuple[list[aiohttp.ClientWebSocketResponse], list[float], list[str]]:
    """`count` editor sockets, at most `at_once` opening at a time; with the time each took, and errors."""
    gate = asyncio.Semaphore(at_once)

    async def one() -> tuple[aiohttp.ClientWebSocketResponse | None, float, str]:
        async with gate:
            started = time.monotonic()
            try:
                socket = await asyncio.wait_for(ws_connect(session, target), 30)
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                return None, 0.0, f"connect: {type(error).__name__}"
            return socket, time.monotonic() - started, ""

    opened = await asyncio.gather(*(one() for _ in range(count)))
    return [s for s, _, _ in opened if s], [t for s, t, _ in opened if s], [e for _, _, e in opened if e]


# Points.


@dataclass
class Sample:
    """One point for one target in one round."""

    results: list[StreamResult]
    own_ttfts: list[float]  # the simulator's own, for the requests it received during the point
    cpu_seconds: float
    redis_cpu_seconds: float
    seconds: float
    peak_threads: int = 0
    connect_times: list[float] = field(default_factory=list)
    extra_errors: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if r.error] + self.extra_errors


def staggered(count: int) -> list[float]:
    """Start times spread over one stream's length, so that about `count` streams are open from the first second."""
    return [random.uniform(0, STREAM_SECONDS) for _ in range(count)]


class Meter:
    """The target's CPU, threads and the wall time of a phase, and the simulator's own first tokens within it."""

    def __init__(self, target: Target):
        self.target = target
        self.cpu, self.redis = target.cpu_seconds(), target.redis_cpu_seconds()
        self.since = time.monotonic()
        self.peak_threads = 0
        self.watch = asyncio.get_running_loop().create_task(self._count_threads())

    async def _count_threads(self) -> None:
        while True:
            self.peak_threads = max(self.peak_threads, sum(thread_count(pid) for pid in self.target.pids()))
            await asyncio.sleep(0.05)

    async def sample(self, results: list[StreamResult], **extra) -> Sample:
        until = time.monotonic()
        self.watch.cancel()
        cpu = self.target.cpu_seconds() - self.cpu
        redis = self.target.redis_cpu_seconds() - self.redis
        await asyncio.sleep(0.5)  # the simulator notes a response once it has ended
        own = simulator_ttfts(self.target.timings, self.since, until)
        return Sample(results, own, cpu, redis, until - self.since, peak_threads=self.peak_threads, **extra)


def thread_count(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def simulator_ttfts(timings: Path, since: float, until: float) -> list[float]:
    ttfts = []
    for line in timings.read_text().splitlines():
        response = json.loads(line)
        if since <= response["received"] <= until and response["pieces"]:
            ttfts.append(response["pieces"][0] - response["received"])
    return ttfts


async def steady_ws(target: Target, streams: int) -> Sample:
    generations = GENERATIONS_ALONE if streams == 1 else GENERATIONS_PER_EDITOR
    async with client_session() as session:
        sockets, _, errors = await ws_open_many(session, target, streams, at_once=CONNECTS_AT_ONCE)
        await asyncio.sleep(0.5)

        async def editor(socket: aiohttp.ClientWebSocketResponse, offset: float) -> list[StreamResult]:
            await asyncio.sleep(offset)
            return [await ws_generate(socket, text=fresh_text(), request_id=f"r{n}") for n in range(generations)]

        meter = Meter(target)
        done = await asyncio.gather(*(editor(s, o) for s, o in zip(sockets, staggered(len(sockets)), strict=True)))
        sample = await meter.sample([r for rounds in done for r in rounds], extra_errors=errors)
        for socket in sockets:
            await socket.close()
    return sample


async def steady_sse(target: Target, streams: int) -> Sample:
    generations = GENERATIONS_ALONE if streams == 1 else GENERATIONS_PER_EDITOR
    async with client_session() as session:

        async def editor(offset: float) -> list[StreamResult]:
            await asyncio.sleep(offset)
            return [await http_generate(session, target, text=fresh_text()) for _ in range(generations)]

        meter = Meter(target)
        done = await asyncio.gather(*(editor(offset) for offset in staggered(streams)))
        return await meter.sample([r for rounds in done for r in rounds])


async def burst_sse(target: Target, count: int) -> Sample:
    """`count` new generations at the same instant, each a new request on a new connection."""
    async with client_session(fresh_connections=True) as session:
        go = asyncio.Event()

        async def one() -> StreamResult:
            await go.wait()
            return await http_generate(session, target, text=fresh_text())

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.sleep(0.1)  # every task waiting at the gate
        meter = Meter(target)
        go.set()
        return await meter.sample(list(await asyncio.gather(*tasks)))


async def burst_ws_connect(target: Target, count: int) -> Sample:
    """`count` AI writer sockets opened at the same instant: the time until all are connected."""
    async with client_session() as session:
        meter = Meter(target)
        sockets, times, errors = await ws_open_many(session, target, count, at_once=count)
        sample = await meter.sample([], connect_times=times, extra_errors=errors)
        for socket in sockets:
            await socket.close()
    return sample


async def run_point(point: str, target: Target) -> Sample:
    kind, count = point.rsplit("-", 1)
    measure = {"ws": steady_ws, "sse": steady_sse, "sse-burst": burst_sse, "ws-connect": burst_ws_connect}[kind]
    return await measure(target, int(count))


def point_applies(point: str, target: Target) -> bool:
    return target.kind == "site" or point.startswith("sse")


# Reporting.


def added(sample_results: list[StreamResult], own: list[float], q: float) -> float:
    ttfts = [r.ttft for r in sample_results if r.ttft is not None]
    return (percentile(ttfts, q) - percentile(own, q)) * 1000


def point_line(point: str, target: str, sample: Sample) -> str:
    generations = max(len(sample.results), 1)
    errors = Counter(sample.errors)
    if point.startswith("ws-connect"):
        each = [percentile(sample.connect_times, q) * 1000 for q in (0.5, 0.99)]
        return (
            f"{point:15s} {target:8s} errors {len(sample.errors):3d}  {len(sample.connect_times)} connected, every "
            f"attempt done in {sample.seconds * 1000:7.1f} ms  each p50/p99 {each[0]:6.1f}/{each[1]:6.1f} ms  "
            f"threads {sample.peak_threads:3d}  {dict(errors) or ''}"
        )
    ttfts = [r.ttft for r in sample.results if r.ttft is not None]
    gaps = [gap for r in sample.results for gap in r.gaps]
    cpu, redis = sample.cpu_seconds * 1000 / generations, sample.redis_cpu_seconds * 1000 / generations
    return (
        f"{point:15s} {target:8s} errors {len(sample.errors):3d}  TTFT p50/p99 {percentile(ttfts, 0.5) * 1000:6.1f}/"
        f"{percentile(ttfts, 0.99) * 1000:6.1f}  simulator {percentile(sample.own_ttfts, 0.5) * 1000:5.1f}/"
        f"{percentile(sample.own_ttfts, 0.99) * 1000:5.1f}  added {added(sample.results, sample.own_ttfts, 0.5):6.1f}/"
        f"{added(sample.results, sample.own_ttfts, 0.99):6.1f} ms  gap p99 {percentile(gaps, 0.99) * 1000:5.1f}  "
        f"CPU/gen {cpu:5.2f} ms (Redis {redis:4.2f})  threads {sample.peak_threads:3d}"
        f"  {dict(errors) or ''}"
    )


def summary_rows(samples: dict[tuple[str, str], list[Sample]]) -> list[dict]:
    """Every round of a point and target pooled; the per-round spread of the added p50 beside it."""
    rows = []
    for (point, target), runs in samples.items():
        results = [r for s in runs for r in s.results]
        own = [t for s in runs for t in s.own_ttfts]
        row = {"point": point, "target": target, "rounds": len(runs), "errors": sum(len(s.errors) for s in runs)}
        row["peak_threads"] = max(s.peak_threads for s in runs)
        if point.startswith("ws-connect"):
            row["all_connected_ms"] = [round(s.seconds * 1000, 1) for s in runs]
            row["all_connected_median_ms"] = statistics.median(row["all_connected_ms"])
        else:
            row["generations"] = len(results)
            row["added_p50_ms"] = added(results, own, 0.5)
            row["added_p99_ms"] = added(results, own, 0.99)
            row["added_p50_per_round_ms"] = [round(added(s.results, s.own_ttfts, 0.5), 1) for s in runs]
            row["simulator_p50_ms"] = percentile(own, 0.5) * 1000
            row["cpu_ms_per_generation"] = sum(s.cpu_seconds for s in runs) * 1000 / max(len(results), 1)
            row["redis_cpu_ms_per_generation"] = sum(s.redis_cpu_seconds for s in runs) * 1000 / max(len(results), 1)
        rows.append(row)
    return rows


def print_summary(rows: list[dict]) -> None:
    print("\npooled over the rounds:")
    for row in rows:
        if "all_connected_ms" in row:
            print(
                f"  {row['point']:15s} {row['target']:8s} every attempt done in (ms, each round) "
                f"{row['all_connected_ms']}"
                f"  median {row['all_connected_median_ms']:.1f}  threads {row['peak_threads']}  errors {row['errors']}"
            )
        else:
            print(
                f"  {row['point']:15s} {row['target']:8s} added TTFT p50 {row['added_p50_ms']:6.1f}  "
                f"p99 {row['added_p99_ms']:6.1f} ms (p50 per round {row['added_p50_per_round_ms']})  "
                f"CPU/gen {row['cpu_ms_per_generation']:5.2f} ms (Redis {row['redis_cpu_ms_per_generation']:4.2f})  "
                f"threads {row['peak_threads']}  generations {row['generations']}  errors {row['errors']}"
            )


# Profiles (py-spy), while the measured phase of a point runs.


class Profiler:
    def __init__(self, py_spy: str, folder: Path):
        self.py_spy, self.folder = py_spy, folder
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, target: Target, name: str) -> subprocess.Popen:
        output = self.folder / f"{name}-{target.name}.txt"
        # --gil: only the thread holding the interpreter lock, so the samples say where the CPU went.
        command = [self.py_spy, "record", "--pid", str(target.root_pid), "--subprocesses", "--gil", "--nonblocking"]
        command += ["--rate", "250", "--format", "raw", "--output", str(output)]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


GENERIC_FRAMES = tuple(
    f"({name})"
    for name in (
        "threading.py",
        "<frozen runpy>",
        "daphne/cli.py",
        "daphne/__main__.py",
        "daphne/server.py",
        "twisted/internet/asyncioreactor.py",
        "asyncio/base_events.py",
        "asyncio/events.py",
        "asyncio/runners.py",
        "concurrent/futures/thread.py",
        "uvicorn/main.py",
        "uvicorn/server.py",
        "click/core.py",
        "litellm/proxy/proxy_cli.py",
    )
)


def top_frames(raw: Path, count: int = 12) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From py-spy's raw (collapsed) stacks: the functions where samples were taken (self), and those they were
    under (inclusive), as shares of all samples; line numbers dropped, processes and threads left out."""
    own, under, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        parts = [part for part in stack.split(";") if not part.startswith(("process ", "thread "))]
        frames = [re.sub(r":\d+\)$", ")", part) for part in parts]
        if not frames:
            continue
        total += int(samples)
        own[frames[-1]] += int(samples)
        for frame in set(frames):
            under[frame] += int(samples)
    if not total:
        return [], []
    share = [(frame, n * 100 / total) for frame, n in own.most_common(count)]
    # The event loop, thread pools and start-up frames are under most samples and say nothing.
    inclusive = [(frame, n * 100 / total) for frame, n in under.most_common() if not frame.endswith(GENERIC_FRAMES)]
    return share, inclusive[:count]


def print_profiles(folder: Path) -> None:
    for raw in sorted(folder.glob("*.txt")):
        own, inclusive = top_frames(raw)
        print(f"\n{raw.name}")
        print("  self:      " + "; ".join(f"{frame} {share:.0f}%" for frame, share in own))
        print("  inclusive: " + "; ".join(f"{frame} {share:.0f}%" for frame, share in inclusive))


# Starting the targets.


def simulator_command(root: Path, *, port: int, timings: Path, dialect: str) -> list[str]:
    module = "tests.engine_simulator" if (root / "tests" / "engine_simulator.py").exists() else "tests.ollama_simulator"
    command = [reader.PYTHON, "-m", module, "--port", str(port), "--tps", str(TOKENS_PER_SECOND)]
    if dialect != "ollama":
        command += ["--dialect", dialect]
    reply = " ".join(f"word{n}" for n in range(REPLY_WORDS))
    command += ["--first-token-delay", "0", "--num-parallel", "4000", "--max-queue", "8000", "--reply", reply]
    return [*command, "--timings", str(timings), "--uvloop"]


def start_simulator(processes: reader.Processes, root: Path, folder: Path, *, dialect: str) -> tuple[str, Path]:
    port, timings = reader.free_port(), folder / "simulator-timings.jsonl"
    timings.touch()
    command = simulator_command(root, port=port, timings=timings, dialect=dialect)
    processes.start(command, env=os.environ.copy(), cwd=root)
    url = f"http://127.0.0.1:{port}"
    reader.wait_for(url + ("/api/version" if dialect == "ollama" else "/v1/models"), timeout=15)
    return url, timings


def author_cookie(env: dict, root: Path) -> str:
    script = (
        "from django.contrib.auth import get_user_model; from django.test import Client; c = Client();"
        "u = get_user_model().objects.filter(groups__name='Author').order_by('pk').first();"
        "c.force_login(u); print(c.cookies['sessionid'].value)"
    )
    result = reader.manage("shell", "-c", script, env=env, cwd=root)
    if result.returncode != 0:
        raise RuntimeError(f"could not sign an author in:\n{result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


def start_site(
    processes: reader.Processes, name: str, root: Path, workdir: Path, *, workers: int, dialect: str
) -> Target:
    folder = workdir / name
    folder.mkdir()
    engine_url, timings = start_simulator(processes, root, folder, dialect=dialect)
    redis_url = reader.start_redis(processes, folder)
    redis_pid = processes.started[-1].pid
    env = reader.site_env(folder, redis_url)
    backends = f"{dialect}={engine_url}" + ("/v1" if dialect == "openai" else "")
    # The checkout before AIWRITER_BACKENDS reads OLLAMA_URLS only.
    env.update({"AIWRITER_BACKENDS": backends} if dialect == "openai" else {"OLLAMA_URLS": engine_url})
    env.update(
        AIWRITER_DEFAULT_MODEL=MODEL,
        AIWRITER_MAX_CONCURRENT_PER_USER="100000",
        AIWRITER_RATE_LIMIT="100000000",
        AIWRITER_MAX_IN_FLIGHT="5000",
        AIWRITER_MAX_IN_FLIGHT_PER_HOST="5000",
        AIWRITER_QUEUE_SIZE="5000",
    )
    reader.prepare_database(env, cwd=root)
    session = author_cookie(env, root)
    csrf = "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))
    port = reader.free_port()
    command = [reader.PYTHON, str(root / "deploy/scripts/serve.py"), "--port", str(port), "--workers", str(workers)]
    command += ["--metrics-dir", str(folder / "prometheus"), "--", "-v", "0"]
    launcher = processes.start(command, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    reader.wait_for(url + "/healthz", timeout=60)
    cookie = f"sessionid={session}; csrftoken={csrf}"
    return Target(name, url, launcher.pid, timings, cookie=cookie, csrf=csrf, redis_pid=redis_pid)


def start_litellm(processes: reader.Processes, command: str, workdir: Path, *, workers: int, dialect: str) -> Target:
    folder = workdir / "litellm"
    folder.mkdir()
    engine_url, timings = start_simulator(processes, BASE_DIR, folder, dialect=dialect)
    logging_config = folder / "logging.json"
    logging_config.write_text(json.dumps(LITELLM_LOGGING))
    env = os.environ.copy()
    env.update(
        BENCHMARK_ENGINE_URL=engine_url + ("/v1" if dialect == "openai" else ""),
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no fetch of the price list from the internet at start
        LITELLM_LOG="ERROR",
    )
    port = reader.free_port()
    arguments = ["--config", str(LITELLM_CONFIG), "--host", "127.0.0.1", "--port", str(port)]
    arguments += ["--num_workers", str(workers), "--telemetry", "False", "--log_config", str(logging_config)]
    process = processes.start([command, *arguments], env=env, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    reader.wait_for(url + "/health/liveliness", timeout=120)
    return Target("litellm", url, process.pid, timings, model=f"benchmark-{dialect}")


def start_direct(processes: reader.Processes, workdir: Path) -> Target:
    """The simulator called with no gateway between: what the client and loopback add on their own."""
    folder = workdir / "direct"
    folder.mkdir()
    url, timings = start_simulator(processes, BASE_DIR, folder, dialect="ollama")
    return Target("direct", url, processes.started[-1].pid, timings)


# The run.


async def warm_up(target: Target) -> None:
    """The first generations pay for imports, connections and prompt lookups."""
    async with client_session() as session:
        results = await asyncio.gather(*(http_generate(session, target, text=fresh_text()) for _ in range(10)))
        if target.kind == "site":
            socket = await ws_connect(session, target)
            results += [await ws_generate(socket, text=fresh_text(), request_id=f"w{n}") for n in range(3)]
            await socket.close()
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{target.name} failed its warm-up: {Counter(errors)}")
    await asyncio.sleep(1.0)
    cpu, since = target.cpu_seconds(), time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)
    target.idle_cpu_ms_per_second = (target.cpu_seconds() - cpu) * 1000 / (time.monotonic() - since)


async def measure(args: argparse.Namespace, targets: list[Target], profiler: Profiler | None) -> list[dict]:
    for target in targets:
        await warm_up(target)
        print(f"{target.name}: CPU while idle {target.idle_cpu_ms_per_second:.1f} ms/s", flush=True)
    samples: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for round_number in range(args.rounds):
        print(f"\nround {round_number + 1} of {args.rounds}", flush=True)
        for index, point in enumerate(args.points):
            shift = (round_number + index) % len(targets)  # each target leads in turn
            for target in targets[shift:] + targets[:shift]:
                if not point_applies(point, target):
                    continue
                recording = profiler.start(target, f"{point}-round{round_number + 1}") if profiler else None
                sample = await run_point(point, target)
                if recording:
                    profiler.stop(recording)
                samples[(point, target.name)].append(sample)
                print(point_line(point, target.name, sample), flush=True)
                await asyncio.sleep(0.5)
    ordered = {key: samples[key] for key in sorted(samples, key=lambda k: (args.points.index(k[0]), k[1]))}
    return summary_rows(ordered)


def machine_line() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")
    load = os.getloadavg()[0]
    return f"machine: {os.cpu_count()} cores, {model}, Linux {os.uname().release}; load average {load:.2f} at start"


def _run_limit_reached(signum, frame) -> None:
    raise TimeoutError(f"the benchmark ran past its {RUN_LIMIT_SECONDS} s limit; every process is being stopped")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout of the project to measure beside this one")
    parser.add_argument("--litellm", help="LiteLLM's proxy command (its own virtualenv), to measure beside the site")
    parser.add_argument("--no-after", action="store_true", help="leave this checkout out")
    parser.add_argument("--no-direct", action="store_true", help="leave out the simulator called directly")
    parser.add_argument("--points", default=POINTS, help=f"comma-separated (default {POINTS})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds over every point and target")
    parser.add_argument("--workers", type=int, default=1, help="daphne processes per site, LiteLLM workers")
    parser.add_argument(
        "--dialect",
        choices=("ollama", "openai"),
        default="ollama",
        help="the simulator's API for this checkout and LiteLLM (the checkout before speaks Ollama's only)",
    )
    parser.add_argument("--py-spy", help="py-spy's command: record every target during every point")
    parser.add_argument("--profile-dir", type=Path, default=Path("gateway-profiles"), help="where profiles go")
    parser.add_argument("--json", type=Path, help="also write the pooled figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, databases) at the end")
    parser.add_argument("--summarize-profiles", type=Path, help="only print the top frames of the profiles in a folder")
    args = parser.parse_args()
    args.points = [point.strip() for point in args.points.split(",") if point.strip()]
    return args


def start_targets(args: argparse.Namespace, processes: reader.Processes, workdir: Path) -> list[Target]:
    targets = []
    if args.before:
        before = args.before.resolve()
        targets.append(start_site(processes, "before", before, workdir, workers=args.workers, dialect="ollama"))
    if not args.no_after:
        targets.append(start_site(processes, "after", BASE_DIR, workdir, workers=args.workers, dialect=args.dialect))
    if args.litellm:
        targets.append(start_litellm(processes, args.litellm, workdir, workers=args.workers, dialect=args.dialect))
    if not args.no_direct:
        targets.append(start_direct(processes, workdir))
    return targets


def main() -> int:
    args = parse_args()
    if args.summarize_profiles:
        print_profiles(args.summarize_profiles)
        return 0
    signal.signal(signal.SIGALRM, _run_limit_reached)
    signal.alarm(RUN_LIMIT_SECONDS)
    machine = machine_line()
    print(machine, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    processes = reader.Processes(workdir)
    try:
        targets = start_targets(args, processes, workdir)
        print(
            f"targets: {', '.join(t.name for t in targets)}, {args.workers} process(es) each; simulator at "
            f"{TOKENS_PER_SECOND} tokens/s, first token 50 ms after the request, {REPLY_WORDS}-word replies, "
            f"{args.dialect} dialect (before: ollama)",
            flush=True,
        )
        profiler = Profiler(args.py_spy, args.profile_dir) if args.py_spy else None
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            rows = runner.run(measure(args, targets, profiler))
        print_summary(rows)
        if args.json:
            idle = {target.name: target.idle_cpu_ms_per_second for target in targets}
            figures = {"machine": machine, "idle_cpu_ms_per_second": idle, "rows": rows}
            args.json.write_text(json.dumps(figures, indent=2))
        if profiler:
            print_profiles(args.profile_dir)
    finally:
        signal.alarm(0)
        processes.stop_all()
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
